"""Worker presence records: who is working on what, since when, how fast.

Each worker keeps `.whisper-automation/workers/<id>.json` in the destination up to date: at once
when its state changes (started, busy on a file, idle, stopped) and at least every
TUNING.presence_write_seconds while alive. The destination is the one place every worker and
every status reader (host, container, another machine) already share, so presence needs no extra
service, and it survives the queue being lost. A record not rewritten for
TUNING.presence_stale_seconds means the worker is gone (killed, machine off).

The record is written by a thread of its own: a destination that is slow or unreachable delays
nothing else (not the heartbeat, not the loop), and a failed write is simply tried again.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

from whisper_automation.settings import TUNING
from whisper_automation.storage import layout
from whisper_automation.storage.base import Storage, StorageError

log = logging.getLogger(__name__)


class WorkerState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    STOPPED = "stopped"


@dataclass
class WorkerPresence:
    """One worker's presence record, as stored (docs/status.md lists the fields)."""

    id: str
    host: str
    pid: int
    engine: dict
    state: WorkerState
    file: str | None
    since: float
    files_done: int
    audio_seconds_done: float
    started_at: float
    last_seen: float
    # [finished_at, audio_seconds, wall_seconds] of recent files, for throughput.
    recent: list[list[float]] = field(default_factory=list)

    def is_live(self, now: float) -> bool:
        return self.state is not WorkerState.STOPPED and \
            now - self.last_seen < TUNING.presence_stale_seconds

    def to_dict(self) -> dict:
        return asdict(self) | {"state": self.state.value}

    @classmethod
    def from_dict(cls, data: dict) -> WorkerPresence:
        """Raises ValueError, KeyError or TypeError for a record that is not one."""
        return cls(id=str(data["id"]), host=str(data.get("host", "")), pid=int(data["pid"]),
                   engine=dict(data.get("engine") or {}), state=WorkerState(data["state"]),
                   file=data.get("file"), since=float(data["since"]),
                   files_done=int(data.get("files_done", 0)),
                   audio_seconds_done=float(data.get("audio_seconds_done", 0.0)),
                   started_at=float(data.get("started_at", 0.0)),
                   last_seen=float(data["last_seen"]),
                   recent=[list(map(float, entry)) for entry in data.get("recent", [])])


def presence_key(worker_id: str) -> str:
    return f"{layout.STATE_DIR}/{layout.WORKERS}/{worker_id}.json"


class Presence:
    """This worker's presence record, kept up to date by a writer thread (start, then stop)."""

    def __init__(self, destination: Storage, worker_id: str, engine: dict) -> None:
        now = time.time()
        self._destination = destination
        self._entry = WorkerPresence(
            id=worker_id, host=socket.gethostname(), pid=os.getpid(), engine=engine,
            state=WorkerState.STARTING, file=None, since=now, files_done=0,
            audio_seconds_done=0.0, started_at=now, last_seen=now)
        self._recent: deque[list[float]] = deque(maxlen=TUNING.presence_recent_files)
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stopping = False
        self._failing = False
        self._writer = threading.Thread(target=self._write_until_stopped, name="presence",
                                        daemon=True)

    @property
    def entry(self) -> WorkerPresence:
        with self._lock:
            return replace(self._entry, recent=list(self._recent))

    def start(self) -> None:
        self._writer.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Record the stop and wait (up to `timeout`) for it to be written."""
        self.set_state(WorkerState.STOPPED)
        self._stopping = True
        self._changed.set()
        if self._writer.is_alive():
            self._writer.join(timeout)

    def set_state(self, state: WorkerState, file: str | None = None) -> None:
        with self._lock:
            self._entry.state, self._entry.file, self._entry.since = state, file, time.time()
        self._changed.set()

    def finished(self, audio_seconds: float, wall_seconds: float) -> None:
        with self._lock:
            self._entry.files_done += 1
            self._entry.audio_seconds_done += audio_seconds
            self._recent.append([time.time(), audio_seconds, wall_seconds])
        self._changed.set()

    def _write_until_stopped(self) -> None:
        while True:
            self._changed.wait(TUNING.presence_write_seconds)
            self._changed.clear()
            stopping = self._stopping
            self._write()
            if stopping:
                return

    def _write(self) -> None:
        entry = self.entry
        entry.last_seen = time.time()
        try:
            self._destination.write_atomic(presence_key(entry.id),
                                           json.dumps(entry.to_dict()).encode("utf-8"))
        except StorageError as error:  # informative only: never let it stop the work
            if not self._failing:
                log.warning("cannot write this worker's presence record (tried again every "
                            "%g s): %s", TUNING.presence_write_seconds, error)
            self._failing = True
        else:
            self._failing = False


def read_presence(destination: Storage) -> list[WorkerPresence]:
    """Every worker's record, most recently seen first; damaged records are left out."""
    workers = []
    for name in destination.list_keys(f"{layout.STATE_DIR}/{layout.WORKERS}/"):
        data = destination.read_bytes(name)
        try:
            workers.append(WorkerPresence.from_dict(json.loads(data or b"null")))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return sorted(workers, key=lambda worker: -worker.last_seen)
