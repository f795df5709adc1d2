"""HTTP/1.1 plumbing: a threading server whose connections can be cut, and chunked watch streams.

Keep-alive and chunked encoding matter because client-go reuses connections and reads watch
events as they arrive. Connections are tracked so `go_down()` can sever them all at once, which
is what a client sees when a cluster disappears.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .app import App, Response


class ApiHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its live connections and its `App`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: App, tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.tls = tls
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        conn, addr = super().get_request()
        if self.tls is not None:
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def drop_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiHTTPServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are recorded by `App`; stderr noise would only clutter test output."""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            response = self.server.app.handle(self.command, unquote(parts.path), query, headers, body)
        except Exception:
            message = traceback.format_exc()
            self.server.app.internal_errors.append(message)
            doc = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": f"kubeapi internal error: {message}", "reason": "InternalError", "code": 500}
            response = Response(500, json.dumps(doc).encode())
        if response.stream is not None:
            self._send_stream(response)
            return
        self.send_response(response.status)
        self._common_headers(response)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _common_headers(self, response: Response) -> None:
        self.send_header("Content-Type", response.content_type)
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in response.headers:
            self.send_header(name, value)

    def _send_stream(self, response: Response) -> None:
        self.send_response(response.status)
        self._common_headers(response)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        assert response.stream is not None
        try:
            self.wfile.flush()
            for chunk in response.stream:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def do_HEAD(self) -> None:
        self.send_error(405)

    def do_OPTIONS(self) -> None:
        self.send_error(405)
