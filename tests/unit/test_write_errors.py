"""A worker that cannot write the destination says so on the queue, where status can read it."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from tests.support.worker_rig import Rig, write_wav
from whisper_automation.jobs.queue import WorkQueue
from whisper_automation.jobs.worker import Outcome
from whisper_automation.jobs.write_errors import (
    MAX_VALUE,
    WriteErrorReporter,
    read_write_errors,
    tag_value,
)
from whisper_automation.settings import Settings


def test_a_worker_that_cannot_write_the_destination_tags_the_queue_until_it_can(
        rig: Rig, settings: Settings) -> None:
    write_wav(rig.src / "week1" / "talk.wav")
    job = rig.job("week1/talk.wav", "week1/talk")
    rig.dst.write_text("a file where the destination folder should be")
    message = rig.deliver(job)

    assert rig.handle(message) is Outcome.KEPT

    (error,) = read_write_errors(rig.queue)
    assert error["worker"] == "test-worker"
    assert error["error"].startswith(
        f"cannot write the transcripts of week1/talk.wav to {settings.destination}: ")
    assert abs(error["reported_at"] - time.time()) < 60
    assert rig.queue.counts()["in_flight"] == 1  # the message is kept for a retry

    rig.dst.unlink()
    rig.queue.release(message)  # as if its visibility timeout had passed
    again = rig.queue.receive(wait_seconds=1)
    assert again is not None and rig.handle(again) is Outcome.DONE
    assert read_write_errors(rig.queue) == []


def test_the_director_clears_write_errors_when_a_new_run_starts(
        settings: Settings, tmp_path: Path) -> None:
    from whisper_automation.jobs.director import prepare

    queue = WorkQueue.ensure(settings)
    WriteErrorReporter(queue, "old-worker").failed("cannot write: Permission denied")
    queue.set_tag("owner", "someone else")
    assert [e["worker"] for e in read_write_errors(queue)] == ["old-worker"]
    (tmp_path / "in").mkdir()

    prepare(dataclasses.replace(settings, source=str(tmp_path / "in"),
                                destination=str(tmp_path / "out")))

    assert read_write_errors(queue) == []
    assert queue.tags() == {"owner": "someone else"}


def test_write_error_tag_values_keep_to_what_aws_accepts() -> None:
    error = ("cannot write the transcripts of a/b.mp3 to /data: [Errno 13] Permission denied: "
             "'/data/.whisper-automation/done/a/b.mp3#1-2.json' " + "x" * 400)
    value = tag_value(1700000000.9, error)
    assert value.startswith("1700000000 cannot write the transcripts of a/b.mp3 to /data: "
                            "Errno 13 Permission denied: /data/.whisper-automation/done/a/b.mp3")
    assert len(value) == MAX_VALUE
    assert re.fullmatch(r"[\w .:/=+\-@]*", value)
