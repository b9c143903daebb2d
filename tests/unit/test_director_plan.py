"""Done/failure records and the director's plan, without a queue."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faulty_storage import FaultyStorage
from whisper_automation.jobs.director import carry_out, make_plan
from whisper_automation.jobs.messages import Job
from whisper_automation.settings import Settings, load_settings
from whisper_automation.storage import records
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.layout import DONE, STATE_DIR, Version, record_key
from whisper_automation.storage.records import (
    Transcription,
    is_done,
    read_record,
    read_records,
    write_done,
)
from whisper_automation.transcription.speech import Result, Segment
from whisper_automation.transcription.writers import render

RESULT = Result(text=" Hello world.", language="en", duration=1.5,
                segments=[Segment(start=0.0, end=1.5, text=" Hello world.", words=[])])


def make_settings(formats: tuple[str, ...] = ("txt", "srt")) -> Settings:
    return dataclasses.replace(load_settings(environ={}), stable_seconds=0, formats=formats)


class Trees:
    def __init__(self, tmp_path: Path) -> None:
        self.src = tmp_path / "src"
        self.dst = tmp_path / "dst"
        self.src.mkdir()
        self.source = LocalStorage(self.src)
        self.destination = LocalStorage(self.dst)

    def add(self, key: str, data: bytes = b"not really audio") -> Path:
        path = self.src / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def version(self, key: str) -> Version:
        version = self.source.version(key)
        assert version is not None
        return version

    def done(self, key: str, stem: str, formats: tuple[str, ...] = ("txt", "srt"),
             version: Version | None = None) -> str:
        outcome = Transcription(key=key, version=version or self.version(key), output_stem=stem,
                          result=RESULT, engine="stub", model="m", options={"beam": 1},
                          transcribe_seconds=0.5, worker="w1", started_at=1.0)
        return write_done(self.destination, outcome, formats)

    def fail(self, key: str, version: Version | None = None) -> str:
        return records.write_failure(self.destination, key, version or self.version(key),
                                     "boom", attempts=1, final=True, worker="w1")

    def plan(self, retry_failed: bool = False, formats: tuple[str, ...] = ("txt", "srt")):
        return make_plan(self.source, self.destination, make_settings(formats), retry_failed)


@pytest.fixture
def trees(tmp_path: Path) -> Trees:
    return Trees(tmp_path)


def test_new_files_become_jobs_with_their_output_stems(trees: Trees) -> None:
    trees.add("week1/lesson1/video0.mp4")
    trees.add("talks/a.mp3")
    trees.add("talks/a.wav")
    trees.add("notes.txt")
    plan = trees.plan()
    jobs = {job.key: job for job in plan.jobs}
    assert set(jobs) == {"week1/lesson1/video0.mp4", "talks/a.mp3", "talks/a.wav"}
    assert jobs["week1/lesson1/video0.mp4"].output_stem == "week1/lesson1/video0"
    assert jobs["talks/a.mp3"].output_stem == "talks/a.mp3"
    assert jobs["talks/a.wav"].output_stem == "talks/a.wav"
    assert jobs["talks/a.mp3"].version == trees.version("talks/a.mp3")
    assert all(job.retry == 0 for job in plan.jobs)
    assert plan.done == [] and plan.failed == [] and plan.busy == [] and plan.rendered == 0
    assert plan.summary() == "found 3, already done 0, queued 3"


def test_the_largest_recordings_are_queued_first(trees: Trees) -> None:
    # Longest first: the run ends when its last file does, so the short ones fill in last.
    trees.add("a_short.mp3", b"x" * 10)
    trees.add("b_long.mp3", b"x" * 1000)
    trees.add("c_middle.mp3", b"x" * 100)
    trees.add("d_middle_too.mp3", b"x" * 100)
    assert [job.key for job in trees.plan().jobs] == \
        ["b_long.mp3", "c_middle.mp3", "d_middle_too.mp3", "a_short.mp3"]


def test_write_done_writes_outputs_and_a_record_with_the_result(trees: Trees) -> None:
    trees.add("week1/a.mp3")
    name = trees.done("week1/a.mp3", "week1/a")
    assert name == record_key(DONE, "week1/a.mp3", trees.version("week1/a.mp3"))
    assert (trees.dst / "week1" / "a.txt").read_bytes() == render(RESULT, "txt")
    assert (trees.dst / "week1" / "a.srt").read_bytes() == render(RESULT, "srt")
    assert not (trees.dst / "week1" / "a.vtt").exists()
    record = read_record(trees.destination, name)
    assert record["result"] == RESULT.to_dict()
    assert record["formats"] == ["txt", "srt"]
    assert record["audio_seconds"] == 1.5
    assert record["version"] == trees.version("week1/a.mp3").to_dict()
    assert read_records(trees.destination).done == {
        "week1/a.mp3": {trees.version("week1/a.mp3").token()}}


def test_a_done_file_is_not_queued_again(trees: Trees) -> None:
    trees.add("a.mp3")
    trees.add("b.mp3")
    trees.done("a.mp3", "a")
    plan = trees.plan()
    assert plan.done == ["a.mp3"]
    assert [job.key for job in plan.jobs] == ["b.mp3"]


@pytest.mark.parametrize("change", ["mtime", "size"])
def test_a_changed_file_is_queued_again(trees: Trees, change: str) -> None:
    path = trees.add("a.mp3")
    trees.done("a.mp3", "a")
    if change == "mtime":
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 5_000_000_000))
    else:
        mtime = path.stat().st_mtime_ns
        path.write_bytes(b"a different and longer recording")
        os.utime(path, ns=(mtime, mtime))
    plan = trees.plan()
    assert plan.done == []
    assert [(job.key, job.version) for job in plan.jobs] == [("a.mp3", trees.version("a.mp3"))]


def test_a_failed_file_is_not_queued_unless_retry_failed(trees: Trees) -> None:
    trees.add("a.mp3")
    trees.fail("a.mp3")
    plan = trees.plan()
    assert plan.failed == ["a.mp3"] and plan.jobs == []
    assert "failed before 1" in plan.summary()

    retried = trees.plan(retry_failed=True)
    assert retried.failed == []
    [job] = retried.jobs
    assert job.key == "a.mp3" and job.retry > 0
    plain = Job("a.mp3", trees.version("a.mp3"), "a")
    assert job.deduplication_id() != plain.deduplication_id()


def test_retry_failed_does_not_mark_never_failed_files_as_retries(trees: Trees) -> None:
    trees.add("a.mp3")
    trees.add("b.mp3")
    trees.fail("a.mp3")
    jobs = {job.key: job for job in trees.plan(retry_failed=True).jobs}
    assert jobs["a.mp3"].retry > 0
    assert jobs["b.mp3"].retry == 0


def test_a_failure_of_an_older_version_does_not_block_the_new_one(trees: Trees) -> None:
    path = trees.add("a.mp3")
    trees.fail("a.mp3")
    path.write_bytes(b"fixed recording, new size")
    plan = trees.plan()
    assert plan.failed == []
    assert [job.key for job in plan.jobs] == ["a.mp3"]
    assert plan.jobs[0].retry == 0


class OrderedListing(LocalStorage):
    """LocalStorage whose listings come in a chosen order (os.walk's order is the disk's)."""

    def __init__(self, root: Path, reverse: bool) -> None:
        super().__init__(root)
        self.reverse = reverse

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return iter(sorted(super().list_keys(prefix), reverse=self.reverse))


def test_failure_of_the_current_version_counts_even_when_an_older_one_failed_too(
        trees: Trees) -> None:
    path = trees.add("a.mp3", b"1")
    trees.fail("a.mp3")
    path.write_bytes(b"22")  # the new version fails too
    trees.fail("a.mp3")
    for reverse in (False, True):
        destination = OrderedListing(trees.dst, reverse)
        plan = make_plan(trees.source, destination, make_settings())
        assert plan.failed == ["a.mp3"] and plan.jobs == [], f"listing reversed={reverse}"


def test_write_done_forgets_a_failure_of_its_version_without_listing(trees: Trees) -> None:
    trees.add("a.mp3")
    trees.fail("a.mp3")
    counting = FaultyStorage(trees.destination)
    outcome = Transcription(key="a.mp3", version=trees.version("a.mp3"), output_stem="a",
                            result=RESULT, engine="stub", model="m", options={},
                            transcribe_seconds=0.5, worker="w1", started_at=1.0)
    write_done(counting, outcome, ("txt",))
    assert is_done(counting, "a.mp3", trees.version("a.mp3"))
    assert counting.calls["list_keys"] == 0  # per-file cost does not grow with the folder
    assert read_records(trees.destination).failed == {}


def test_the_director_sweeps_records_of_older_versions_and_failures_of_done_ones(
        trees: Trees) -> None:
    path = trees.add("a.mp3", b"one")
    trees.add("a.mp3.extra.mp3")  # another key whose name starts like this one
    first = trees.done("a.mp3", "a")
    other = trees.done("a.mp3.extra.mp3", "a.mp3.extra")
    old_failure = trees.fail("a.mp3")
    path.write_bytes(b"version two")
    second = trees.done("a.mp3", "a")
    gone = trees.add("gone.mp3")
    kept = trees.done("gone.mp3", "gone")
    gone.unlink()  # a recording no longer in the source keeps its record
    state = set(trees.destination.list_keys(STATE_DIR))
    assert {first, second, old_failure} <= state  # writing never lists, so never sweeps

    plan = trees.plan()
    assert sorted(plan.stale) == sorted([first, old_failure])
    assert set(trees.destination.list_keys(STATE_DIR)) == state  # planning changes nothing
    carry_out(trees.destination, plan)
    state = set(trees.destination.list_keys(STATE_DIR))
    assert state == {second, other, kept}
    assert read_records(trees.destination).done["a.mp3"] == {trees.version("a.mp3").token()}


def test_done_records_in_nested_folders_are_found(trees: Trees) -> None:
    trees.add("x/y/z/a#1.mp3")
    trees.done("x/y/z/a#1.mp3", "x/y/z/a#1")
    assert trees.plan().done == ["x/y/z/a#1.mp3"]


def test_a_damaged_done_record_counts_as_absent(trees: Trees) -> None:
    trees.add("a.mp3")
    name = trees.done("a.mp3", "a")
    assert read_record(trees.destination, name) is not None
    trees.destination.write_atomic(name, b"{not json")
    assert read_record(trees.destination, name) is None
    assert read_record(trees.destination, name + ".missing") is None


def test_new_formats_are_rendered_from_the_done_record_once(trees: Trees) -> None:
    trees.add("week1/a.mp3")
    trees.done("week1/a.mp3", "week1/a", formats=("txt",))
    assert not (trees.dst / "week1" / "a.srt").exists()

    plan = trees.plan(formats=("txt", "srt"))
    assert plan.to_render == {"week1/a.mp3": ["srt"]}
    assert not (trees.dst / "week1" / "a.srt").exists()  # planning renders nothing
    carry_out(trees.destination, plan)
    assert plan.rendered == 1
    assert plan.jobs == [] and plan.done == ["week1/a.mp3"]
    assert (trees.dst / "week1" / "a.srt").read_bytes() == render(RESULT, "srt")
    assert "new formats rendered from records 1" in plan.summary()

    again = trees.plan(formats=("txt", "srt"))
    assert again.to_render == {}


def test_a_deleted_transcript_is_rendered_again_from_the_record(trees: Trees) -> None:
    trees.add("a.mp3")
    trees.done("a.mp3", "a", formats=("txt", "srt"))
    (trees.dst / "a.txt").unlink()
    plan = trees.plan(formats=("txt", "srt"))
    carry_out(trees.destination, plan)
    assert plan.rendered == 1 and plan.jobs == []
    assert (trees.dst / "a.txt").read_bytes() == render(RESULT, "txt")


def test_failure_record_contents(trees: Trees) -> None:
    trees.add("a.mp3")
    name = trees.fail("a.mp3")
    record = json.loads((trees.dst / name).read_bytes())
    assert record["key"] == "a.mp3" and record["reason"] == "boom"
    assert record["final"] is True and record["attempts"] == 1
    assert read_records(trees.destination).failed == {"a.mp3": {trees.version("a.mp3").token()}}
