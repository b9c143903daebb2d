"""Storage and queue trouble on the worker's path: what is retried, what keeps the message, and
that nothing ends the worker or its heartbeat (faults injected in real folders and a real moto
queue, see tests/support/worker_rig.py)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import pytest

from tests.support.faulty_storage import FaultyStorage
from tests.support.stack import wait_for
from tests.support.worker_rig import Rig, write_wav
from whisper_automation.jobs import worker
from whisper_automation.jobs.lifecycle import ShutdownGuard
from whisper_automation.jobs.presence import Presence, WorkerState, presence_key, read_presence
from whisper_automation.jobs.queue import QueueError
from whisper_automation.jobs.worker import Outcome
from whisper_automation.storage import layout
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.layout import DONE, STATE_DIR

IDLE_QUEUE = {"visible": 0, "in_flight": 0, "dead": 0}
KEPT_IN_FLIGHT = {"visible": 0, "in_flight": 1, "dead": 0}


def quick_retries(rig: Rig, seconds: float) -> None:
    rig.context.settings = dataclasses.replace(rig.context.settings,
                                               storage_retry_seconds=seconds)


def recorded(rig: Rig) -> list[str]:
    """Every done or failure record in the destination."""
    return [key for key in rig.destination.inner.list_keys(STATE_DIR)
            if not key.startswith(f"{STATE_DIR}/{layout.WORKERS}/")]


def test_a_destination_back_within_the_retry_bound_finishes_the_file_once(rig: Rig) -> None:
    quick_retries(rig, 60)
    write_wav(rig.src / "a.wav")
    job = rig.job("a.wav", "a")
    rig.destination.fail("write_atomic", times=2)  # unreachable for two tries (1 s + 2 s)
    assert rig.handle(rig.deliver(job)) is Outcome.DONE
    assert len(rig.engine.calls) == 1
    assert rig.destination.inner.exists(layout.record_key(DONE, job.key, job.version))
    assert rig.queue.counts() == IDLE_QUEUE


def test_a_destination_that_refuses_writes_keeps_the_message_and_records_nothing(
        rig: Rig) -> None:
    quick_retries(rig, 60)
    write_wav(rig.src / "a.wav")
    rig.destination.fail("write_atomic", retryable=False)  # read-only, full: no retry helps
    started = time.monotonic()
    assert rig.handle(rig.deliver(rig.job("a.wav", "a"))) is Outcome.KEPT
    assert time.monotonic() - started < 30, "a permanent error must not be retried"
    assert rig.destination.calls["write_atomic"] == 1
    assert recorded(rig) == []
    assert rig.queue.counts() == KEPT_IN_FLIGHT  # comes back after the visibility timeout


def test_a_destination_unreachable_beyond_the_bound_keeps_the_message(rig: Rig) -> None:
    quick_retries(rig, 0)
    write_wav(rig.src / "a.wav")
    rig.destination.fail("write_atomic")
    assert rig.handle(rig.deliver(rig.job("a.wav", "a"))) is Outcome.KEPT
    assert recorded(rig) == []
    assert rig.queue.counts() == KEPT_IN_FLIGHT


def test_an_unreachable_source_keeps_the_message_without_a_failure_record(rig: Rig) -> None:
    quick_retries(rig, 0)
    write_wav(rig.src / "a.wav")
    job = rig.job("a.wav", "a")
    rig.source.fail("version")
    assert rig.handle(rig.deliver(job)) is Outcome.KEPT
    assert rig.engine.calls == []
    assert recorded(rig) == []
    assert rig.queue.counts() == KEPT_IN_FLIGHT


def test_a_source_that_refuses_is_a_recorded_failure_retried_by_the_queue(rig: Rig) -> None:
    write_wav(rig.src / "a.wav")
    job = rig.job("a.wav", "a")
    rig.source.fail("version", retryable=False)
    assert rig.handle(rig.deliver(job)) is Outcome.RETRY
    record = rig.failure("a.wav", job.version)
    assert "cannot read the file" in record["reason"] and record["final"] is False
    assert rig.queue.counts() == KEPT_IN_FLIGHT


def test_an_unreachable_done_check_keeps_the_message(rig: Rig) -> None:
    quick_retries(rig, 0)
    write_wav(rig.src / "a.wav")
    rig.destination.fail("exists")
    assert rig.handle(rig.deliver(rig.job("a.wav", "a"))) is Outcome.KEPT
    assert rig.engine.calls == []
    assert rig.queue.counts() == KEPT_IN_FLIGHT


def test_a_final_failure_is_not_dropped_before_its_record_is_written(rig: Rig) -> None:
    quick_retries(rig, 0)
    path = write_wav(rig.src / "gone.wav")
    message = rig.deliver(rig.job("gone.wav", "gone"))
    path.unlink()
    rig.destination.fail("write_atomic")
    assert rig.handle(message) is Outcome.KEPT
    assert rig.queue.counts() == KEPT_IN_FLIGHT  # not deleted: no record says why


def test_a_refused_message_is_kept_while_its_record_cannot_be_written(rig: Rig) -> None:
    quick_retries(rig, 0)
    rig.destination.fail("write_atomic")
    assert rig.handle(rig.deliver(body="not json")) is Outcome.KEPT
    assert rig.queue.counts() == KEPT_IN_FLIGHT


def test_a_queue_that_cannot_delete_a_finished_message_does_not_stop_the_worker(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    write_wav(rig.src / "a.wav")
    job = rig.job("a.wav", "a")

    def unreachable(_message: object) -> None:
        raise QueueError("delete_message: could not connect to the endpoint")

    monkeypatch.setattr(rig.queue, "delete", unreachable)
    message = rig.deliver(job)
    assert rig.handle(message) is Outcome.DONE
    assert rig.queue.counts() == KEPT_IN_FLIGHT
    monkeypatch.undo()
    # When it comes back it is skipped as done, and deleted then.
    rig.queue.release(message)  # as the visibility timeout would
    again = rig.queue.receive(wait_seconds=0)
    assert again is not None
    assert rig.handle(again) is Outcome.SKIPPED
    assert len(rig.engine.calls) == 1
    assert rig.queue.counts() == IDLE_QUEUE


def test_the_heartbeat_covers_the_message_from_receive_to_settling(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that waits for the store still has its message extended, and nothing extends
    it after it is deleted."""
    quick_retries(rig, 60)
    rig.context.heartbeat_seconds = 0.2
    write_wav(rig.src / "a.wav")
    job = rig.job("a.wav", "a")
    extended: list[float] = []
    deleted: list[float] = []
    real_extend, real_delete = rig.queue.extend, rig.queue.delete
    monkeypatch.setattr(rig.queue, "extend", lambda message, seconds: (
        extended.append(time.monotonic()), real_extend(message, seconds)))
    monkeypatch.setattr(rig.queue, "delete", lambda message: (
        deleted.append(time.monotonic()), real_delete(message)))
    rig.destination.fail("write_atomic", times=2)  # the write waits 1 s + 2 s for the store
    assert rig.handle(rig.deliver(job)) is Outcome.DONE
    assert len(extended) >= 3, extended  # beats while the write was retried
    assert max(extended) < deleted[0]


def test_the_loop_survives_storage_faults_and_the_kept_file_completes_when_it_returns(
        rig: Rig) -> None:
    rig.context.settings = dataclasses.replace(rig.context.settings, storage_retry_seconds=0,
                                               idle_exit_seconds=1)
    rig.context.visibility_timeout, rig.context.heartbeat_seconds = 2, 1
    rig.queue.client.set_queue_attributes(QueueUrl=rig.queue.url,
                                          Attributes={"VisibilityTimeout": "2"})
    for name in ("a", "b"):
        write_wav(rig.src / f"{name}.wav")
    rig.queue.send([rig.job("a.wav", "a"), rig.job("b.wav", "b")])
    rig.destination.fail("write_atomic", times=1, retryable=False)  # the first write fails

    handled = worker._loop(rig.context, rig.context.settings, ShutdownGuard())

    assert handled == 3  # a kept, b done, a again (after its visibility timeout) done
    assert sorted(Path(call).name for call in rig.engine.calls) == ["a.wav", "a.wav", "b.wav"]
    for name in ("a", "b"):
        job = rig.job(f"{name}.wav", name)
        assert rig.destination.inner.exists(layout.record_key(DONE, job.key, job.version))
    assert rig.queue.counts() == IDLE_QUEUE


def test_presence_writes_on_its_own_thread_and_survives_an_unwritable_destination(
        tmp_path: Path) -> None:
    destination = FaultyStorage(LocalStorage(tmp_path))
    destination.fail("write_atomic", retryable=False)
    presence = Presence(destination, "w1", {"engine": "stub"})
    presence.start()
    presence.set_state(WorkerState.BUSY, "a.wav")
    wait_for(lambda: destination.calls["write_atomic"] >= 1, 30, what="a presence write")
    assert not (tmp_path / presence_key("w1")).exists()

    destination.heal()
    presence.finished(10.0, 2.0)
    wait_for(lambda: (tmp_path / presence_key("w1")).exists(), 30,
             what="the presence record once the destination is writable")
    presence.stop()
    (entry,) = read_presence(destination)
    assert entry.state is WorkerState.STOPPED and entry.files_done == 1
    assert not entry.is_live(time.time())
    stored = json.loads((tmp_path / presence_key("w1")).read_text())
    assert stored["state"] == "stopped" and stored["recent"][0][1:] == [10.0, 2.0]


def test_presence_never_blocks_the_caller_while_the_destination_hangs(tmp_path: Path) -> None:
    release = threading.Event()

    class HangingStorage(LocalStorage):
        def write_atomic(self, key: str, data: bytes) -> None:
            release.wait(60)
            super().write_atomic(key, data)

    presence = Presence(HangingStorage(tmp_path), "w1", {})
    presence.start()
    try:
        started = time.monotonic()
        for _ in range(100):
            presence.set_state(WorkerState.BUSY, "a.wav")
            presence.set_state(WorkerState.IDLE)
        assert time.monotonic() - started < 30  # would be 200 x 60 s if writes were inline
    finally:
        release.set()
        presence.stop()
