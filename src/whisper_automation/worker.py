"""The worker: take one file from the queue, transcribe it, write it, delete the message. Repeat.

Receive (long poll) -> validate -> skip if done -> heartbeat + transcribe -> write atomically ->
delete. A message is deleted only once its outputs and done record are in place, so a worker killed
at any point loses nothing: the message comes back after the visibility timeout.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from . import layout
from .audio import check_complete, declared_duration
from .cpu import available_cpus
from .engines import AudioError, Engine, EngineOptions, load_engine
from .layout import DONE, UnsafeKey
from .lifecycle import Heartbeat, Shutdown, ShutdownGuard
from .messages import BadMessage, Job, decode
from .presence import Presence
from .queue import Message, QueueMissing, WorkQueue
from .records import Outcome, write_done, write_failure
from .settings import Settings
from .storage import Storage, open_storage
from .write_errors import WriteErrorReporter

log = logging.getLogger(__name__)
T = TypeVar("T")

REFUSED_PREFIX = "_refused-messages/"  # failure records of messages whose key is not usable


@dataclass
class WorkerContext:
    settings: Settings
    queue: WorkQueue
    source: Storage
    destination: Storage
    engine: Engine
    worker_id: str
    visibility_timeout: int
    heartbeat_seconds: float
    max_receives: int | None
    presence: Presence
    write_errors: WriteErrorReporter


class QueueUnavailable(RuntimeError):
    """The queue stayed unreachable for longer than WA_QUEUE_RETRY_SECONDS."""


def start_worker(settings: Settings, guard: ShutdownGuard) -> WorkerContext:
    """Connect, read the queue's timeout and receive limit, load the model once."""
    if not settings.source or not settings.destination:
        raise ValueError("the worker needs WA_SOURCE and WA_DESTINATION")
    queue = with_queue_retry(settings, guard, lambda: WorkQueue.connect(settings))
    timeout = settings.visibility_timeout or queue.visibility_timeout()
    threads = settings.threads or available_cpus()
    engine = load_engine(settings.engine, EngineOptions.from_settings(settings, threads))
    destination = open_storage(settings.destination)
    worker_id = f"{socket.gethostname()}-{os.getpid()}"
    return WorkerContext(
        settings=settings, queue=queue, source=open_storage(settings.source),
        destination=destination, engine=engine, worker_id=worker_id,
        visibility_timeout=timeout,
        heartbeat_seconds=settings.heartbeat_seconds or max(1.0, timeout / 3),
        max_receives=queue.max_receives(),
        presence=Presence(destination, worker_id, engine.describe()),
        write_errors=WriteErrorReporter(queue, worker_id))


def run_worker(settings: Settings, guard: ShutdownGuard | None = None) -> int:
    """The loop. Returns the number of messages handled."""
    guard = guard or ShutdownGuard()
    context = start_worker(settings, guard)
    log.info("worker %s ready: %s", context.worker_id, context.engine.describe())
    context.presence.set_state("idle")
    try:
        return _loop(context, settings, guard)
    finally:
        context.presence.set_state("stopped")


def _loop(context: WorkerContext, settings: Settings, guard: ShutdownGuard) -> int:
    handled = 0
    idle_since = time.monotonic()
    while not guard.requested.is_set():
        context.presence.refresh()
        try:
            with guard.interruptible():
                message = with_queue_retry(settings, guard, lambda: context.queue.receive(
                    wait_seconds=_poll_seconds(settings)))
        except Shutdown:
            break
        if message is None:
            idle = time.monotonic() - idle_since
            if settings.idle_exit_seconds and idle >= settings.idle_exit_seconds \
                    and _queue_finished(context):
                log.info("worker %s: queue empty for %.0f s, exiting", context.worker_id, idle)
                break
            continue
        handle(context, message, guard)
        handled += 1
        idle_since = time.monotonic()
    return handled


def with_queue_retry(settings: Settings, guard: ShutdownGuard, call: Callable[[], T]) -> T:
    """Run a queue call, retrying with exponential backoff (1 s doubling to 30 s) while the
    queue server is down or the queue is missing (a LocalStack restart loses it until the
    director runs again); give up after WA_QUEUE_RETRY_SECONDS with QueueUnavailable."""
    deadline = time.monotonic() + settings.queue_retry_seconds
    delay = 1.0
    while True:
        try:
            return call()
        except (BotoCoreError, ClientError, QueueMissing) as error:
            if time.monotonic() + delay > deadline:
                raise QueueUnavailable(
                    f"queue {settings.queue_name!r} at {settings.queue_endpoint or 'AWS'} "
                    f"unreachable for {settings.queue_retry_seconds:.0f} s, giving up: {error}"
                ) from None
            log.warning("queue unreachable (%s); retrying in %.0f s", error, delay)
            if guard.requested.wait(delay):
                raise Shutdown() from None
            delay = min(delay * 2, 30.0)


def handle(context: WorkerContext, message: Message, guard: ShutdownGuard) -> str:
    """Process one message; return what happened: done, skipped, failed, refused or released."""
    try:
        job = decode(message.body)
    except BadMessage as error:
        return refuse(context, message, str(error))
    try:
        problem = check_source(context, job)
    except UnsafeKey as error:
        return refuse(context, message, str(error))
    except OSError as error:  # e.g. a folder we may not enter: fixable, so not final yet
        return record_retryable(context, job, message, f"cannot read the file: {error}")
    if problem:
        record_failure(context, job, message, problem, final=True)
        context.queue.delete(message)
        return "failed"
    if context.destination.exists(layout.record_key(DONE, job.key, job.version)):
        log.info("skip %s: already done", job.key)
        context.queue.delete(message)
        return "skipped"
    try:
        with guard.interruptible(), Heartbeat(context.queue, message, context.visibility_timeout,
                                              context.heartbeat_seconds,
                                              on_beat=context.presence.refresh):
            outcome = transcribe(context, job)
    except Shutdown:
        context.queue.release(message)
        log.info("released %s for another worker", job.key)
        return "released"
    except AudioError as error:  # the recording itself is bad: retrying cannot help
        record_failure(context, job, message, str(error), final=True)
        context.queue.delete(message)
        return "failed"
    except PermissionError as error:
        return record_retryable(context, job, message, f"cannot read the file: {error}")
    except Exception as error:  # maybe passing (memory, a library hiccup): let SQS retry it
        log.exception("error on %s", job.key)
        return record_retryable(context, job, message, f"{type(error).__name__}: {error}")
    try:
        write_done(context.destination, outcome, context.settings.formats)
    except OSError as error:  # destination full, read-only, gone: keep the message for later
        log.error("cannot write the transcripts of %s to %s: %s; the file stays queued",
                  job.key, context.settings.destination, error)
        # Not a failure record: that would go to the very destination that refuses writes.
        context.write_errors.failed(f"cannot write the transcripts of {job.key} to "
                                    f"{context.settings.destination}: {error}")
        return "failed"
    context.write_errors.succeeded()
    _delete(context, message)
    _log_finished(context, outcome)
    context.presence.finished(float(outcome.result.get("duration") or 0.0),
                              outcome.transcribe_seconds)
    return "done"


def check_source(context: WorkerContext, job: Job) -> str | None:
    """Why the queued file cannot be transcribed as queued, or None if it can."""
    current = context.source.version(job.key)
    if current is None:
        return "the file no longer exists (deleted after it was queued)"
    if current != job.version:
        return "the file changed after it was queued; the next director run queues it again"
    return None


def transcribe(context: WorkerContext, job: Job) -> Outcome:
    started = time.time()
    context.presence.set_state("busy", job.key)
    with context.source.local_file(job.key) as path:
        declared = declared_duration(str(path))  # no audio stream, not audio: fail before
        log.info("start %s (%.1f s of audio) on %s", job.key, declared, context.worker_id,
                 extra={"event": "start", "worker": context.worker_id, "key": job.key,
                        "audio_seconds": round(declared, 3)})
        result = context.engine.transcribe(str(path))
    check_complete(declared, float(result.get("duration") or 0.0))
    return Outcome(key=job.key, version=job.version, output_stem=job.output_stem, result=result,
                   engine=context.engine.name, model=context.engine.model,
                   options=context.engine.describe(), transcribe_seconds=time.time() - started,
                   worker=context.worker_id, started_at=started)


def refuse(context: WorkerContext, message: Message, reason: str) -> str:
    """A message we must not act on (unsafe or unreadable): record it and drop it."""
    digest = hashlib.sha256(message.body.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    log.warning("refused message %s: %s", digest, reason)
    write_failure(context.destination, REFUSED_PREFIX + digest, None,
                  f"refused message: {reason}; body: {message.body[:500]}",
                  attempts=message.receive_count, final=True, worker=context.worker_id)
    context.queue.delete(message)
    return "refused"


def record_retryable(context: WorkerContext, job: Job, message: Message, reason: str) -> str:
    """A failure that may pass: recorded, and the message is left to come back after the
    visibility timeout, until the queue's receive limit sends it to the dead-letter queue. The
    last attempt's record is final: fix the cause, then `director --retry-failed`."""
    final = bool(context.max_receives and message.receive_count >= context.max_receives)
    record_failure(context, job, message, reason, final=final)
    return "failed"


def record_failure(context: WorkerContext, job: Job, message: Message, reason: str,
                   final: bool) -> None:
    log.warning("failed %s (attempt %d%s): %s", job.key, message.receive_count,
                ", final" if final else "", reason)
    write_failure(context.destination, job.key, job.version, reason,
                  attempts=message.receive_count, final=final, worker=context.worker_id)


def _log_finished(context: WorkerContext, outcome: Outcome) -> None:
    audio = float(outcome.result.get("duration") or 0.0)
    wall = outcome.transcribe_seconds
    speed = audio / wall if wall else 0.0
    log.info("done %s: %.1f s of audio in %.1f s (%.1fx real time) on %s", outcome.key, audio,
             wall, speed, context.worker_id,
             extra={"event": "done", "worker": context.worker_id, "key": outcome.key,
                    "audio_seconds": round(audio, 3), "wall_seconds": round(wall, 3),
                    "real_time_factor": round(speed, 2)})


def _delete(context: WorkerContext, message: Message) -> None:
    try:
        context.queue.delete(message)
    except (BotoCoreError, ClientError) as error:
        # The outputs and the record are written: when the message comes back, the worker
        # that receives it finds the file done and just deletes it.
        log.warning("could not delete a finished message (%s); it will be skipped as done",
                    error)


def _queue_finished(context: WorkerContext) -> bool:
    """Nothing waiting and nothing in flight. A message in flight elsewhere may come back (its
    worker may have died), so idle workers stay until it is deleted rather than leave it
    with nobody to take it."""
    try:
        counts = context.queue.counts()
    except (BotoCoreError, ClientError):
        return False
    return counts["visible"] == 0 and counts["in_flight"] == 0


def _poll_seconds(settings: Settings) -> int:
    # Long poll, but never past the idle limit, so an idle worker exits close to on time.
    if settings.idle_exit_seconds:
        return max(1, min(20, int(settings.idle_exit_seconds)))
    return 20
