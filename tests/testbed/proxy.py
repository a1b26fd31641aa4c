"""A loopback TCP proxy that adds a fixed delay, to put latency in front of one cluster.

TLS passes through untouched (the proxy sees only bytes), so a kubeconfig whose
server points at the proxy still verifies the apiserver's certificate.
"""

from __future__ import annotations

import queue
import socket
import threading
import time


class DelayProxy:
    def __init__(self, target_port: int, delay: float, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for s in list(self._sockets):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Every chunk leaves `delay` seconds after it arrived: latency, not a bandwidth limit.

        A reader queues chunks with their arrival time and a sender releases each when due, so a
        large response is late by one delay, not by one delay per chunk.
        """
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def send() -> None:
            try:
                while True:
                    due, data = chunks.get()
                    if not data:
                        break
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            while not self._closed.is_set():
                data = src.recv(65536)
                chunks.put((time.monotonic() + self.delay, data))
                if not data:
                    break
        except OSError:
            chunks.put((0.0, b""))
