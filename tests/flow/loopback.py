"""A loopback HTTP server for fetch tests: echoes each request as JSON; `/large` answers 64 KiB; `/slow`
echoes after 0.2 s, and the server keeps the most requests it had in flight at once (`peak`)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class _GaugedServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0


class _Echo(BaseHTTPRequestHandler):
    server: _GaugedServer

    def _answer(self) -> None:
        with self.server.lock:
            self.server.in_flight += 1
            self.server.peak = max(self.server.peak, self.server.in_flight)
        try:
            self._respond()
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _respond(self) -> None:
        if self.path == "/slow":
            time.sleep(0.2)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if self.path == "/large":
            payload = b"x" * 65536
        else:
            headers = {name.lower(): value for name, value in self.headers.items()}
            payload = json.dumps({"method": self.command, "path": self.path, "headers": headers, "body": body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        del format, args


class EchoServer:
    def __init__(self) -> None:
        self._server = _GaugedServer()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def peak(self) -> int:
        """The most requests the server had in flight at once."""
        return self._server.peak

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
