"""The SQS queue and the worker's handling of one message, against moto's server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import whisper_automation
from tests.support.worker_rig import RESULT, Rig, write_wav
from whisper_automation.jobs.lifecycle import Heartbeat, Shutdown, ShutdownGuard
from whisper_automation.jobs.messages import Job, decode
from whisper_automation.jobs.queue import (
    SEND_BATCH,
    Message,
    QueueError,
    QueueMissing,
    WorkQueue,
    dead_letter_name,
    queue_template,
)
from whisper_automation.jobs.worker import REFUSED_PREFIX, Outcome
from whisper_automation.settings import Settings
from whisper_automation.storage import layout
from whisper_automation.storage.layout import DONE, FAILED, STATE_DIR, Version
from whisper_automation.storage.records import Transcription, read_record, write_done
from whisper_automation.transcription.speech import AudioError
from whisper_automation.transcription.writers import render

TEMPLATE_FILE = Path(whisper_automation.__file__).parent / "create_queue.json"


def attributes(queue: WorkQueue, url: str) -> dict[str, str]:
    return queue.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


# --- the queue ---


def test_queue_template_is_the_packaged_create_queue_json() -> None:
    assert queue_template() == json.loads(TEMPLATE_FILE.read_text())


def test_ensure_creates_queue_and_dead_letter_queue_from_create_queue_json(
        settings: Settings) -> None:
    template = json.loads(TEMPLATE_FILE.read_text())
    queue = WorkQueue.ensure(settings)
    assert queue.url.endswith("/" + settings.queue_name)
    assert queue.dead_letter_url.endswith("/" + dead_letter_name(settings.queue_name))
    assert dead_letter_name(settings.queue_name) == settings.queue_name[:-5] + "-dlq.fifo"

    main = attributes(queue, queue.url)
    for name, value in template["Queue"].items():
        assert main[name] == str(value), name
    assert main["FifoQueue"] == "true" and main["ContentBasedDeduplication"] == "true"
    dead = attributes(queue, queue.dead_letter_url)
    for name, value in template["DeadLetterQueue"].items():
        assert dead[name] == str(value), name
    policy = json.loads(main["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == dead["QueueArn"]
    assert int(policy["maxReceiveCount"]) == template["RedrivePolicy"]["maxReceiveCount"]
    assert queue.visibility_timeout() == int(template["Queue"]["VisibilityTimeout"])
    assert queue.max_receives() == template["RedrivePolicy"]["maxReceiveCount"]
    assert queue.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


def test_ensure_applies_visibility_timeout_and_max_receives_overrides(
        settings: Settings) -> None:
    custom = dataclasses.replace(settings, visibility_timeout=45, max_receives=7)
    queue = WorkQueue.ensure(custom)
    assert attributes(queue, queue.url)["VisibilityTimeout"] == "45"
    assert queue.visibility_timeout() == 45
    assert queue.max_receives() == 7


def test_ensure_twice_keeps_the_queue_and_updates_changed_attributes(
        settings: Settings) -> None:
    first = WorkQueue.ensure(settings)
    first.send([Job("a.mp3", Version(1, 1), "a")])
    second = WorkQueue.ensure(dataclasses.replace(settings, visibility_timeout=30,
                                                  max_receives=2))
    assert (second.url, second.dead_letter_url) == (first.url, first.dead_letter_url)
    assert second.visibility_timeout() == 30
    assert second.max_receives() == 2
    assert second.counts()["visible"] == 1  # the queue was kept, not recreated
    third = WorkQueue.ensure(dataclasses.replace(settings, visibility_timeout=30,
                                                 max_receives=2))
    assert third.url == first.url


def test_connect_needs_the_director_to_have_created_the_queue(settings: Settings) -> None:
    with pytest.raises(QueueMissing, match=settings.queue_name):
        WorkQueue.connect(settings)
    created = WorkQueue.ensure(settings)
    connected = WorkQueue.connect(settings)
    assert (connected.url, connected.dead_letter_url) == (created.url, created.dead_letter_url)


def test_send_uses_batches_of_ten_and_every_job_arrives(settings: Settings) -> None:
    queue = WorkQueue.ensure(settings)
    batches: list[int] = []
    original = queue.client.send_message_batch

    def counting(**kwargs: Any) -> Any:
        batches.append(len(kwargs["Entries"]))
        return original(**kwargs)

    queue.client.send_message_batch = counting
    jobs = [Job(f"dir {i}/ré{i}.mp3", Version(i + 1, i), f"dir {i}/ré{i}") for i in range(25)]
    assert queue.send(jobs) == 25
    assert SEND_BATCH == 10
    assert batches == [10, 10, 5]
    assert queue.counts()["visible"] == 25

    received = []
    for _ in range(10):
        response = queue.client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=0)
        received += [decode(item["Body"]) for item in response.get("Messages", [])]
        if len(received) >= 25:
            break
    assert sorted(received, key=lambda job: job.key) == sorted(jobs, key=lambda job: job.key)


def test_send_of_nothing_sends_no_batch(settings: Settings) -> None:
    queue = WorkQueue.ensure(settings)
    calls: list[Any] = []
    queue.client.send_message_batch = lambda **kwargs: calls.append(kwargs)
    assert queue.send([]) == 0
    assert calls == []


def test_resending_the_same_job_is_deduplicated(settings: Settings) -> None:
    queue = WorkQueue.ensure(settings)
    job = Job("a.mp3", Version(5, 5), "a")
    queue.send([job])
    queue.send([job])
    queue.send([dataclasses.replace(job, retry=1)])  # a deliberate retry is a new message
    assert queue.counts()["visible"] == 2


def test_receive_release_and_delete(settings: Settings) -> None:
    queue = WorkQueue.ensure(settings)
    job = Job("a.mp3", Version(5, 5), "a")
    queue.send([job])
    message = queue.receive(wait_seconds=0)
    assert message is not None
    assert decode(message.body) == job and message.receive_count == 1
    assert queue.counts() == {"visible": 0, "in_flight": 1, "dead": 0}
    assert queue.receive(wait_seconds=0) is None
    queue.release(message)
    again = queue.receive(wait_seconds=0)
    assert again is not None and again.receive_count == 2
    queue.delete(again)
    assert queue.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


# --- the worker ---


def test_worker_transcribes_writes_outputs_and_record_then_deletes(rig: Rig) -> None:
    write_wav(rig.src / "week1" / "talk.wav")
    job = rig.job("week1/talk.wav", "week1/talk")
    assert rig.handle(rig.deliver(job)) is Outcome.DONE
    assert rig.engine.calls == [str(rig.src / "week1" / "talk.wav")]
    assert (rig.dst / "week1" / "talk.txt").read_bytes() == render(RESULT, "txt")
    assert (rig.dst / "week1" / "talk.srt").read_bytes() == render(RESULT, "srt")
    assert not (rig.dst / "week1" / "talk.vtt").exists()
    record = read_record(rig.context.destination,
                         layout.record_key(DONE, job.key, job.version))
    assert record["result"] == RESULT.to_dict()
    assert record["engine"] == "stub" and record["model"] == "stub-model"
    assert record["worker"] == "test-worker"
    assert rig.queue.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


def test_records_name_the_model_by_its_model_name_when_one_is_set(rig: Rig) -> None:
    rig.context.settings = dataclasses.replace(rig.context.settings, model_name="small")
    write_wav(rig.src / "a.wav")
    job = rig.job("a.wav", "a")
    assert rig.handle(rig.deliver(job)) is Outcome.DONE
    record = read_record(rig.context.destination, layout.record_key(DONE, job.key, job.version))
    assert record["model"] == "small"  # not the engine's "stub-model" (a path in Docker)


def test_worker_skips_a_file_that_is_already_done(rig: Rig) -> None:
    write_wav(rig.src / "a.wav")
    job = rig.job("a.wav", "a")
    write_done(rig.context.destination,
               Transcription(job.key, job.version, job.output_stem, RESULT, "stub", "m", {},
                             0.1, "w", 1.0), ["txt"])
    assert rig.handle(rig.deliver(job)) is Outcome.SKIPPED
    assert rig.engine.calls == []
    assert rig.queue.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


@pytest.mark.parametrize("body", [
    json.dumps({"format": 1, "key": "../../etc/passwd", "version": {"size": 1},
                "output_stem": "../../etc/passwd", "retry": 0}),
    json.dumps({"format": 1, "key": "/etc/passwd", "version": {"size": 1},
                "output_stem": "/etc/passwd"}),
    json.dumps({"format": 1, "key": "a.wav", "version": {"size": 1},
                "output_stem": "../../outside/a"}),
    "this is not json",
])
def test_worker_refuses_unsafe_or_unreadable_messages(rig: Rig, body: str) -> None:
    before = rig.files_outside_destination()
    assert rig.handle(rig.deliver(body=body)) is Outcome.REFUSED
    assert rig.engine.calls == []
    assert rig.files_outside_destination() == before
    written = list(rig.context.destination.list_keys())
    assert len(written) == 1
    assert written[0].startswith(f"{STATE_DIR}/{FAILED}/{REFUSED_PREFIX}")
    record = json.loads((rig.dst / written[0]).read_bytes())
    assert record["final"] is True and "refused message" in record["reason"]
    assert rig.queue.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


def test_worker_refuses_a_source_symlink_that_leaves_the_source(rig: Rig) -> None:
    outside = write_wav(rig.tmp_path / "private" / "secret.wav")
    (rig.src / "link.wav").symlink_to(outside)
    stat = outside.stat()
    job = Job("link.wav", Version(stat.st_size, stat.st_mtime_ns), "link")
    assert rig.handle(rig.deliver(job)) is Outcome.REFUSED
    assert rig.engine.calls == []
    written = list(rig.context.destination.list_keys())
    assert len(written) == 1 and written[0].startswith(f"{STATE_DIR}/{FAILED}/{REFUSED_PREFIX}")
    assert rig.queue.counts()["in_flight"] == 0


def test_worker_fails_a_file_deleted_after_it_was_queued(rig: Rig) -> None:
    path = write_wav(rig.src / "gone.wav")
    job = rig.job("gone.wav", "gone")
    message = rig.deliver(job)
    path.unlink()
    assert rig.handle(message) is Outcome.FAILED
    assert rig.engine.calls == []
    record = rig.failure("gone.wav", job.version)
    assert "no longer exists" in record["reason"] and record["final"] is True
    assert rig.queue.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


def test_worker_fails_a_file_changed_after_it_was_queued(rig: Rig) -> None:
    path = write_wav(rig.src / "edit.wav")
    job = rig.job("edit.wav", "edit")
    message = rig.deliver(job)
    with path.open("ab") as stream:
        stream.write(b"\0\0" * 100)
    assert rig.handle(message) is Outcome.FAILED
    assert rig.engine.calls == []
    assert "changed" in rig.failure("edit.wav", job.version)["reason"]
    assert not (rig.dst / "edit.txt").exists()
    assert rig.queue.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


def test_worker_fails_for_good_when_the_engine_reports_bad_audio(rig: Rig) -> None:
    write_wav(rig.src / "bad.wav")
    rig.engine.error = AudioError("cannot decode")
    job = rig.job("bad.wav", "bad")
    assert rig.handle(rig.deliver(job)) is Outcome.FAILED
    record = rig.failure("bad.wav", job.version)
    assert record["final"] is True and "cannot decode" in record["reason"]
    assert record["attempts"] == 1
    assert not (rig.dst / "bad.txt").exists()
    assert rig.queue.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


def test_worker_fails_for_good_on_a_file_without_audio_before_the_engine(rig: Rig) -> None:
    (rig.src / "noise.mp3").write_bytes(b"this is not an mp3 file at all" * 10)
    job = rig.job("noise.mp3", "noise")
    assert rig.handle(rig.deliver(job)) is Outcome.FAILED
    assert rig.engine.calls == []
    assert rig.failure("noise.mp3", job.version)["final"] is True
    assert rig.queue.counts()["in_flight"] == 0


def test_worker_keeps_the_message_for_a_retry_on_an_unexpected_error(rig: Rig) -> None:
    write_wav(rig.src / "flaky.wav")
    rig.engine.error = RuntimeError("out of memory, maybe")
    job = rig.job("flaky.wav", "flaky")
    assert rig.handle(rig.deliver(job)) is Outcome.RETRY
    record = rig.failure("flaky.wav", job.version)
    assert record["final"] is False
    assert "RuntimeError: out of memory, maybe" in record["reason"]
    assert rig.queue.counts() == {"visible": 0, "in_flight": 1, "dead": 0}


def test_unexpected_error_on_the_last_receive_is_recorded_as_final(rig: Rig) -> None:
    write_wav(rig.src / "flaky.wav")
    rig.engine.error = RuntimeError("again")
    rig.context.max_receives = 1
    job = rig.job("flaky.wav", "flaky")
    assert rig.handle(rig.deliver(job)) is Outcome.RETRY
    assert rig.failure("flaky.wav", job.version)["final"] is True
    assert rig.queue.counts()["in_flight"] == 1  # SQS moves it to the dead-letter queue


def test_worker_releases_the_message_when_asked_to_stop(rig: Rig) -> None:
    write_wav(rig.src / "a.wav")
    guard = ShutdownGuard()
    guard.requested.set()
    assert rig.handle(rig.deliver(rig.job("a.wav", "a")), guard) is Outcome.RELEASED
    assert rig.engine.calls == []
    assert rig.queue.counts() == {"visible": 1, "in_flight": 0, "dead": 0}
    assert list(rig.context.destination.list_keys()) == []


# --- lifecycle pieces the worker relies on ---


def test_shutdown_guard_interrupts_only_when_requested() -> None:
    guard = ShutdownGuard()
    with guard.interruptible():
        pass
    guard.requested.set()
    with pytest.raises(Shutdown), guard.interruptible():
        pass  # pragma: no cover


class RecordingQueue:
    """Records visibility extensions; the first `failures` of them raise, as an unreachable
    queue does."""

    def __init__(self, failures: int = 0) -> None:
        self.extended: list[tuple[str, int]] = []
        self.failures = failures
        self.beats = threading.Semaphore(0)

    def extend(self, message: Message, seconds: int) -> None:
        self.beats.release()
        if self.failures:
            self.failures -= 1
            raise QueueError("change_message_visibility: could not connect")
        self.extended.append((message.receipt_handle, seconds))


def test_heartbeat_extends_visibility_until_stopped() -> None:
    queue = RecordingQueue()
    message = Message("{}", "handle-1", 1)
    heartbeat = Heartbeat(queue, message, timeout=90, interval=0.02)  # type: ignore[arg-type]
    with heartbeat:
        assert queue.beats.acquire(timeout=30)
    # Stopped with the block: its thread has ended, so no extension can follow.
    assert not heartbeat._thread.is_alive()
    assert queue.extended[0] == ("handle-1", 90)


def test_heartbeat_keeps_beating_after_the_queue_fails() -> None:
    queue = RecordingQueue(failures=3)
    with Heartbeat(queue, Message("{}", "h", 1), timeout=90,  # type: ignore[arg-type]
                   interval=0.01):
        for _ in range(5):
            assert queue.beats.acquire(timeout=30)
    assert queue.extended[0] == ("h", 90)
