"""The HTTP server a stand-in runs on: threaded, on a free port of 127.0.0.1, served from a thread of its own, and
stopped with the connections its clients keep alive."""

from __future__ import annotations

import abc
import contextlib
import socket
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar

StandIn = TypeVar("StandIn")


class LoopbackServer(ThreadingHTTPServer, Generic[StandIn]):
    """`handler` serving `standin`, which the handler reaches as `self.server.standin`. `start` it, then `stop` it."""

    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 resets connections when a sender opens dozens at once

    def __init__(self, handler: type[LoopbackHandler[StandIn]], standin: StandIn, name: str) -> None:
        self.standin = standin
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        # Kept-alive client connections would otherwise go on being served by a stopped stand-in.
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)


class LoopbackHandler(BaseHTTPRequestHandler, Generic[StandIn], abc.ABC):
    """One connection to a stand-in: GET and POST go to `serve`, which answers with `respond` (or `disconnect`)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' connection pools expect of the real servers
    timeout = 30  # an idle kept-alive connection frees its thread eventually
    # Headers and body go out as two writes; with Nagle on, the body waits for the client's delayed ACK of the
    # headers, 40 ms a response on Linux, which the real servers do not make anyone wait.
    disable_nagle_algorithm = True
    server: LoopbackServer[StandIn]

    @abc.abstractmethod
    def serve(self, method: str) -> None:
        """Answer the request whose line and headers have been read; its body is still to read."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self.serve("GET")

    def do_POST(self) -> None:
        self.serve("POST")

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def respond(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        """`headers` in their order, then the Content-Length of `body`."""
        self.send_response(status, HTTPStatus(status).phrase)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def disconnect(self) -> None:
        """Close the connection without an answer, as a server that went away does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read what the stand-in recorded instead of a log on stderr
