"""The read-only status page: `whisper-automation status --serve`.

Plain HTML that refreshes itself, and the same numbers as JSON at /status.json. It only ever
answers GET, computes the status at most every CACHE_SECONDS however many browsers poll, and
listens on 127.0.0.1 unless told otherwise (the compose stack binds the container's address and
publishes it on the host's 127.0.0.1 only).
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .status import Status, format_ago, format_duration

CACHE_SECONDS = 2.0
REFRESH_SECONDS = 5


def render_html(status: Status) -> str:
    def cell(name: str, value: object, shown: str | None = None) -> str:
        return (f'<tr><th>{html.escape(name.replace("_", " "))}</th>'
                f'<td id="{name}" data-value="{html.escape(str(value))}">'
                f"{html.escape(shown if shown is not None else str(value))}</td></tr>")

    queue = status.queue or {}
    percent = 100.0 * status.done / status.recordings if status.recordings else 100.0
    rows = [
        cell("recordings", status.recordings), cell("done", status.done),
        cell("to_do", status.to_do), cell("failed", status.failed),
        cell("throughput", status.throughput or 0,
             f"{status.throughput:.1f} audio s per s" if status.throughput else "no recent files"),
        cell("eta", status.eta_seconds or "", format_duration(status.eta_seconds)),
        cell("queue_visible", queue.get("visible", ""), str(queue.get("visible", "-"))),
        cell("queue_in_flight", queue.get("in_flight", ""), str(queue.get("in_flight", "-"))),
        cell("queue_dead", queue.get("dead", ""), str(queue.get("dead", "-"))),
        cell("live_workers", len(status.live_workers)),
        cell("write_errors", len(status.write_errors)),
    ]
    error = html.escape(str(status.queue_error))
    queue_note = "" if status.queue is not None else \
        f'<p class="warn" id="queue_error">queue not reachable: {error}</p>'
    workers = "".join(
        f"<tr><td>{html.escape(w['id'])}</td><td>{html.escape(w.get('state', ''))}</td>"
        f"<td>{html.escape(w.get('file') or '')}</td><td>{w.get('files_done', 0)}</td>"
        f"<td>{time.time() - w.get('last_seen', 0):.0f} s ago</td></tr>"
        for w in status.live_workers)
    failures = "".join(
        f"<tr><td>{html.escape(f['key'])}</td><td>{f['attempts']}</td>"
        f"<td>{html.escape(str(f['reason']))}</td></tr>" for f in status.failures)
    write_errors = "".join(
        f"<tr><td>{html.escape(e['worker'])}</td><td>{html.escape(e['error'])}</td>"
        f"<td>{format_ago(e['reported_at'])}</td></tr>"
        for e in status.write_errors)
    write_errors_section = "" if not write_errors else (
        '<h2 class="warn">Workers that cannot write the destination</h2>\n'
        '<table id="write_errors"><tr><th>worker</th><th>error</th><th>reported</th></tr>'
        f"{write_errors}</table>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>whisper-automation: {status.done}/{status.recordings} done</title>
<style>
body {{ font: 15px system-ui, sans-serif; margin: 2em; color: #1a202c; max-width: 70em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ text-align: left; padding: .3em .9em; border-bottom: 1px solid #e2e8f0; }}
.bar {{ background: #e2e8f0; height: 1.2em; border-radius: .3em; width: 30em; }}
.bar div {{ background: #38a169; height: 100%; border-radius: .3em; }}
.warn {{ color: #c53030; }}
</style></head><body>
<h1>whisper-automation</h1>
<div class="bar"><div id="progress" style="width: {percent:.1f}%"></div></div>
<p>{percent:.1f} % of the recordings done. This page refreshes every {REFRESH_SECONDS} s;
<a href="status.json">status.json</a> has the same numbers.</p>
{queue_note}
<table id="summary">{"".join(rows)}</table>
{write_errors_section}
<h2>Workers</h2>
<table id="workers"><tr><th>worker</th><th>state</th><th>file</th><th>done</th><th>seen</th></tr>
{workers}</table>
<h2>Failures</h2>
<table id="failures"><tr><th>recording</th><th>attempts</th><th>reason</th></tr>{failures}</table>
</body></html>
"""


class _CachedStatus:
    def __init__(self, collect: Callable[[], Status]) -> None:
        self._collect = collect
        self._lock = threading.Lock()
        self._value: Status | None = None
        self._at = 0.0

    def get(self) -> Status:
        with self._lock:
            if self._value is None or time.monotonic() - self._at > CACHE_SECONDS:
                self._value = self._collect()
                self._at = time.monotonic()
            return self._value


def make_server(collect: Callable[[], Status], host: str = "127.0.0.1",
                port: int = 8765) -> ThreadingHTTPServer:
    cached = _CachedStatus(collect)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", render_html(cached.get()))
            elif path == "/status.json":
                self._send(200, "application/json", cached.get().to_json())
            else:
                self._send(404, "text/plain", "not found\n")

        def _send(self, code: int, kind: str, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass  # one line per poll would drown the real logs

    return ThreadingHTTPServer((host, port), Handler)
