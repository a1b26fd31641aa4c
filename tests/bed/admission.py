"""A small TLS admission webhook on loopback for the bed's API servers to call.

It refuses (HTTP 503) the first `refuse_first` reviews, the way a webhook that is not up yet
fails the API server's call, then allows every review. The certificate is for 127.0.0.1,
signed by its own CA (`ca_bundle`, for a webhook's clientConfig.caBundle).
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.testbed import pki


class AdmissionServer:
    def __init__(self, refuse_first: int = 0) -> None:
        self.refuse_first = refuse_first
        self.calls: list[dict[str, Any]] = []  # {"path", "kind", "name", "answer"}
        self._lock = threading.Lock()
        ca = pki.CA("admission")
        self.ca_bundle = base64.b64encode(ca.pair.cert_pem).decode()
        self._dir = tempfile.TemporaryDirectory(prefix="admission-")
        crt, key = ca.issue("127.0.0.1", server=True).write(Path(self._dir.name), "serving")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                review = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                request = review.get("request") or {}
                with server._lock:
                    refuse = len(server.calls) < server.refuse_first
                    server.calls.append({"path": self.path, "kind": (request.get("kind") or {}).get("kind"),
                                         "name": request.get("name"), "answer": "refused" if refuse else "allowed"})
                if refuse:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"webhook not ready")
                    return
                body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                   "response": {"uid": request.get("uid"), "allowed": True}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(crt), str(key))
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> AdmissionServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._dir.cleanup()
