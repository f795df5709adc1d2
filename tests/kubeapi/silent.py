"""A dead cluster of the worst kind, for tests of what must never hang on one."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading

from tests.kubeapi.server import KubeApiServer


class SilentCluster:
    """A dead cluster of the worst kind: where its API server was, connections are accepted and TLS is
    negotiated (with the server's own certificate), then nothing ever answers, so helm waits forever."""

    def __init__(self, kube: KubeApiServer) -> None:
        kube.go_down()
        ctx = kube._tls_ctx  # the emulator's own server certificate, so clients get as far as HTTP
        assert ctx is not None
        self.ctx: ssl.SSLContext = ctx
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", kube.port))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
            self.held.append(tls)
            while tls.recv(65536):
                pass
        except OSError:
            pass

    def close(self) -> None:
        """Hang up on everyone (helm then fails at once) and free the port for ``come_up``."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone would not
        self.sock.close()
        for conn in self.held:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
