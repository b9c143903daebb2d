"""A fault-injecting HTTP proxy on 127.0.0.1 in front of LocalStack.

Workers are pointed at the proxy (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SQS) while the test
itself talks to LocalStack directly. Every request is relayed unless a fault is switched on:

- `refuse()`: every request is cut off without an answer (the connection is closed), which is
  what botocore sees of a host it cannot reach: it retries, then raises a connection error.
- `drop(predicate)`: the same, for the matching requests only (e.g. SQS DeleteMessage).
- `answer(status, predicate)`: the matching requests get an HTTP error from "the service"
  (e.g. 500 InternalError on every S3 PUT).
- `heal()`: back to relaying everything.

`injected` counts the requests each fault hit, so a test can check that its fault really
happened. The proxy runs in the test process (threads), on a port the OS picks.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
              "expect", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def sqs_action(self) -> str:
        """The SQS action (JSON protocol header or query protocol form), or ""."""
        target = self.headers.get("x-amz-target", "")
        if target.startswith("AmazonSQS."):
            return target.removeprefix("AmazonSQS.")
        form = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"))
        return form.get("Action", [""])[0]


Predicate = Callable[[Request], bool]


def every(_: Request) -> bool:
    return True


def s3_put(request: Request) -> bool:
    return request.method == "PUT"


def sqs_delete(request: Request) -> bool:
    return request.sqs_action in ("DeleteMessage", "DeleteMessageBatch")


@dataclass(frozen=True)
class Fault:
    name: str
    matches: Predicate
    status: int = 0  # 0 = cut the connection off without an answer


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._fault: Fault | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self.injected: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy",
                                        daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for connection in self._connections:  # kept-alive clients: cut off too
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    # --- switching faults ---

    def refuse(self) -> None:
        self._switch(Fault("refused", every))

    def drop(self, matches: Predicate, name: str = "dropped") -> None:
        self._switch(Fault(name, matches))

    def answer(self, status: int, matches: Predicate, name: str = "error") -> None:
        self._switch(Fault(name, matches, status))

    def heal(self) -> None:
        self._switch(None)

    def _switch(self, fault: Fault | None) -> None:
        with self._lock:
            self._fault = fault

    def _fault_for(self, request: Request) -> Fault | None:
        with self._lock:
            fault = self._fault
        if fault is None or not fault.matches(request):
            return None
        with self._lock:
            self.injected[fault.name] += 1
        return fault

    # --- relaying ---

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
            upstream: http.client.HTTPConnection | None = None

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._connections.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._connections.discard(self.connection)
                if self.upstream is not None:
                    self.upstream.close()
                super().finish()

            def do_request(self) -> None:
                request = Request(self.command, self.path,
                                  {k.lower(): v for k, v in self.headers.items()},
                                  self._read_body())
                fault = proxy._fault_for(request)
                if fault is not None and not fault.status:
                    self.close_connection = True  # no answer at all
                    return
                if fault is not None:
                    self._send(fault.status, {"Content-Type": "application/xml"},
                               _error_body(fault.status))
                    return
                relayed = self._relay(request)
                if relayed is None:  # LocalStack itself is not there: neither are we
                    self.close_connection = True
                    return
                self._send(*relayed)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_request

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    return _read_chunked(self.rfile)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _relay(self, request: Request) -> tuple[int, dict[str, str], bytes] | None:
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP}
                headers["Content-Length"] = str(len(request.body))
                for attempt in range(2):  # a kept-alive upstream connection may have closed
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection(*proxy._upstream,
                                                                   timeout=120)
                    try:
                        self.upstream.request(request.method, request.path, request.body,
                                              headers)
                        response = self.upstream.getresponse()
                        body = response.read()
                        break
                    except (http.client.HTTPException, OSError):
                        self.upstream.close()
                        self.upstream = None
                        if attempt:
                            return None
                out = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
                if request.method == "HEAD":
                    out["Content-Length"] = response.getheader("Content-Length") or "0"
                return response.status, out, body

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        return Handler


def _read_chunked(stream) -> bytes:
    """A chunked request body, decoded."""
    body = bytearray()
    while True:
        size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        body += stream.read(size)
        stream.readline()


def _error_body(status: int) -> bytes:
    code = "InternalError" if status >= 500 else "AccessDenied"
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>injected by the test's fault proxy</Message></Error>").encode()
