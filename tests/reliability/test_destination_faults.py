"""The destination refuses writes: read-only, or full.

Property under test: when the transcripts cannot be written, the worker logs a clear error naming
the destination, keeps the message (it comes back after the visibility timeout), and leaves no
record and no half-written file; once the fault is gone, a worker completes the file.

Everything is real: worker and director subprocesses, the faster-whisper tiny.en engine behind the
call-counting wrapper, a LocalStack queue. A read-only destination is a root-owned 0o755 folder
and a worker running as `nobody` (root writes anywhere); a full disk is emulated with a file-size
limit (`prlimit --fsize`): writes past it fail with EFBIG ("File too large"), as on a full disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.reliability.conftest import LAYOUT_DIR, Stack, outcome, wait_for

pytestmark = pytest.mark.integration

WAIT = 180  # generous bound for any one wait; the tests normally take far less
VISIBILITY = 10
KEY = "speeches/jfk.flac"  # 11 s of speech: transcripts of 100-200 bytes, a record over 1 KB
TRANSCRIPTS = ("speeches/jfk.txt", "speeches/jfk.vtt", "speeches/jfk.srt")
PRESENCE_DIR = f"{LAYOUT_DIR}/workers/"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def open_root() -> Iterator[Path]:
    """A folder that an unprivileged worker can reach. Not under tmp_path: pytest keeps its base
    folder 0o700 and resets it to that whenever another pytest session starts, so loosening it
    would race with any other session on the machine."""
    root = Path(tempfile.mkdtemp(prefix="wa-destination-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def relocated(stack: Stack, root: Path) -> Stack:
    """The same stack (queue, settings, processes) with its folders and log moved into root."""
    source, destination, log = root / "in", root / "out", root / "engine.log"
    shutil.move(stack.source, source)
    shutil.move(stack.destination, destination)
    return replace(stack, source=source, destination=destination, engine_log=log,
                   env=stack.with_env(WA_SOURCE=str(source), WA_DESTINATION=str(destination),
                                      WA_TEST_ENGINE_LOG=str(log)))


def finish(process: subprocess.Popen, timeout: float = WAIT) -> str:
    """Wait for a worker to exit on its own; return its output (stdout and stderr)."""
    output, _ = process.communicate(timeout=timeout)
    return output


def destination_files(stack: Stack) -> dict[str, bytes]:
    """Every file in the destination, records and hidden temporary files included; not the
    workers' presence files (who is working on what), which say nothing about any recording."""
    return {p.relative_to(stack.destination).as_posix(): p.read_bytes()
            for p in stack.destination.rglob("*")
            if p.is_file() and not p.relative_to(stack.destination).as_posix().startswith(
                PRESENCE_DIR)}


def queued_messages(stack: Stack) -> int:
    visible, in_flight = stack.queue_counts()
    return visible + in_flight


def retry_after_visibility(stack: Stack, preexec: list[str] | None = None) -> str:
    """Wait for the kept message to come back, then let a fresh worker finish the queue."""
    wait_for(lambda: stack.queue_counts() == (1, 0), VISIBILITY + 30, interval=0.5,
             what="the kept message to become visible again")
    worker = stack.start_worker(preexec=preexec)
    output = finish(worker)
    assert worker.returncode == 0, output
    return output


def test_read_only_destination_keeps_the_message_and_completes_once_writable(
        make_stack, record_row, open_root) -> None:
    stack = relocated(make_stack(keys=[KEY], WA_VISIBILITY_TIMEOUT=str(VISIBILITY)), open_root)
    if os.getuid() == 0:  # root writes anywhere: run the worker as nobody
        preexec = NOBODY
        stack.engine_log.touch()
        stack.engine_log.chmod(0o666)
        stack.destination.chmod(0o755)  # owned by root: read-only for nobody
    else:
        preexec = []
        stack.destination.chmod(0o555)
    director = stack.director()
    assert director.returncode == 0, director.stderr
    assert director.stdout.rstrip().endswith("queued 1"), director.stdout

    worker = stack.start_worker(preexec=preexec)
    log = finish(worker)
    assert worker.returncode == 0, log
    # A clear error that names the file and the destination ...
    assert f"cannot write the transcripts of {KEY} to {stack.destination}" in log, log
    assert "Permission denied" in log, log
    # ... nothing written at all (no transcript, no record, no temporary file) ...
    assert destination_files(stack) == {}, log
    assert stack.calls()[KEY] == 1
    # ... and the message kept, not deleted nor dead-lettered.
    assert queued_messages(stack) == 1, log
    assert stack.queue_counts(dead_letter=True) == (0, 0)

    stack.destination.chmod(0o777)
    log = retry_after_visibility(stack, preexec)

    assert stack.done_keys() == {KEY}, log
    assert stack.calls()[KEY] == 2  # the first result could not be kept: transcribed again
    assert set(destination_files(stack)) >= set(TRANSCRIPTS)
    assert stack.failure_records() == {}
    assert stack.partial_files() == []
    assert stack.queue_counts() == (0, 0)
    assert stack.queue_counts(dead_letter=True) == (0, 0)

    record_row(fault="destination read-only",
               injection="worker (as nobody) cannot write the destination; made writable, then "
                         "a new worker",
               **outcome(stack, [KEY]))


def test_full_destination_leaves_no_record_or_half_file_and_completes_later(
        make_stack, record_row) -> None:
    # Between the transcripts (<= 200 bytes each) and the done record (the whole result, > 1 KB),
    # so the transcripts are written and the record is not: the latest point a write can fail.
    limit = 512
    stack = make_stack(keys=[KEY], WA_VISIBILITY_TIMEOUT=str(VISIBILITY))
    director = stack.director()
    assert director.returncode == 0, director.stderr
    assert director.stdout.rstrip().endswith("queued 1"), director.stdout

    worker = stack.start_worker(preexec=["prlimit", f"--fsize={limit}", "--"])
    log = finish(worker)
    assert worker.returncode == 0, log
    assert f"cannot write the transcripts of {KEY} to {stack.destination}" in log, log
    assert "File too large" in log, log
    assert stack.calls()[KEY] == 1, log  # the engine-call log itself survived the limit

    # No record, so the file is not done; the message is kept.
    after_fault = destination_files(stack)
    assert stack.done_keys() == set(), "the done record fit under the limit: lower it"
    assert stack.failure_records() == {}
    assert queued_messages(stack) == 1, log
    assert stack.queue_counts(dead_letter=True) == (0, 0)
    # No half-written file anywhere: nothing but whole transcripts, each written atomically
    # before the record (checked against the final versions below); no temporary leftovers.
    assert set(after_fault) <= set(TRANSCRIPTS), sorted(after_fault)
    assert all(after_fault.values()), after_fault

    log = retry_after_visibility(stack)

    assert stack.done_keys() == {KEY}, log
    assert stack.calls()[KEY] == 2  # exactly once more
    final = destination_files(stack)
    for name, data in after_fault.items():
        assert final[name] == data, f"{name} was incomplete or different before the retry"
    assert all(name in final for name in TRANSCRIPTS), sorted(final)
    # The premise: the transcripts fit under the limit and the done record does not.
    records = [data for name, data in final.items() if name.startswith(f"{LAYOUT_DIR}/done/")]
    assert max(len(final[name]) for name in TRANSCRIPTS) < limit < len(records[0])
    assert stack.partial_files() == []
    assert stack.queue_counts() == (0, 0)

    record_row(fault="destination full",
               injection=f"worker under prlimit --fsize={limit} (EFBIG on the done record); "
                         "then a worker without the limit",
               **outcome(stack, [KEY]))
