"""The destination refuses writes: read-only, or full.

Property under test: when the transcripts cannot be written, the worker logs a clear error naming
the destination, keeps the message (it comes back after the visibility timeout), and leaves no
record and no half-written file; once the fault is gone the file completes, whether the running
worker takes it up again or a new worker does.

Everything is real: worker and director subprocesses, the faster-whisper tiny.en engine behind the
call-counting wrapper, a LocalStack queue. A read-only destination is a 0o555 folder (a worker
started as root runs without the capabilities that let root write there anyway, see
tests/support/privileges.py); a full disk is emulated with a file-size limit (`prlimit --fsize`):
writes past it fail with EFBIG ("File too large"), as on a full disk.
"""

from __future__ import annotations

import signal

import pytest

from tests.support.privileges import obeying_file_modes
from tests.support.stack import LAYOUT_DIR, Stack, Watched, outcome, wait_for

pytestmark = pytest.mark.integration

WAIT = 300  # generous bound for any one wait; the tests normally take far less
VISIBILITY = 10
KEY = "speeches/jfk.flac"  # 11 s of speech: transcripts of 100-200 bytes, a record over 1 KB
TRANSCRIPTS = ("speeches/jfk.txt", "speeches/jfk.vtt", "speeches/jfk.srt")
PRESENCE_DIR = f"{LAYOUT_DIR}/workers/"


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


def error_line(stack: Stack) -> str:
    return f"cannot write the transcripts of {KEY} to {stack.destination}: "


def test_read_only_destination_keeps_the_message_and_completes_once_writable(
        make_stack, record_row) -> None:
    stack = make_stack(keys=[KEY], WA_VISIBILITY_TIMEOUT=str(VISIBILITY))
    stack.destination.chmod(0o555)
    director = stack.director()
    assert director.returncode == 0, director.stderr
    assert director.stdout.rstrip().endswith("queued 1"), director.stdout

    worker = Watched(stack.start_worker(preexec=obeying_file_modes()))
    worker.wait_for_line(error_line(stack))
    # A clear error that names the file, the destination and the cause ...
    assert "Permission denied" in worker.output, worker.output
    # ... nothing written at all (no transcript, no record, no temporary file) ...
    assert destination_files(stack) == {}, worker.output
    assert stack.calls()[KEY] == 1
    # ... and the message kept (in flight until the visibility timeout), not dead-lettered.
    assert queued_messages(stack) == 1, worker.output
    assert stack.queue_counts(dead_letter=True) == (0, 0)

    # The fault goes away while the worker runs: it takes the message up again when it comes
    # back, with no restart and no director run.
    stack.destination.chmod(0o755)
    log = worker.finish()

    assert stack.done_keys() == {KEY}, log
    assert stack.calls()[KEY] == 2  # the first result could not be kept: transcribed again
    assert set(destination_files(stack)) >= set(TRANSCRIPTS)
    assert stack.failure_records() == {}
    assert stack.partial_files() == []
    assert stack.queue_counts() == (0, 0)
    assert stack.queue_counts(dead_letter=True) == (0, 0)

    record_row(fault="destination read-only",
               injection="worker cannot write the destination (0o555); made writable while "
                         "it runs (the first result cannot be kept: transcribed twice)",
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

    limited = Watched(stack.start_worker(preexec=["prlimit", f"--fsize={limit}", "--"]))
    limited.wait_for_line(error_line(stack))
    assert "File too large" in limited.output, limited.output
    assert stack.calls()[KEY] == 1, limited.output  # the engine-call log survived the limit

    # No record, so the file is not done; the message is kept.
    after_fault = destination_files(stack)
    assert stack.done_keys() == set(), "the done record fit under the limit: lower it"
    assert stack.failure_records() == {}
    assert queued_messages(stack) == 1, limited.output
    assert stack.queue_counts(dead_letter=True) == (0, 0)
    # No half-written file anywhere: nothing but whole transcripts, each written atomically
    # before the record (checked against the final versions below); no temporary leftovers.
    assert set(after_fault) <= set(TRANSCRIPTS), sorted(after_fault)
    assert all(after_fault.values()), after_fault

    # The operator stops the worker on the full disk and starts one where there is room.
    limited.process.send_signal(signal.SIGTERM)
    limited.finish(timeout=60)
    wait_for(lambda: stack.queue_counts() == (1, 0), WAIT, interval=0.5,
             what="the kept message to become visible again")
    assert stack.calls()[KEY] == 1
    log = Watched(stack.start_worker()).finish()

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
                         "stopped, then a worker without the limit (so transcribed twice)",
               **outcome(stack, [KEY]))
