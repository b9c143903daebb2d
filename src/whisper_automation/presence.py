"""Worker presence records: who is working on what, since when, how fast.

Each worker keeps `.whisper-automation/workers/<id>.json` in the destination up to date: on
start, on each file started and finished, on every visibility heartbeat while it transcribes and
at least every POLL while idle. The destination is the one place every worker and every status
reader (host, container, another machine) already share, so presence needs no extra service,
and it survives the queue being lost. A record not refreshed for STALE_SECONDS means the worker
is gone (killed, machine off).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import deque

from . import layout
from .storage import Storage

REFRESH_SECONDS = 15.0
STALE_SECONDS = 120.0
RECENT_FILES = 50


def presence_key(worker_id: str) -> str:
    return f"{layout.STATE_DIR}/{layout.WORKERS}/{worker_id}.json"


class Presence:
    def __init__(self, destination: Storage, worker_id: str, engine: dict) -> None:
        self._destination = destination
        self._lock = threading.Lock()
        self._written = 0.0
        self.record = {
            "id": worker_id, "host": socket.gethostname(), "pid": os.getpid(),
            "engine": engine, "state": "starting", "file": None, "since": time.time(),
            "files_done": 0, "audio_seconds_done": 0.0, "started_at": time.time(),
            "last_seen": time.time(),
        }
        # (finished_at, audio_seconds, wall_seconds) of recent files, for throughput.
        self._recent: deque[list[float]] = deque(maxlen=RECENT_FILES)

    def set_state(self, state: str, file: str | None = None) -> None:
        with self._lock:
            self.record.update(state=state, file=file, since=time.time())
            self._write()

    def finished(self, audio_seconds: float, wall_seconds: float) -> None:
        with self._lock:
            self.record["files_done"] += 1
            self.record["audio_seconds_done"] += audio_seconds
            self._recent.append([time.time(), audio_seconds, wall_seconds])
            self.record.update(state="idle", file=None, since=time.time())
            self._write()

    def refresh(self, force: bool = False) -> None:
        """Called from the loop and the heartbeat thread; writes at most every REFRESH_SECONDS."""
        with self._lock:
            if force or time.time() - self._written >= REFRESH_SECONDS:
                self._write()

    def _write(self) -> None:
        self.record["last_seen"] = time.time()
        self.record["recent"] = list(self._recent)
        try:
            self._destination.write_atomic(presence_key(self.record["id"]),
                                           json.dumps(self.record).encode("utf-8"))
            self._written = time.time()
        except OSError:
            pass  # presence is informative only: never let it stop the work


def read_presence(destination: Storage) -> list[dict]:
    """Every worker record, newest first, with `live` telling whether it is still around."""
    workers = []
    now = time.time()
    for name in destination.list_keys(f"{layout.STATE_DIR}/{layout.WORKERS}/"):
        data = destination.read_bytes(name)
        try:
            record = json.loads(data) if data else None
        except ValueError:
            record = None
        if not record:
            continue
        record["live"] = record.get("state") != "stopped" and \
            now - float(record.get("last_seen", 0)) < STALE_SECONDS
        workers.append(record)
    return sorted(workers, key=lambda record: -float(record.get("last_seen", 0)))
