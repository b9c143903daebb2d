"""How far along: recordings done, to do and failed, the queue's depths, the live workers,
throughput and an ETA. One piece of code for `status`, `status --json`, the status page and
`run`'s progress bar and summary.

It only reads: the source listing, the destination's records, and the queue's counters
(GetQueueAttributes) and tags (ListQueueTags); it never receives or changes a message. The JSON
form is a stable schema (`SCHEMA`, documented in docs/status.md): fields are only ever added.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from whisper_automation.jobs.presence import read_presence
from whisper_automation.jobs.queue import WorkQueue, sqs_client
from whisper_automation.jobs.reorganise import read_counts
from whisper_automation.jobs.write_errors import read_write_errors
from whisper_automation.settings import TUNING, Settings
from whisper_automation.storage import layout
from whisper_automation.storage.base import Storage, StorageError, open_storage
from whisper_automation.storage.catalog import UNKNOWN_MODEL, Entry, read_catalog
from whisper_automation.storage.layout import FAILED, UNCOVERED
from whisper_automation.storage.prune import orphan_keys
from whisper_automation.storage.records import FileState, Records, read_record, read_records

log = logging.getLogger(__name__)

SCHEMA = 1
ORPHANS_SHOWN = 20  # the text form lists this many; JSON and the page list all


@dataclass
class Status:
    schema: int = SCHEMA
    generated_at: float = field(default_factory=time.time)
    recordings: int = 0
    done: int = 0
    to_do: int = 0
    failed: int = 0
    audio_to_do_seconds: float | None = None
    throughput: float | None = None  # audio seconds per wall second, recent window
    throughput_window_seconds: float = TUNING.throughput_window_seconds
    eta_seconds: float | None = None
    queue: dict | None = None
    queue_error: str | None = None
    workers: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    uncovered: list[dict] = field(default_factory=list)  # done, with speech left uncovered
    # Workers that could not write the destination (read from the queue's tags: write_errors.py).
    write_errors: list[dict] = field(default_factory=list)
    # Recordings with transcripts but gone from the source, not found elsewhere (`prune`).
    orphans: list[str] = field(default_factory=list)
    # Done recordings by the engine and model that transcribed them ("unknown": done before
    # the catalog existed).
    models: dict[str, int] = field(default_factory=dict)
    # Transcriptions reused instead of transcribed again (reorganise.py): {"total": {"moved",
    # "copied", "taken over"}, "last": {... , "at"}}; {} before any.
    reorganised: dict = field(default_factory=dict)

    @property
    def live_workers(self) -> list[dict]:
        return [worker for worker in self.workers if worker.get("live")]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @property
    def queue_matters(self) -> bool:
        """An unreachable queue is a fault only while work is left: once every recording is
        done or failed (a finished `run`, whose embedded queue ended with it) it is not."""
        return self.to_do > 0

    def queue_note(self) -> str:
        if self.queue_matters:
            return f"queue not reachable: {self.queue_error}"
        return "finished: nothing left to do (no queue reachable, none is needed)"

    def to_text(self) -> str:
        lines = [f"recordings {self.recordings}: done {self.done}, to do {self.to_do}, "
                 f"failed {self.failed}"]
        speed = f"{self.throughput:.1f} audio s/s" if self.throughput else "no recent files"
        lines.append(f"throughput: {speed} (last {self.throughput_window_seconds / 60:.0f} min);"
                     f" ETA {format_duration(self.eta_seconds)}")
        if self.queue is not None:
            lines.append(f"queue: {self.queue['visible']} waiting, {self.queue['in_flight']} "
                         f"in progress, {self.queue['dead']} in the dead-letter queue")
        else:
            lines.append(self.queue_note())
        live = self.live_workers
        lines.append(f"workers: {len(live)} live")
        for worker in live:
            doing = f"on {worker['file']} for {format_duration(time.time() - worker['since'])}" \
                if worker.get("file") else worker.get("state", "?")
            device = (worker.get("engine") or {}).get("device", "cpu")  # older records: cpu
            lines.append(f"  {worker['id']} ({device}): {doing}, {worker['files_done']} done, "
                         f"last seen {time.time() - worker['last_seen']:.0f} s ago")
        lines += [f"  failed: {f['key']} (attempts {f['attempts']}): {f['reason']}"
                  for f in self.failures]
        lines += [f"  speech left uncovered: {u['key']}: {u['uncovered_seconds']:.0f} s at "
                  + ", ".join(f"{format_duration(start)}-{format_duration(end)}"
                              for start, end in u["uncovered"])
                  for u in self.uncovered]
        if self.models:
            lines.append("done with: " + ", ".join(
                f"{label} {count}" for label, count in sorted(self.models.items())))
        if self.reorganised:
            total = self.reorganised.get("total", {})
            lines.append("reused instead of transcribed again: " + ", ".join(
                f"{how} {total.get(how, 0)}" for how in ("moved", "copied", "taken over")))
        if self.orphans:
            lines.append(f"orphans: {len(self.orphans)} recording(s) gone from the source keep "
                         "their transcripts (`whisper-automation prune SRC DEST` removes them)")
            lines += [f"  orphan: {key}" for key in self.orphans[:ORPHANS_SHOWN]]
            if len(self.orphans) > ORPHANS_SHOWN:
                lines.append(f"  ... and {len(self.orphans) - ORPHANS_SHOWN} more (--json)")
        if self.write_errors:
            lines.append(f"cannot write the destination: {len(self.write_errors)} worker(s)")
        lines += [f"  {e['worker']}: {e['error']} (reported {format_ago(e['reported_at'])})"
                  for e in self.write_errors]
        return "\n".join(layout.printable(line) for line in lines)  # names: one line each


def format_ago(when: float | None) -> str:
    return "at an unknown time" if when is None else f"{max(0.0, time.time() - when):.0f} s ago"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def build_status(found: dict[str, str], source: Storage, destination: Storage,
                 queue: WorkQueue | None, queue_error: str | None = None,
                 durations: dict[str, float] | None = None) -> Status:
    """Status of the recordings in `found` ({key: version token}) from the records, the workers'
    presence and the queue. `durations` caches probed audio lengths between calls."""
    records = read_records(destination)
    status = Status(recordings=len(found), queue_error=queue_error)
    to_do: list[str] = []
    for key, token in found.items():
        state = records.state(key, token)
        unrecordable = layout.record_name_problem(key, token)
        if unrecordable:  # no record can exist: failed, with the reason (see director.Plan)
            status.failed += 1
            status.failures.append({"key": key, "reason": unrecordable, "attempts": 0,
                                    "final": True, "failed_at": None})
        elif state is FileState.DONE:
            status.done += 1
            if records.has_uncovered_speech(key, token):
                status.uncovered.append(_uncovered(destination, key, token))
        elif state is FileState.FAILED:
            status.failed += 1
            status.failures.append(_failure(destination, key, token))
        else:
            to_do.append(key)
    status.to_do = len(to_do)
    status.orphans = orphan_keys(records.done, set(found))
    status.models = done_by_model(read_catalog(destination), records, found)
    status.reorganised = read_counts(destination)
    now = time.time()
    status.workers = [worker.to_dict() | {"live": worker.is_live(now)}
                      for worker in read_presence(destination)]
    status.throughput = recent_throughput(status.workers)
    status.audio_to_do_seconds = estimate_audio(source, to_do, durations)
    if not to_do:
        status.eta_seconds = 0.0
    elif status.throughput and status.audio_to_do_seconds is not None:
        status.eta_seconds = status.audio_to_do_seconds / status.throughput
    if queue is not None:
        try:
            status.queue = queue.counts()
        except Exception as error:  # reported, not raised: status must work with the queue down
            status.queue_error = str(error) or type(error).__name__
    if status.queue is not None:
        try:
            status.write_errors = read_write_errors(queue)
        except Exception as error:  # e.g. a policy without sqs:ListQueueTags
            log.warning("cannot read the workers' write errors from the queue's tags: %s", error)
    return status


def done_by_model(entries: list[Entry], records: Records, found: dict[str, str]
                  ) -> dict[str, int]:
    """{engine and model: done recordings}, from the catalog's names (one listing)."""
    labels = {(entry.key, entry.token): entry.model for entry in entries}
    counts: Counter[str] = Counter()
    for key, token in found.items():
        if records.state(key, token) is FileState.DONE:
            counts[labels.get((key, token), UNKNOWN_MODEL)] += 1
    return dict(counts)


def recent_throughput(workers: list[dict], now: float | None = None) -> float | None:
    """Audio seconds finished per wall second, over the window, by all workers together."""
    now = time.time() if now is None else now
    finished = [entry for worker in workers for entry in worker.get("recent", [])
                if now - entry[0] <= TUNING.throughput_window_seconds]
    if not finished:
        return None
    # From the start of the earliest file in the window (its end minus its wall time) to now.
    start = min(entry[0] - entry[2] for entry in finished)
    return sum(entry[1] for entry in finished) / max(now - start, 1e-6)


def estimate_audio(source: Storage, keys: list[str],
                   durations: dict[str, float] | None = None) -> float | None:
    """Audio still to do: probed for a sample of the files, extrapolated for the rest."""
    if not keys:
        return 0.0
    durations = {} if durations is None else durations
    size = TUNING.duration_sample_files
    sample = keys if len(keys) <= size else random.Random(len(keys)).sample(keys, size)
    for key in sample:
        if key not in durations:
            durations[key] = _probe(source, key)
    known = [durations[key] for key in sample if durations[key] is not None]
    if not known:
        return None
    return sum(known) / len(known) * len(keys)


def _probe(source: Storage, key: str) -> float | None:
    try:  # PyAV and numpy (the engines): absent from the slim director image
        from whisper_automation.transcription.audio import probe_duration
        from whisper_automation.transcription.speech import AudioError
    except ImportError:
        return None
    try:
        with source.local_file(key) as path:
            return probe_duration(str(path))
    except (AudioError, StorageError, OSError, ValueError):
        return None


def _failure(destination: Storage, key: str, token: str) -> dict:
    record = read_record(destination, layout.record_name(FAILED, key, token)) or {}
    return {"key": key, "reason": record.get("reason", "unknown"),
            "attempts": record.get("attempts", 0), "final": record.get("final", True),
            "failed_at": record.get("failed_at")}


def _uncovered(destination: Storage, key: str, token: str) -> dict:
    record = read_record(destination, layout.record_name(UNCOVERED, key, token)) or {}
    return {"key": key, "uncovered_seconds": record.get("uncovered_seconds", 0.0),
            "uncovered": record.get("uncovered", []),
            "recovered_seconds": record.get("recovered_seconds", 0.0)}


def collect_status(settings: Settings, durations: dict[str, float] | None = None) -> Status:
    source = open_storage(settings.source)
    found = {key: version.token() for key, version in source.scan(settings.extensions)}
    queue, error = None, None
    try:
        # One attempt, no retries: status answers at once, "not reachable" included.
        queue = WorkQueue.connect(settings, client=sqs_client(settings, max_attempts=1))
    except Exception as failure:  # any failure to reach the queue is reported, not raised
        error = str(failure) or type(failure).__name__
    return build_status(found, source, open_storage(settings.destination), queue, error,
                        durations)
