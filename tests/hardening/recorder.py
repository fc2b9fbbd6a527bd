"""An attacker's endpoint: an HTTP server on 127.0.0.1 that records every request reaching it
and answers each with 403, so that a test can tell whether anything was sent to it at all."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorder:
    url: str
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    """(method, path, headers) of every request, in order of arrival"""

    def headers(self, name: str) -> list[str]:
        """The values of the header ``name`` over all the requests."""
        wanted = name.lower()
        return [v for _, _, h in self.requests for k, v in h.items() if k.lower() == wanted]


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            recorder.requests.append((self.command, self.path, dict(self.headers.items())))
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _record  # noqa: N815 - http.server's names

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def recording_endpoint() -> Iterator[Recorder]:
    """A running :class:`Recorder`; stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Recorder("")))
    recorder = Recorder(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
