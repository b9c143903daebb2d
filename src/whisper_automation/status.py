"""`whisper-automation status`: how far along, from the destination's records and the queue's
counters. It never receives or changes a message (GetQueueAttributes only)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from . import layout
from .layout import DONE, FAILED
from .queue import WorkQueue
from .records import list_records, read_record
from .settings import Settings
from .storage import open_storage


@dataclass
class Status:
    recordings: int = 0
    done: int = 0
    failed: int = 0
    to_do: int = 0
    failures: list[dict] = field(default_factory=list)
    queue: dict | None = None
    queue_error: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        lines = [f"recordings {self.recordings}: done {self.done}, to do {self.to_do}, "
                 f"failed {self.failed}"]
        if self.queue is not None:
            lines.append(f"queue: {self.queue['visible']} waiting, {self.queue['in_flight']} "
                         f"in progress, {self.queue['dead']} in the dead-letter queue")
        else:
            lines.append(f"queue not reachable: {self.queue_error}")
        lines += [f"  failed: {f['key']} (attempts {f['attempts']}): {f['reason']}"
                  for f in self.failures]
        return "\n".join(lines)


def collect_status(settings: Settings) -> Status:
    source = open_storage(settings.source)
    destination = open_storage(settings.destination)
    found = {key: version.token() for key, version in source.scan(settings.extensions)}
    done = list_records(destination, DONE)
    failed = list_records(destination, FAILED)
    status = Status(recordings=len(found))
    for key, token in found.items():
        if done.get(key) == token:
            status.done += 1
        elif failed.get(key) == token:
            status.failed += 1
            record = read_record(destination, f"{layout.record_prefix(FAILED, key)}{token}.json")
            status.failures.append({"key": key, "reason": (record or {}).get("reason", "?"),
                                    "attempts": (record or {}).get("attempts", 0)})
        else:
            status.to_do += 1
    try:
        status.queue = WorkQueue.connect(settings).counts()
    except Exception as error:  # any failure to reach the queue is reported, not raised
        status.queue_error = str(error) or type(error).__name__
    return status
