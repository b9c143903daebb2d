"""Counting what a run has finished, from the destination's records (never from the queue's
messages, which we must not drain). One piece of code for the progress bar and the summary."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import layout
from .audio import probe_duration
from .engines import AudioError
from .layout import DONE, FAILED
from .messages import Job
from .records import read_record
from .storage import Storage


@dataclass
class RunTally:
    """Where each planned file stands, updated by `refresh` (reads only new records)."""

    jobs: list[Job]
    started: float = field(default_factory=time.monotonic)
    done: dict[str, float] = field(default_factory=dict)       # key -> audio seconds
    failed: dict[str, str] = field(default_factory=dict)       # key -> reason (final ones)
    durations: dict[str, float] = field(default_factory=dict)  # key -> probed audio seconds
    engine_seconds: float = 0.0

    def refresh(self, destination: Storage) -> None:
        for job in self.jobs:
            if job.key in self.done:
                continue
            record = read_record(destination, layout.record_key(DONE, job.key, job.version))
            if record is not None:
                self.done[job.key] = float(record.get("audio_seconds") or 0.0)
                self.engine_seconds += float(record.get("transcribe_seconds") or 0.0)
                self.failed.pop(job.key, None)
                continue
            failure = read_record(destination, layout.record_key(FAILED, job.key, job.version))
            if failure is not None and failure.get("final"):
                self.failed[job.key] = failure.get("reason", "unknown")

    def probe_durations(self, source: Storage) -> None:
        """Audio length of every planned file (header reads, in a few threads) for the ETA."""
        def probe(job: Job) -> tuple[str, float]:
            try:
                with source.local_file(job.key) as path:
                    return job.key, probe_duration(str(path))
            except (AudioError, OSError, ValueError):
                return job.key, 0.0

        with ThreadPoolExecutor(max_workers=4) as pool:
            self.durations.update(pool.map(probe, self.jobs))

    @property
    def finished(self) -> int:
        return len(self.done) + len(self.failed)

    @property
    def audio_done(self) -> float:
        return sum(self.done.values())

    @property
    def audio_total(self) -> float:
        return sum(self.durations.values())

    def throughput(self) -> float:
        """Audio seconds transcribed per wall second since the run started."""
        elapsed = time.monotonic() - self.started
        return self.audio_done / elapsed if elapsed > 0 else 0.0
