"""Workers that cannot write the destination, recorded as tags on the work queue.

Failure records and presence live in the destination, so a worker that cannot write there (a
folder owned by another user, a read-only mount, a bucket without PutObject) would leave no
trace for `status`: it would show `failed 0` and `workers: 0 live` while the workers fail every
file. The queue is the one thing every worker and every status reader share besides the
destination, and status may read its tags (ListQueueTags) without touching a message. So a worker
that fails to write tags the queue with `wa-write-error:<worker id>` = `<unix time> <error>`, and
removes its tag after its next successful write; the director removes them all when it starts
(a new run, often after the cause was fixed). Tag values allow only letters, digits, spaces and
`_ . : / = + - @` (AWS), at most 256 characters: the error text is cut to fit.
"""

from __future__ import annotations

import logging
import re
import time

from whisper_automation.jobs.queue import QueueError, WorkQueue

log = logging.getLogger(__name__)

TAG_PREFIX = "wa-write-error:"
MAX_VALUE = 256
REPORT_EVERY_SECONDS = 15.0  # the same error is re-tagged at most this often (a fresh timestamp)
NOT_ALLOWED = re.compile(r"[^\w .:/=+\-@]+")


def tag_value(reported_at: float, error: str) -> str:
    text = " ".join(NOT_ALLOWED.sub(" ", error).split())
    return f"{int(reported_at)} {text}"[:MAX_VALUE]


def read_write_errors(queue: WorkQueue) -> list[dict]:
    """Every worker's last write error, newest first: {"worker", "error", "reported_at"}."""
    errors = []
    for key, value in queue.tags().items():
        if not key.startswith(TAG_PREFIX):
            continue
        stamp, _, text = value.partition(" ")
        errors.append({"worker": key[len(TAG_PREFIX):], "error": text,
                       "reported_at": float(stamp) if stamp.isdigit() else None})
    return sorted(errors, key=lambda error: -(error["reported_at"] or 0))


def clear_write_errors(queue: WorkQueue) -> None:
    """Forget every worker's write error (the director, at the start of a run)."""
    try:
        queue.remove_tags([key for key in queue.tags() if key.startswith(TAG_PREFIX)])
    except QueueError as error:
        log.warning("could not clear the workers' write errors on the queue: %s", error)


class WriteErrorReporter:
    """One worker's write error on the queue: set on failure, removed after the next success."""

    def __init__(self, queue: WorkQueue, worker_id: str) -> None:
        self._queue = queue
        self._key = (TAG_PREFIX + worker_id)[:128]  # the longest tag key AWS accepts
        self._reported: tuple[str, float] | None = None  # (error, when) of the tag in place

    def failed(self, error: str) -> None:
        now = time.time()
        if self._reported and self._reported[0] == error \
                and now - self._reported[1] < REPORT_EVERY_SECONDS:
            return
        try:
            self._queue.set_tag(self._key, tag_value(now, error))
            self._reported = (error, now)
        except QueueError as failure:  # informative only: never stop the work
            log.warning("could not record the write error on the queue: %s", failure)

    def succeeded(self) -> None:
        if self._reported is None:
            return
        try:
            self._queue.remove_tags([self._key])
            self._reported = None
        except QueueError as failure:
            log.warning("could not clear the write error on the queue: %s", failure)
