"""A loopback HTTP server standing in for another service's API in one service's tests.

Each service's own tests use it at the boundary (another service's contract, or failure
injection); the e2e suite runs the real services instead.
"""

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubHTTPServer:
    """Routes ``(METHOD, path)`` to a handler ``f(request: dict) -> (status, body_dict[, headers])``.

    Every request is recorded in ``.requests`` ({method, path, headers, json}). Unrouted
    requests answer 404 in the envelope. ``fail_next(n, status=503)`` injects failures.
    """

    def __init__(self):
        self.routes: dict[tuple[str, str], Callable[[dict], tuple[int, dict]]] = {}
        self.requests: list[dict] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw) if raw else None
                except ValueError:
                    payload = raw.decode(errors="replace")
                path = self.path.split("?", 1)[0]
                request = {
                    "method": self.command,
                    "path": path,
                    "full_path": self.path,
                    "headers": dict(self.headers),
                    "json": payload,
                }
                headers: dict = {}
                with stub._lock:
                    stub.requests.append(request)
                    failure = stub._failures.pop(0) if stub._failures else None
                if failure is not None:
                    status, body = (
                        failure,
                        {"success": False, "data": None, "error": "injected", "message": "", "meta": None},
                    )
                else:
                    handler = stub.routes.get((self.command, path))
                    if handler is None:
                        status, body = (
                            404,
                            {
                                "success": False,
                                "data": None,
                                "error": "not_found",
                                "message": "Not found.",
                                "meta": None,
                            },
                        )
                    else:
                        status, body, *extra = handler(request)  # a handler may add a dict of headers
                        headers = extra[0] if extra else {}
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers if failure is None else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def route(self, method: str, path: str, handler: Callable[[dict], tuple[int, dict]]) -> None:
        self.routes[(method.upper(), path)] = handler

    def reply(self, method: str, path: str, status: int, data=None, *, error=None, message="") -> None:
        """Answer a route with a fixed envelope."""
        body = {"success": status < 400, "data": data, "error": error, "message": message, "meta": None}
        self.route(method, path, lambda request: (status, body))

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def requests_to(self, method: str, path: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["method"] == method.upper() and r["path"] == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
