"""The worker: take one file from the queue, transcribe it, write it, delete the message. Repeat.

Receive (long poll) -> validate -> skip if done -> transcribe -> write atomically -> delete, with
a heartbeat keeping the message hidden from other workers from the receive until the message is
settled. A message is deleted only once its outputs and done record (or its final failure
record) are in place, so a worker killed at any point loses nothing: the message comes back
after the visibility timeout. Storage and queue trouble on one message never ends the worker:
what may pass is retried (bounded), the rest leaves the message queued for a later attempt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from enum import Enum
from typing import TypeVar

from whisper_automation.errors import AudioError, Failure, StorageError, UnsafeKey
from whisper_automation.jobs.cores import CpuPool
from whisper_automation.jobs.cpu import available_cpus
from whisper_automation.jobs.devices import DeviceKind, resolve_device
from whisper_automation.jobs.lifecycle import Heartbeat, Shutdown, ShutdownGuard
from whisper_automation.jobs.messages import BadMessage, Job, decode
from whisper_automation.jobs.presence import Presence, WorkerState
from whisper_automation.jobs.queue import Message, QueueError, WorkQueue
from whisper_automation.jobs.write_errors import WriteErrorReporter
from whisper_automation.settings import TUNING, Settings
from whisper_automation.storage import layout
from whisper_automation.storage.base import Storage, open_storage
from whisper_automation.storage.catalog import model_label
from whisper_automation.storage.fingerprint import fingerprint_file
from whisper_automation.storage.layout import DONE
from whisper_automation.storage.records import (
    Transcription,
    is_done,
    read_record,
    write_done,
    write_failure,
)
from whisper_automation.transcription import pipeline
from whisper_automation.transcription.audio import check_complete, declared_duration
from whisper_automation.transcription.engines import Engine, EngineOptions, load_engine
from whisper_automation.transcription.speech import Coverage

log = logging.getLogger(__name__)
T = TypeVar("T")

REFUSED_PREFIX = "_refused-messages/"  # failure records of messages whose key is not usable


class Outcome(Enum):
    """What handling one message came to, and so what becomes of the message."""

    DONE = "done"          # transcribed and written: deleted
    SKIPPED = "skipped"    # already done (a re-queue or a duplicate): deleted
    FAILED = "failed"      # can never work as queued (bad audio, gone, changed): final failure
                           # record, deleted
    RETRY = "retry"        # failed this time but may pass (engine error, unreadable file): failure
                           # record, kept to come back until the receive limit dead-letters it
    KEPT = "kept"          # storage trouble (destination unwritable, a store unreachable beyond
                           # WA_STORAGE_RETRY_SECONDS): nothing recorded, kept to come back
    REFUSED = "refused"    # unsafe or unreadable message: recorded, deleted
    RELEASED = "released"  # asked to stop: visible again at once for another worker


DELETED = frozenset({Outcome.DONE, Outcome.SKIPPED, Outcome.FAILED, Outcome.REFUSED})


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
    cpus: CpuPool | None = None  # shared with the machine's other workers (jobs/cores.py)


class QueueUnavailable(RuntimeError):
    """The queue stayed unreachable for longer than WA_QUEUE_RETRY_SECONDS."""


def start_worker(settings: Settings, guard: ShutdownGuard) -> WorkerContext:
    """Connect, read the queue's timeout and receive limit, load the model once."""
    if not settings.source or not settings.destination:
        raise ValueError("the worker needs WA_SOURCE and WA_DESTINATION")
    # Before the queue: a GPU asked for and missing is a setup error to report at once.
    device, compute_type = resolve_device(settings.engine, settings.device, settings.compute_type)
    queue = with_queue_retry(settings, guard, lambda: WorkQueue.connect(settings))
    timeout = settings.visibility_timeout or \
        with_queue_retry(settings, guard, queue.visibility_timeout)
    max_receives = with_queue_retry(settings, guard, queue.max_receives)
    threads = settings.threads or available_cpus()
    shared = settings.cpu_pool not in (None, "off") and device.kind is DeviceKind.CPU
    cpus = CpuPool.open(settings.cpu_pool) if shared else None
    cpus = cpus if cpus and cpus.count else None  # a folder without tokens shares nothing
    options = replace(EngineOptions.from_settings(settings, threads), device=str(device),
                      compute_type=compute_type,
                      spare_threads=max(0, cpus.count - threads) if cpus else 0)
    engine = load_engine(settings.engine, options)
    if cpus is not None and hasattr(engine, "lender"):
        engine.lender = cpus
    destination = open_storage(settings.destination)
    worker_id = f"{socket.gethostname()}-{os.getpid()}"
    return WorkerContext(
        settings=settings, queue=queue, source=open_storage(settings.source),
        destination=destination, engine=engine, worker_id=worker_id,
        visibility_timeout=timeout,
        heartbeat_seconds=settings.heartbeat_seconds or max(1.0, timeout / 3),
        max_receives=max_receives,
        presence=Presence(destination, worker_id, engine.describe()),
        write_errors=WriteErrorReporter(queue, worker_id), cpus=cpus)


def run_worker(settings: Settings, guard: ShutdownGuard | None = None) -> int:
    """The loop. Returns the number of messages handled."""
    guard = guard or ShutdownGuard()
    context = start_worker(settings, guard)
    description = context.engine.describe()
    log.info("worker %s ready: on %s, %s", context.worker_id, description.get("device", "cpu"),
             description)
    context.presence.set_state(WorkerState.IDLE)
    context.presence.start()
    try:
        return _loop(context, settings, guard)
    finally:
        context.presence.stop()


def _loop(context: WorkerContext, settings: Settings, guard: ShutdownGuard) -> int:
    handled = 0
    idle_since = time.monotonic()
    while not guard.requested.is_set():
        try:
            with guard.waiting():
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
        context.presence.set_state(WorkerState.IDLE)
        handled += 1
        idle_since = time.monotonic()
    return handled


def with_queue_retry(settings: Settings, guard: ShutdownGuard, call: Callable[[], T]) -> T:
    """Run a queue call, retrying with exponential backoff while the queue server is down or
    the queue is missing (a LocalStack restart loses it until the director runs again); give
    up after WA_QUEUE_RETRY_SECONDS with QueueUnavailable."""
    try:
        return retrying(call, QueueError, settings.queue_retry_seconds, guard, "queue")
    except QueueError as error:
        raise QueueUnavailable(
            f"queue {settings.queue_name!r} at {settings.queue_endpoint or 'AWS'} "
            f"unreachable for {settings.queue_retry_seconds:.0f} s, giving up: {error}"
        ) from None


def with_storage_retry(context: WorkerContext, guard: ShutdownGuard, call: Callable[[], T]) -> T:
    """Run a storage call, retrying with exponential backoff while it fails with a retryable
    StorageError, for up to WA_STORAGE_RETRY_SECONDS (the message's heartbeat runs meanwhile);
    a permanent error, or one that lasts longer, is raised."""
    return retrying(call, StorageError, context.settings.storage_retry_seconds, guard,
                    "storage", passing=lambda error: error.transient)


def retrying(call: Callable[[], T], errors: type[Exception], seconds: float,
             guard: ShutdownGuard, what: str,
             passing: Callable[[Exception], bool] = lambda _: True) -> T:
    """Call until it returns, backing off (TUNING.retry_backoff_*) between tries of `errors`
    that `passing` accepts, for up to `seconds`; raise Shutdown if asked to stop meanwhile."""
    deadline = time.monotonic() + seconds
    delay = TUNING.retry_backoff_first_seconds
    while True:
        try:
            return call()
        except errors as error:
            if not passing(error) or time.monotonic() + delay > deadline:
                raise
            log.warning("%s unreachable (%s); retrying in %.0f s", what, error, delay)
            if guard.requested.wait(delay):
                raise Shutdown() from None
            delay = min(delay * 2, TUNING.retry_backoff_max_seconds)


def handle(context: WorkerContext, message: Message, guard: ShutdownGuard) -> Outcome:
    """Process one message, then settle it with the queue. Never raises a storage or queue
    error: they end as an outcome that keeps the message for a later attempt."""
    with Heartbeat(context.queue, message, context.visibility_timeout,
                   context.heartbeat_seconds):
        outcome = work_on(context, message, guard)
    # The heartbeat has stopped: nothing can hide the message again once it is deleted or
    # released.
    settle(context, message, outcome)
    return outcome


def work_on(context: WorkerContext, message: Message, guard: ShutdownGuard) -> Outcome:
    """Everything between receiving a message and settling it (which it never does itself)."""
    name = f"message {message_digest(message)}"
    try:
        try:
            job = decode(message.body, context.settings.extensions)
        except BadMessage as error:
            return refuse(context, message, str(error), guard)
        name = job.key
        return transcribe_job(context, job, message, guard)
    except Shutdown:
        log.info("released %s for another worker", name)
        return Outcome.RELEASED
    except StorageError as error:  # only what retries could not mend
        log.error("%s stays queued for a later attempt: %s", name, error)
        return Outcome.KEPT


def transcribe_job(context: WorkerContext, job: Job, message: Message,
                   guard: ShutdownGuard) -> Outcome:
    """Check, skip, transcribe and write one file; StorageError when a store stays unusable."""
    try:
        problem = with_storage_retry(context, guard, lambda: check_source(context, job))
    except Failure as error:
        return after_failure(context, job, message, error, guard)
    if problem:
        record_failure(context, job, message, problem, True, guard)
        return Outcome.FAILED
    if with_storage_retry(context, guard, lambda: already_done(context, job)):
        log.info("skip %s: already done", job.key)
        return Outcome.SKIPPED
    try:
        with guard.interruptible():
            transcription = transcribe(context, job)
    except Exception as error:  # whatever it is, it ends as an outcome (see verdict)
        return after_failure(context, job, message, error, guard)
    return write_transcription(context, job, transcription, guard)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    unexpected: bool = False  # not one of the project's errors: worth its traceback in the log


def verdict(error: Exception) -> Verdict:
    """The one place where a failure to read or transcribe a recording is classified: what
    becomes of its message, and the reason recorded (errors.py has the vocabulary).

    - transient (a store or queue still unreachable once the retries ran out): kept queued,
      nothing recorded;
    - a key no store may touch (UnsafeKey): the message is refused;
    - the recording itself is bad (AudioError): a final failure;
    - anything else (a folder the worker may not enter, memory, a library hiccup): may pass,
      so retried until the queue's receive limit dead-letters it.
    """
    if isinstance(error, Failure) and error.transient:
        return Verdict(Outcome.KEPT, str(error))
    if isinstance(error, UnsafeKey):
        return Verdict(Outcome.REFUSED, str(error))
    if isinstance(error, AudioError):
        return Verdict(Outcome.FAILED, str(error))
    if isinstance(error, (StorageError, PermissionError)):
        return Verdict(Outcome.RETRY, f"cannot read the file: {error}")
    return Verdict(Outcome.RETRY, f"{type(error).__name__}: {error}",
                   unexpected=not isinstance(error, Failure))


def after_failure(context: WorkerContext, job: Job, message: Message, error: Exception,
                  guard: ShutdownGuard) -> Outcome:
    """Record `error` as its verdict says; called inside the except block (for the traceback)."""
    judged = verdict(error)
    if judged.outcome is Outcome.KEPT:
        log.error("%s stays queued for a later attempt: %s", job.key, judged.reason)
        return Outcome.KEPT
    if judged.outcome is Outcome.REFUSED:
        return refuse(context, message, judged.reason, guard)
    if judged.outcome is Outcome.FAILED:
        record_failure(context, job, message, judged.reason, True, guard)
        return Outcome.FAILED
    if judged.unexpected:
        log.exception("error on %s", job.key)
    return record_retryable(context, job, message, judged.reason, guard)


def write_transcription(context: WorkerContext, job: Job, transcription: Transcription,
                        guard: ShutdownGuard) -> Outcome:
    try:
        with_storage_retry(context, guard, lambda: write_done(
            context.destination, transcription, context.settings.formats))
    except StorageError as error:  # destination full, read-only, gone: keep the message
        log.error("cannot write the transcripts of %s to %s: %s; the file stays queued",
                  job.key, context.settings.destination, error)
        # Not a failure record: that would go to the very destination that refuses writes.
        context.write_errors.failed(f"cannot write the transcripts of {job.key} to "
                                    f"{context.settings.destination}: {error}")
        return Outcome.KEPT
    context.write_errors.succeeded()
    _log_finished(context, transcription)
    context.presence.finished(transcription.result.duration, transcription.transcribe_seconds)
    return Outcome.DONE


def settle(context: WorkerContext, message: Message, outcome: Outcome) -> None:
    """Delete, release or keep the message as its outcome says. A queue that cannot be reached
    only delays things: a finished file's message comes back and is skipped as done; a kept one
    comes back anyway."""
    try:
        if outcome in DELETED:
            context.queue.delete(message)
        elif outcome is Outcome.RELEASED:
            context.queue.release(message)
    except QueueError as error:
        log.warning("could not %s a %s message (%s); it comes back after the visibility "
                    "timeout", "release" if outcome is Outcome.RELEASED else "delete",
                    outcome.value, error)


def check_source(context: WorkerContext, job: Job) -> str | None:
    """Why the queued file cannot be transcribed as queued, or None if it can."""
    current = context.source.version(job.key)
    if current is None:
        return "the file no longer exists (deleted after it was queued)"
    if current != job.version:
        return "the file changed after it was queued; the next director run queues it again"
    return None


def recorded_model(context: WorkerContext) -> str:
    """The model as this worker's records name it: WA_MODEL_NAME where WA_MODEL is a path that
    says nothing (the Docker image's /models/current), else the model the engine loaded."""
    return context.settings.model_name or context.engine.model


def already_done(context: WorkerContext, job: Job) -> bool:
    """Done for this version; for a re-transcription, done by this worker's engine and model
    (a re-delivered message must not redo it once more). The old transcripts stay in place
    until the new ones are written (records.commit_done)."""
    if not is_done(context.destination, job.key, job.version):
        return False
    if not job.redo:
        return True
    record = read_record(context.destination,
                         layout.record_key(DONE, job.key, job.version)) or {}
    return model_label(str(record.get("engine")), str(record.get("model"))) == \
        model_label(context.engine.name, recorded_model(context))


def transcribe(context: WorkerContext, job: Job) -> Transcription:
    started = time.time()
    context.presence.set_state(WorkerState.BUSY, job.key)
    with context.source.local_file(job.key) as path:
        declared = declared_duration(str(path))  # no audio stream, not audio: fail before
        log.info("start %s (%.1f s of audio) on %s", job.key, declared, context.worker_id,
                 extra={"event": "start", "worker": context.worker_id, "key": job.key,
                        "audio_seconds": round(declared, 3)})
        # The worker drives the pipeline; the engine only ever sees windows of speech.
        # Called through the module so that a test double may wrap it in a worker process.
        with context.cpus.hold() if context.cpus else nullcontext():
            result = pipeline.transcribe_file(context.engine, str(path))
        # Fingerprinted here only when the director did not need to (no done recording of
        # the same size): the file is at hand, and hashing is ~1 GB/s against ~1 MB/s of audio
        # transcribed.
        fingerprint = job.fingerprint or fingerprint_file(path)
    check_complete(declared, result.duration)
    return Transcription(key=job.key, version=job.version, output_stem=job.output_stem,
                         result=result, engine=context.engine.name,
                         model=recorded_model(context),
                         options=context.engine.describe(),
                         transcribe_seconds=time.time() - started, worker=context.worker_id,
                         started_at=started, fingerprint=fingerprint)


def refuse(context: WorkerContext, message: Message, reason: str,
           guard: ShutdownGuard) -> Outcome:
    """A message we must not act on (unsafe or unreadable): record it, then it is dropped."""
    digest = message_digest(message)
    log.warning("refused message %s: %s", digest, reason)
    with_storage_retry(context, guard, lambda: write_failure(
        context.destination, REFUSED_PREFIX + digest, None,
        f"refused message: {reason}; body: {message.body[:500]}",
        attempts=message.receive_count, final=True, worker=context.worker_id))
    return Outcome.REFUSED


def message_digest(message: Message) -> str:
    return hashlib.sha256(message.body.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def record_retryable(context: WorkerContext, job: Job, message: Message, reason: str,
                     guard: ShutdownGuard) -> Outcome:
    """A failure that may pass: recorded, and the message is left to come back after the
    visibility timeout, until the queue's receive limit sends it to the dead-letter queue. The
    last attempt's record is final: fix the cause, then `director --retry-failed`."""
    final = bool(context.max_receives and message.receive_count >= context.max_receives)
    record_failure(context, job, message, reason, final, guard)
    return Outcome.RETRY


def record_failure(context: WorkerContext, job: Job, message: Message, reason: str,
                   final: bool, guard: ShutdownGuard) -> None:
    log.warning("failed %s (attempt %d%s): %s", job.key, message.receive_count,
                ", final" if final else "", reason)
    with_storage_retry(context, guard, lambda: write_failure(
        context.destination, job.key, job.version, reason, attempts=message.receive_count,
        final=final, worker=context.worker_id))


def _log_finished(context: WorkerContext, transcription: Transcription) -> None:
    audio = transcription.result.duration
    wall = transcription.transcribe_seconds
    speed = audio / wall if wall else 0.0
    coverage = transcription.result.coverage or Coverage()
    note = ""
    if coverage.recovered_seconds or coverage.uncovered_seconds:
        note = (f"; {coverage.recovered_seconds:.0f} s of skipped speech recovered, "
                f"{coverage.uncovered_seconds:.0f} s left uncovered")
    if coverage.quieter_seconds:
        note += (f" ({coverage.quieter_seconds:.0f} s of it a quieter voice, not transcribed "
                 "again)")
    if coverage.unheard_words:
        note += f"; {coverage.unheard_words} word(s) written with no speech under them dropped"
    log.info("done %s: %.1f s of audio in %.1f s (%.1fx real time) on %s%s", transcription.key,
             audio, wall, speed, context.worker_id, note,
             extra={"event": "done", "worker": context.worker_id, "key": transcription.key,
                    "audio_seconds": round(audio, 3), "wall_seconds": round(wall, 3),
                    "real_time_factor": round(speed, 2),
                    "recovered_seconds": coverage.recovered_seconds,
                    "uncovered_seconds": coverage.uncovered_seconds,
                    "unheard_words": coverage.unheard_words,
                    "quieter_seconds": coverage.quieter_seconds})


def _queue_finished(context: WorkerContext) -> bool:
    """Nothing waiting and nothing in flight. A message in flight elsewhere may come back (its
    worker may have died), so idle workers stay until it is deleted rather than leave it
    with nobody to take it."""
    try:
        counts = context.queue.counts()
    except QueueError:
        return False
    return counts["visible"] == 0 and counts["in_flight"] == 0


def _poll_seconds(settings: Settings) -> int:
    # Long poll, but never past the idle limit, so an idle worker exits close to on time.
    if settings.idle_exit_seconds:
        return max(1, min(TUNING.long_poll_seconds, int(settings.idle_exit_seconds)))
    return TUNING.long_poll_seconds
