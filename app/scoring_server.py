"""`mlwb serve`: the HTTP adapter of the scoring service, as ``app.cli`` is the CLI adapter.

Standard library only (``http.server``): one thread per connection, HTTP/1.1 keep-alive so a
client reuses its connection, ``Content-Length`` on every response, no access log. Everything
about models, routing and the prediction log lives in ``app.services.serving``; this module
turns HTTP into calls of ``ScoringService.score`` and its answers and errors back into HTTP.

    POST /predict   {"features": {...}, "request_id": "..."}  -> 200 {"request_id", "prediction",
                    "score", "model_version", "route"}; 400 bad JSON or features (409 a reused
                    request id), 411 no Content-Length, 413 body over 1 MB, 500 the model failed
                    (logged), 503 stopping, or the prediction log could not commit the request's
                    row (not acknowledged: send it again). A 200 goes out only once the request's
                    row is committed to the prediction log, so a crash never loses an answered one.
    GET  /health    {"status", "project", "production_version", "challenger_version",
                    "canary_share", "shadow"}
    GET  /metrics   Prometheus text exposition 0.0.4
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.errors import WorkbenchError
from app.services.serving import ScoringService
from app.services.workbench import Workbench

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000
# A too-large body up to this size is read and dropped before the 413, so the client sees the
# answer (closing on unread data makes the kernel reset the connection under the client's feet)
# and the connection stays usable; beyond it the connection is closed unread.
MAX_DRAINED_BODY = 16_000_000
IDLE_TIMEOUT_S = 60.0  # an idle keep-alive connection is closed after this long
JSON_TYPE = "application/json"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ROUTES = {"/predict": ("POST",), "/health": ("GET", "HEAD"), "/metrics": ("GET", "HEAD")}


class _Refused(Exception):
    """A request refused by the HTTP layer itself (before the service saw it)."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.close = close


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "mlwb-serve"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True  # headers and body are two writes: do not wait for an ACK between
    server: ScoringHTTPServer

    # -- dispatch

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        allowed = ROUTES.get(path)
        try:
            if allowed is None:
                self._drain_body()
                raise _Refused(404, f"no endpoint {path}: use POST /predict, GET /health or GET /metrics")
            if method not in allowed:
                self._drain_body()
                raise _Refused(405, f"{path} takes {' or '.join(allowed)}, not {method}")
            if path == "/predict":
                self._predict()
            elif path == "/health":
                self._send_json(200, self.server.service.health())
            else:
                body = ("\n".join(self.server.service.exposition()) + "\n").encode()
                self._send(200, body, METRICS_TYPE)
        except _Refused as exc:
            if exc.close:
                self.close_connection = True
            if path == "/predict" and 400 <= exc.status < 500 and exc.status != 405:
                self.server.service.metrics.count("bad_requests")
            self._send_json(exc.status, {"error": str(exc)}, allow=allowed if exc.status == 405 else None)

    # -- /predict

    def _predict(self) -> None:
        service = self.server.service
        payload = self._json_body()
        try:
            answer = service.score(payload)
        # BadRequest 400, DuplicateRequest 409, ScoringFailed 500, ServiceClosed and LogFailed 503
        except WorkbenchError as exc:
            self._send_json(getattr(exc, "status", 400), {"error": str(exc)})
            return
        except Exception as exc:  # a bug: answer, keep serving, and leave the traceback for the operator
            log.exception("scoring a request failed")
            self._send_json(500, {"error": f"internal error while scoring ({type(exc).__name__}): see the server's log"})
            return
        self._send_json(200, answer)

    def _json_body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() not in ("", "identity"):
            raise _Refused(411, "send the body with a Content-Length header (chunked bodies are not accepted)",
                           close=True)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise _Refused(411, "send the body with a Content-Length header", close=True)
        try:
            length = int(length_header)
        except ValueError:
            raise _Refused(400, f"Content-Length {length_header!r} is not a number", close=True) from None
        if length < 0:
            raise _Refused(400, "Content-Length cannot be negative", close=True)
        if length > MAX_BODY:
            drained = length <= MAX_DRAINED_BODY and self._discard(length)
            raise _Refused(413, f"the body is {length:,} bytes, more than the {MAX_BODY:,}-byte limit: "
                                "send one request's features per call", close=not drained)
        body = self.rfile.read(length)
        if len(body) < length:
            raise _Refused(400, "the body ended before Content-Length bytes arrived", close=True)
        content_type = self.headers.get("Content-Type", JSON_TYPE).split(";", 1)[0].strip().lower()
        if content_type != JSON_TYPE and not content_type.endswith("+json"):
            raise _Refused(400, f"the body must be JSON (Content-Type: {JSON_TYPE}), not {content_type or 'empty'}")
        try:
            return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise _Refused(400, "the body is not UTF-8 text: send JSON encoded as UTF-8") from None
        except ValueError as exc:
            raise _Refused(400, f"the body is not valid JSON ({exc})") from None
        except RecursionError:  # thousands of nested arrays: no request nests like that
            raise _Refused(400, "the body nests arrays or objects too deeply: send a flat "
                                "{\"features\": {...}} object") from None

    def _discard(self, length: int) -> bool:
        """Read and drop ``length`` body bytes; False if the client stopped sending."""
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                return False
            length -= len(chunk)
        return True

    def _drain_body(self) -> None:
        """Read (and ignore) a small body, so the connection stays usable; close it otherwise."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 <= length <= MAX_BODY and self.headers.get("Transfer-Encoding", "").lower() in ("", "identity"):
            self.rfile.read(length)
        else:
            self.close_connection = True

    # -- responses

    def _send_json(self, status: int, payload: dict[str, Any], *, allow: tuple[str, ...] | None = None) -> None:
        try:
            body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        except ValueError:
            status, body = 500, b'{"error":"the model returned a value JSON cannot carry (NaN or infinity)"}'
        self._send(status, body, JSON_TYPE, allow=allow)

    def _send(self, status: int, body: bytes, content_type: str, *, allow: tuple[str, ...] | None = None) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if allow:
            self.send_header("Allow", ", ".join(allow))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors found by ``http.server`` itself (bad request line, headers too long):
        answer in JSON like every other error, and close the connection."""
        self.close_connection = True
        try:
            self._send_json(code, {"error": message or HTTPStatus(code).phrase})
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: no line per request on stderr (the prediction log and /metrics say what happened)."""

    # -- connection bookkeeping, so a stop can close idle keep-alive connections

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)


class ScoringHTTPServer(ThreadingHTTPServer):
    """The HTTP server around one ``ScoringService``; it does not own the service's life."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: ScoringService) -> None:
        self.service = service
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Shut every client connection down, so no handler thread waits on an idle keep-alive."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is normal; anything else is logged with its traceback."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        log.exception("error while handling a request from %s", client_address[0] if client_address else "?")

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class ScoringServer:
    """A scoring service behind an HTTP server, not yet serving: ``serve_forever()`` serves until
    ``shutdown()`` (from another thread); ``close()`` then drains the prediction log, audits the
    stop and returns the service's summary. ``serve()`` is this plus signals, for `mlwb serve`."""

    def __init__(self, wb: Workbench, slug: str, *, host: str = "127.0.0.1", port: int = 8080, shadow: bool = True,
                 canary_share: float = 0.0, seed: int | None = None, wait_for_log: bool = True) -> None:
        self._serving = False
        # wait_for_log=False: the benchmark's baseline only (see ScoringService)
        self.service = ScoringService(wb, slug, shadow=shadow, canary_share=canary_share, seed=seed,
                                      wait_for_log=wait_for_log)
        try:
            self.httpd = ScoringHTTPServer((host, port), self.service)
        except OSError as exc:
            self.service.close()
            raise WorkbenchError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port, "
                                 "or stop what is using it") from None

    @property
    def url(self) -> str:
        return self.httpd.url

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def serve_forever(self) -> None:
        self._serving = True
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self._serving = False

    def shutdown(self) -> None:
        """Stop accepting (call from another thread than ``serve_forever``)."""
        self.httpd.shutdown()

    def close(self) -> dict[str, Any]:
        """Finish requests in flight, close connections and the socket, drain the log, audit the stop.

        Stops ``serve_forever`` first if it still runs (in another thread)."""
        if self._serving:
            self.httpd.shutdown()
        self.httpd.server_close()
        try:
            return self.service.close()
        finally:
            self.httpd.close_connections()

    def describe(self) -> str:
        models = self.service.models
        parts = [f"serving '{models.slug}' production v{models.production.version}"]
        if models.challenger is not None:
            if self.service.canary_share > 0:
                parts.append(f"challenger v{models.challenger.version} as a canary on "
                             f"{self.service.canary_share:.0%} of requests"
                             + (" and in shadow on the rest" if self.service.shadow else ""))
            elif self.service.shadow:
                parts.append(f"challenger v{models.challenger.version} in shadow")
            else:
                parts.append(f"challenger v{models.challenger.version} idle (--no-shadow)")
        return f"{', '.join(parts)} on {self.url} (POST /predict, GET /health, GET /metrics; Ctrl-C stops)"


def serve(wb: Workbench, slug: str, *, host: str = "127.0.0.1", port: int = 8080, shadow: bool = True,
          canary_share: float = 0.0, ready: Callable[[str], None] | None = None,
          seed: int | None = None) -> dict[str, Any]:
    """Serve ``slug`` until SIGINT/SIGTERM (or ``shutdown()`` of the server from another thread);
    then finish requests in flight, drain the prediction log and audit the stop.

    ``ready`` gets one line saying what is served where, once the socket accepts connections.
    Returns the service's summary (requests by route, errors, rows logged).
    """
    server = ScoringServer(wb, slug, host=host, port=port, shadow=shadow, canary_share=canary_share, seed=seed)
    previous: dict[int, Any] = {}

    def stop(signum: int, frame: Any) -> None:
        # shutdown() waits for serve_forever() to return, which runs in this very thread: ask
        # from another one.
        threading.Thread(target=server.shutdown, name="mlwb-serve-stop", daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop)
    try:
        try:
            if ready is not None:
                ready(server.describe())
            server.serve_forever()
        finally:
            # A second Ctrl-C while the log drains only asks to stop again: the drain is bounded
            # (requests in flight, then the last inserts), and cutting it short would lose rows.
            summary = server.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return summary


__all__ = ["ScoringHTTPServer", "ScoringServer", "serve"]
