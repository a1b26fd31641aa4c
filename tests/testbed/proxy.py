"""A loopback TCP proxy that adds a fixed delay, to put latency in front of one cluster.

TLS passes through untouched (the proxy sees only bytes), so a kubeconfig whose
server points at the proxy still verifies the apiserver's certificate.

It also plays the faults of a link: `hang()` keeps every connection open but forwards
nothing more (a cluster that stops answering), `fail_after(n)` lets n chunks from the server through
and then drops every connection and refuses new ones (a cluster that dies mid-run), and
`heal()` forwards again.
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
        self._forwarding = threading.Event()  # cleared while hung
        self._forwarding.set()
        self._down = False
        self._responses_left: int | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- faults ----------------------------------------------------------------------------------

    def hang(self) -> None:
        """Keep connections open, forward nothing: requests wait until their client gives up."""
        self._forwarding.clear()

    def fail_after(self, chunks: int) -> None:
        """Let `chunks` server-to-client chunks through, then drop everything and refuse new connections."""
        with self._lock:
            self._responses_left = chunks

    def heal(self) -> None:
        with self._lock:
            self._down = False
            self._responses_left = None
        self._forwarding.set()

    def _go_down(self) -> None:
        self._down = True
        for s in list(self._sockets):
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self._sockets.clear()

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
            if self._down:
                client.close()  # connection refused, as by a stopped apiserver
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, src is upstream), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
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
                    while not self._forwarding.wait(0.1):  # hung: hold it (the connection stays open)
                        if self._closed.is_set():
                            return
                    if self._down:
                        return
                    dst.sendall(data)
                    if from_server:
                        with self._lock:
                            if self._responses_left is not None:
                                self._responses_left -= 1
                                if self._responses_left <= 0:
                                    self._go_down()
            except OSError:
                pass
            finally:
                _shutdown(src, dst)

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


class Socks5Proxy:
    """A minimal SOCKS5 proxy on 127.0.0.1 (no auth, CONNECT only) that counts what it forwards.

    It connects only to loopback targets: nothing a test sends through it can leave the machine.
    """

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self.connects: list[tuple[str, int]] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self.port}"

    def __enter__(self) -> Socks5Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    @staticmethod
    def _read(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def _serve(self, client: socket.socket) -> None:
        import ipaddress
        import struct

        try:
            _, nmethods = self._read(client, 2)
            self._read(client, nmethods)
            client.sendall(b"\x05\x00")  # no authentication
            _, cmd, _, atyp = self._read(client, 4)
            if atyp == 1:
                host = socket.inet_ntoa(self._read(client, 4))
            elif atyp == 4:
                host = socket.inet_ntop(socket.AF_INET6, self._read(client, 16))
            else:
                host = self._read(client, self._read(client, 1)[0]).decode()
            (port,) = struct.unpack("!H", self._read(client, 2))
            if cmd != 1 or host not in ("localhost",) and not ipaddress.ip_address(host).is_loopback:
                client.sendall(b"\x05\x02\x00\x01" + b"\x00" * 6)  # not allowed
                client.close()
                return
            upstream = socket.create_connection((host, port), timeout=5)
            self.connects.append((host, port))
            client.sendall(b"\x05\x00\x00\x01" + b"\x00" * 6)
        except (OSError, ValueError):
            client.close()
            return
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(src, dst), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _shutdown(src, dst)


def _shutdown(*sockets: socket.socket) -> None:
    """Both directions closed, so the peer of each sees the end (already closed is fine)."""
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
