"""The read-only status page: `whisper-automation status --serve`.

Plain HTML that refreshes itself, and the same numbers as JSON at /status.json. Given a
Library, it also serves the transcripts page (/transcripts: folder tree, search, a transcript
whose lines play the recording), its JSON (/api/...) and the recordings themselves (/audio/...,
read-only, byte ranges, only inside the source: see media.py). It only ever answers GET and
HEAD, closes connections idle for TUNING.status_idle_timeout_seconds, computes the status
at most every CACHE_SECONDS however many browsers poll, and listens on
127.0.0.1 unless told otherwise (the compose stack binds the container's address and publishes
it on the host's 127.0.0.1 only). Requests naming this server by a DNS name other than
localhost or this machine's own are refused: a web page elsewhere could otherwise point such a
name at 127.0.0.1 (DNS rebinding) and read the transcripts and recordings.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlencode

from whisper_automation.jobs.status import Status, format_ago, format_duration
from whisper_automation.settings import TUNING
from whisper_automation.storage.layout import printable
from whisper_automation.web.library import Library
from whisper_automation.web.media import (
    ByteRange,
    Media,
    MediaRefused,
    RangeNotSatisfiable,
    key_from_url_path,
    open_media,
    parse_range,
)

log = logging.getLogger(__name__)

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
        cell("orphans", len(status.orphans)),
    ]
    total = status.reorganised.get("total", {})
    rows += [cell(how.replace(" ", "_"), total.get(how, 0))
             for how in ("moved", "copied", "taken over")]
    queue_note = "" if status.queue is not None else (
        f'<p class="{"warn" if status.queue_matters else "note"}" id="queue_error">'
        f"{html.escape(status.queue_note())}</p>")
    workers = "".join(
        f"<tr><td>{html.escape(w['id'])}</td>"
        f"<td>{html.escape(str((w.get('engine') or {}).get('device', 'cpu')))}</td>"
        f"<td>{html.escape(w.get('state', ''))}</td>"
        f"<td>{html.escape(w.get('file') or '')}</td><td>{w.get('files_done', 0)}</td>"
        f"<td>{time.time() - w.get('last_seen', 0):.0f} s ago</td></tr>"
        for w in status.live_workers)
    uncovered = "".join(
        f'<tr><td><a href="transcripts?{html.escape(urlencode({"key": u["key"]}))}">'
        f"{html.escape(u['key'])}</a></td><td>{u['uncovered_seconds']:.0f} s</td>"
        f"<td>{html.escape(_stretches(u['uncovered']))}</td></tr>" for u in status.uncovered)
    failures = "".join(
        f"<tr><td>{html.escape(f['key'])}</td><td>{f['attempts']}</td>"
        f"<td>{html.escape(str(f['reason']))}</td></tr>" for f in status.failures)
    write_errors = "".join(
        f"<tr><td>{html.escape(e['worker'])}</td><td>{html.escape(e['error'])}</td>"
        f"<td>{format_ago(e['reported_at'])}</td></tr>"
        for e in status.write_errors)
    models = "".join(f"<tr><td>{html.escape(label)}</td><td>{count}</td></tr>"
                     for label, count in sorted(status.models.items()))
    orphans = "".join(f"<tr><td>{html.escape(key)}</td></tr>" for key in status.orphans)
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
<a href="status.json">status.json</a> has the same numbers.
<a href="transcripts" id="transcripts-link">Search the transcripts and listen</a>.</p>
{queue_note}
<table id="summary">{"".join(rows)}</table>
{write_errors_section}
<h2>Workers</h2>
<table id="workers"><tr><th>worker</th><th>device</th><th>state</th><th>file</th><th>done</th>
<th>seen</th></tr>
{workers}</table>
<h2>Failures</h2>
<table id="failures"><tr><th>recording</th><th>attempts</th><th>reason</th></tr>{failures}</table>
<h2>Speech left uncovered</h2>
<p>Done, but the voice activity detector heard speech that no transcribed word covers, even
after transcribing it again on its own: listen there.</p>
<table id="uncovered"><tr><th>recording</th><th>speech</th><th>where</th></tr>{uncovered}</table>
<h2>Done with</h2>
<table id="models"><tr><th>engine and model</th><th>recordings</th></tr>{models}</table>
<h2>Orphans</h2>
<p>Transcripts of recordings gone from the source and not found elsewhere. Kept until
<code>whisper-automation prune SRC DEST --yes</code> removes them.</p>
<table id="orphans"><tr><th>recording</th></tr>{orphans}</table>
</body></html>
"""


def _stretches(stretches: list[list[float]]) -> str:
    return ", ".join(f"{format_duration(start)}-{format_duration(end)}"
                     for start, end in stretches)


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


def make_server(collect: Callable[[], Status], host: str = "127.0.0.1", port: int = 8765,
                library: Library | None = None) -> ThreadingHTTPServer:
    cached = _CachedStatus(collect)
    names = _own_names(host)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a seeking audio element asks many ranges
        # Each connection holds a thread: one silent this long is closed (socket timeout,
        # which http.server answers by closing the connection).
        timeout = TUNING.status_idle_timeout_seconds
        head_only = False
        _headers_sent = False

        def do_HEAD(self) -> None:  # http.server's name: GET's headers, no body
            self.head_only = True
            try:
                self.do_GET()
            finally:
                self.head_only = False

        def do_GET(self) -> None:  # the name http.server calls
            try:
                self._answer()
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True  # the client went away: nobody to answer
            except Exception:  # a bug must cost one answer, never the connection unanswered
                log.exception("status page: error answering %s", printable(self.path))
                self.close_connection = True
                if not self._headers_sent:
                    self._send(500, "text/plain", "internal error\n")

        def send_response(self, code: int, message: str | None = None) -> None:
            self._headers_sent = True
            super().send_response(code, message)

        def _write(self, data: bytes) -> None:
            if not self.head_only:
                self.wfile.write(data)

        def _answer(self) -> None:
            self._headers_sent = False
            path, _, query = self.path.partition("?")
            if not _trusted_host(self.headers.get("Host", ""), names):
                self._send(403, "text/plain", "unknown host name\n")
            elif path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", render_html(cached.get()))
            elif path == "/favicon.ico":
                self._send(204, "text/plain", "")  # none, and no error in the browser's log
            elif path == "/status.json":
                self._send(200, "application/json", cached.get().to_json())
            elif library is None:
                self._send(404, "text/plain", "not found\n")
            elif path in ("/transcripts", "/transcripts.js"):
                name, kind = (("transcripts.html", "text/html; charset=utf-8") if
                              path == "/transcripts" else ("transcripts.js", "text/javascript"))
                self._send(200, kind, _web_file(name))
            elif path.startswith("/api/"):
                answer = library.answer(path.removeprefix("/api/"), parse_qs(query))
                self._send(answer.status, "application/json",
                           json.dumps(answer.body, ensure_ascii=False))
            elif path.startswith("/audio/"):
                self._send_media(library, path.removeprefix("/audio/"))
            else:
                self._send(404, "text/plain", "not found\n")

        def _send(self, code: int, kind: str, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(code)
            self._common_headers(kind, len(data))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self._write(data)

        def _common_headers(self, kind: str, length: int) -> None:
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(length))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'self'; "
                             "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")

        def _send_media(self, library: Library, raw_path: str) -> None:
            try:
                media = open_media(library.source, key_from_url_path(raw_path),
                                   library.extensions)
            except MediaRefused as refused:
                self._send(refused.status, "text/plain", f"{refused}\n")
                return
            try:
                self._send_range(media)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser dropped the request (it does on every seek)
            finally:
                media.close()

        def _send_range(self, media: Media) -> None:
            try:
                span = parse_range(self.headers.get("Range"), media.size)
            except RangeNotSatisfiable:
                self.send_response(416)
                self._common_headers("text/plain", 0)
                self.send_header("Content-Range", f"bytes */{media.size}")
                self.end_headers()
                return
            whole = span is None
            span = span or ByteRange(0, media.size - 1)
            self.send_response(200 if whole else 206)
            self._common_headers(media.content_type, span.length)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Cache-Control", "no-cache")
            if not whole:
                self.send_header("Content-Range",
                                 f"bytes {span.first}-{span.last}/{media.size}")
            self.end_headers()
            if span.length > 0 and not self.head_only:
                for chunk in media.read(span):
                    self.wfile.write(chunk)

        def log_message(self, *_: object) -> None:
            pass  # one line per poll would drown the real logs

    return ThreadingHTTPServer((host, port), Handler)


def _web_file(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def _own_names(host: str) -> set[str]:
    return {"localhost", host.lower(), socket.gethostname().lower()}


def _trusted_host(header: str, names: set[str]) -> bool:
    """An IP address, localhost or this machine's own name (see the module's docstring)."""
    name = header.strip().lower()
    if name.startswith("["):  # [::1]:8765
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name.rstrip(".") in names
