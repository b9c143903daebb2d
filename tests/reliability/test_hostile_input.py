"""Odd and hostile names and messages: odd names work; a message that would reach outside the
source or the destination is refused and recorded; nothing is ever written outside."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.cli import SAMPLES
from tests.support.stack import outcome

pytestmark = pytest.mark.integration

ODD_NAMES = ["ünïcödé 日本語/ça va.mp3", "with space/two  spaces.mp3",
             "quotes/it's \"quoted\".mp3", "newline/first\nsecond.mp3",
             "dash/-leading dash.mp3", "shell/semi;colon $(touch PWNED) `id`.mp3"]


def tree_snapshot(root: Path, skip: Path) -> set[str]:
    """Every path under root except the destination and the test's own engine-call log."""
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if skip not in p.parents and p != skip and p.name != "engine.log"}


def test_odd_file_names_are_transcribed_into_the_same_odd_names(make_stack, record_row) -> None:
    stack = make_stack(keys=[])
    clip = SAMPLES / "lj-speech/chapter-1/LJ001-0002.mp3"
    for name in ODD_NAMES:
        (stack.source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, stack.source / name)

    assert stack.director().returncode == 0
    worker = stack.start_worker()
    output, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, output

    for name in ODD_NAMES:
        transcript = (stack.destination / name).with_suffix(".txt")
        assert "modern" in transcript.read_text(encoding="utf-8").lower(), name
    assert not list(Path.cwd().glob("PWNED")) and not (stack.source / "PWNED").exists()
    assert stack.calls() == {name: 1 for name in ODD_NAMES}
    record_row(fault="odd names (unicode, spaces, quotes, newline, leading dash, shell "
                     "metacharacters)", injection="six such file names",
               **outcome(stack, ODD_NAMES))


def test_messages_leaving_the_source_are_refused_and_nothing_is_written_outside(
        make_stack, record_row, tmp_path: Path) -> None:
    stack = make_stack(keys=["speeches/jfk.flac"])
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(SAMPLES / "lj-speech/chapter-1/LJ001-0002.mp3", outside / "secret.mp3")
    os.symlink(outside / "secret.mp3", stack.source / "link-out.mp3")
    before = tree_snapshot(tmp_path, stack.destination)

    assert stack.director().returncode == 0  # queues jfk only: the outside link is skipped
    assert stack.queue_counts() == (1, 0)
    size = (outside / "secret.mp3").stat().st_size
    hostile = [
        {"key": "../../etc/passwd", "version": {"size": 1}, "output_stem": "../../etc/passwd"},
        {"key": "/etc/passwd", "version": {"size": 1}, "output_stem": "/etc/passwd"},
        {"key": "link-out.mp3", "version": {"size": size}, "output_stem": "link-out"},
        {"key": "speeches/jfk.flac", "version": {"size": 1}, "output_stem": "../../../evil"},
        "this is not json",
    ]
    sqs, url = stack.sqs(), stack.queue_url()
    for index, body in enumerate(hostile):
        sqs.send_message(QueueUrl=url, MessageBody=body if isinstance(body, str)
                         else json.dumps(body), MessageGroupId=f"hostile{index}",
                         MessageDeduplicationId=f"hostile{index}")

    worker = stack.start_worker()
    output, _ = worker.communicate(timeout=300)

    assert worker.returncode == 0, output
    assert stack.done_keys() == {"speeches/jfk.flac"}
    refused = [record for key, record in stack.failure_records().items()
               if key.startswith("_refused-messages/")]
    assert len(refused) == len(hostile), stack.failure_records()
    reasons = " | ".join(record["reason"] for record in refused)
    for expected in ("../../etc/passwd", "absolute path", "outside", "does not belong",
                     "unreadable message"):
        assert expected in reasons, (expected, reasons)
    assert tree_snapshot(tmp_path, stack.destination) == before, "written outside!"
    assert stack.queue_counts() == (0, 0)
    record_row(fault="hostile messages (../, absolute path, symlink out, escaping output "
                     "name, not JSON)", injection="five messages sent straight to the queue",
               **outcome(stack, ["speeches/jfk.flac"]))
