"""Bad recordings: each gets a failure record that status shows, and none blocks the others.

Property under test: a recording that cannot be transcribed gets exactly one failure record
(reason, attempts, time, final) that `status` lists; it is retried up to the queue's receive limit
and then lands in the dead-letter queue, or is recorded failed at once when the error is certainly
permanent (the recording itself is bad); other files are transcribed as if it were not there. The
director leaves a failed file alone unless `--retry-failed`, and such a retry carries a new
deduplication id, so SQS (LocalStack keeps ids for 5 minutes, like AWS) does not drop it.

Everything is real: worker and director subprocesses, the faster-whisper tiny.en engine behind the
call-counting wrapper, a LocalStack queue. When the tests run as root, the unreadable-file case
starts its worker without the capabilities that let root ignore file modes
(tests/support/privileges.py).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.cli import SAMPLES
from tests.support.privileges import obeying_file_modes
from tests.support.stack import LAYOUT_DIR, SHORT_CLIPS, Stack, outcome, wait_for
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.layout import Version
from whisper_automation.storage.records import write_failure
from whisper_automation.transcription.engines import EngineOptions, load_engine
from whisper_automation.transcription.speech import Speech, Transcript

pytestmark = pytest.mark.integration

WAIT = 300  # generous bound for any one wait; the tests normally take far less
CRASH_MARK = "engine-crash"  # ExplodingEngine fails on files whose name contains this


class ExplodingEngine:
    """The real faster-whisper engine, except that files named *engine-crash* make it raise a
    plain RuntimeError: a non-audio error, which the worker must treat as possibly passing and
    leave to SQS to retry.

    Plugged in behind the call-counting wrapper (WA_TEST_INNER_ENGINE=
    tests.reliability.test_bad_input:ExplodingEngine; PYTHONPATH holds the repository), so every
    attempt, failed or not, is counted in the engine log. It hears of each recording through
    the counting wrapper's `before_file` (an engine itself only sees windows of speech)."""

    def __init__(self, options: EngineOptions) -> None:
        self._inner = load_engine("faster-whisper", options)
        self.name = self._inner.name
        self.model = self._inner.model
        self.options = self._inner.options
        self.clips_apart = self._inner.clips_apart

    def describe(self) -> dict:
        return self._inner.describe()

    def before_file(self, audio_path: str) -> None:
        if CRASH_MARK in Path(audio_path).name:
            raise RuntimeError("simulated engine crash")

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        return self._inner.transcribe_speech(speech, prompt, language, beam_size)


# --- helpers ---


def finish(process: subprocess.Popen, timeout: float = WAIT) -> str:
    """Wait for a worker to exit on its own; return its output (stdout and stderr)."""
    output, _ = process.communicate(timeout=timeout)
    return output


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "whisper_automation", *args], env=stack.env,
                          capture_output=True, text=True, timeout=WAIT, stdin=subprocess.DEVNULL)


def record_files(stack: Stack, kind: str) -> Counter[str]:
    """How many record files of one kind (done, failed) each key has."""
    folder = stack.destination / LAYOUT_DIR / kind
    return Counter(p.relative_to(folder).as_posix().rpartition("#")[0]
                   for p in folder.rglob("*.json"))


def copy_sample(stack: Stack, sample: str, key: str) -> Path:
    target = stack.source / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / sample, target)
    return target


def head_of(sample: str, fraction: float) -> bytes:
    data = (SAMPLES / sample).read_bytes()
    return data[:int(len(data) * fraction)]


def assert_failure_record(record: dict, key: str, reason: str, started: float) -> None:
    assert reason in record["reason"], (key, record)
    assert record["final"] is True, (key, record)
    assert record["attempts"] >= 1, (key, record)
    assert started <= record["failed_at"] <= time.time(), (key, record)


# --- tests ---


def test_bad_recordings_get_one_clear_failure_record_and_never_block_good_ones(
        make_stack, record_row) -> None:
    # Visibility 10 s: should a bad file wrongly be retried, it shows up within the test.
    stack = make_stack(WA_VISIBILITY_TIMEOUT="10")
    bad = stack.source / "bad"
    bad.mkdir()
    (bad / "empty.wav").write_bytes(b"")
    (bad / "trunc.wav").write_bytes(head_of("lj-speech/chapter-1/LJ001-0003.wav", 0.4))
    (bad / "trunc.flac").write_bytes(head_of("speeches/jfk.flac", 0.5))
    (bad / "random.mp3").write_bytes(random.Random(20240501).randbytes(50_000))
    (bad / "text.wav").write_text("These are meeting notes, not a recording.\n" * 50)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=duration=2:size=64x48:rate=5", "-an", str(bad / "novideo.mp4")],
                   check=True, timeout=60)
    expected_reasons = {
        "bad/empty.wav": "not a readable audio file",
        "bad/random.mp3": "not a readable audio file",
        "bad/text.wav": "not a readable audio file",
        "bad/trunc.wav": "truncated",
        "bad/trunc.flac": "truncated",
        "bad/novideo.mp4": "no audio stream",
    }
    good = set(SHORT_CLIPS)
    started = time.time()

    director = stack.director()
    assert director.returncode == 0, director.stderr
    assert f"found {len(good) + len(expected_reasons)}," in director.stdout, director.stdout
    workers = [stack.start_worker() for _ in range(2)]
    outputs = [finish(worker) for worker in workers]
    log = "\n".join(outputs)
    assert all(worker.returncode == 0 for worker in workers), log

    # Every good file done exactly once, whatever bad files sat in the queue beside it.
    calls = stack.calls()
    assert stack.done_keys() == good, log
    assert all(calls[key] == 1 for key in good), calls
    # Every bad file: exactly one failure record, with its own clear reason, final, timed.
    assert record_files(stack, "failed") == Counter(list(expected_reasons)), log
    records = stack.failure_records()
    for key, reason in expected_reasons.items():
        assert_failure_record(records[key], key, reason, started)
    # Nothing left behind: no message waiting or in flight, none in the dead-letter queue.
    assert stack.queue_counts() == (0, 0)
    assert stack.queue_counts(dead_letter=True) == (0, 0)
    assert stack.partial_files() == []

    # status shows each failure with the recorded reason and attempts.
    status = cli(stack, "status", str(stack.source), str(stack.destination), "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["failed"] == len(expected_reasons) and shown["done"] == len(good), shown
    assert {f["key"]: (f["reason"], f["attempts"]) for f in shown["failures"]} == {
        key: (records[key]["reason"], records[key]["attempts"]) for key in expected_reasons}

    # The next director run leaves them alone ...
    again = stack.director()
    assert again.returncode == 0, again.stderr
    assert f"failed before {len(expected_reasons)}" in again.stdout, again.stdout
    assert again.stdout.rstrip().endswith("queued 0"), again.stdout
    assert stack.queue_counts() == (0, 0)
    # ... and --retry-failed queues exactly those again (each with a new deduplication id: see
    # the test below for why that matters).
    retry = stack.director("--retry-failed")
    assert retry.returncode == 0, retry.stderr
    assert retry.stdout.rstrip().endswith(f"queued {len(expected_reasons)}"), retry.stdout
    wait_for(lambda: stack.queue_counts() == (len(expected_reasons), 0), 60,
             what=f"{len(expected_reasons)} retried messages visible in the queue")
    bodies = receive_all(stack, len(expected_reasons))
    assert sorted(body["key"] for body in bodies) == sorted(expected_reasons)
    assert all(body["retry"] > 0 for body in bodies), bodies

    record_row(fault="bad recordings (empty, truncated wav/flac, random bytes, text, video "
                     "without audio)",
               injection="6 bad files among 5 good ones; 2 workers",
               **outcome(stack, good))


def receive_all(stack: Stack, count: int) -> list[dict]:
    """Receive (without deleting) the queued messages, to look at their bodies."""
    sqs, url = stack.sqs(), stack.queue_url()
    bodies: list[dict] = []
    deadline = time.monotonic() + 60
    while len(bodies) < count and time.monotonic() < deadline:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       VisibilityTimeout=60)
        bodies += [json.loads(item["Body"]) for item in response.get("Messages", [])]
    return bodies


def test_retry_failed_within_the_deduplication_window_is_delivered(make_stack) -> None:
    # SQS (and LocalStack) accept a re-send with a deduplication id seen in the last 5 minutes
    # and never deliver it: a retry must carry a new id. No worker is needed to see it: the
    # message is taken and the failure recorded as a worker would, seconds after the send.
    stack = make_stack(keys=[])
    (stack.source / "bad.wav").write_bytes(b"")
    sent = time.monotonic()
    assert stack.director().stdout.rstrip().endswith("queued 1")
    sqs, url = stack.sqs(), stack.queue_url()
    (item,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=item["ReceiptHandle"])
    first = json.loads(item["Body"])
    write_failure(LocalStorage(stack.destination), first["key"], Version.from_dict(
        first["version"]), "not a readable audio file", attempts=1, final=True, worker="test")
    assert stack.director().stdout.rstrip().endswith("queued 0")  # failed: left alone

    retry = stack.director("--retry-failed")
    assert retry.stdout.rstrip().endswith("queued 1"), retry.stdout
    assert time.monotonic() - sent < 300  # the premise: still inside the window (by far)
    (again,) = receive_all(stack, 1)
    assert again["key"] == "bad.wav" and again["retry"] > 0


def test_file_deleted_or_changed_after_queueing_is_recorded_and_the_new_version_redone(
        make_stack, record_row) -> None:
    stack = make_stack()
    gone = copy_sample(stack, "lj-speech/chapter-1/LJ001-0001.flac", "later/gone.flac")
    changed = copy_sample(stack, "lj-speech/chapter-1/LJ001-0003.wav", "later/changed.wav")
    started = time.time()
    director = stack.director()
    assert director.returncode == 0, director.stderr
    assert director.stdout.rstrip().endswith("queued 7"), director.stdout

    gone.unlink()
    # A re-export: a different, valid recording under the same name (new size and mtime).
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                    str(SAMPLES / "lj-speech/chapter-1/LJ001-0003.wav"), "-t", "4",
                    str(changed)], check=True, timeout=60)
    first = stack.start_worker()
    log = finish(first)
    assert first.returncode == 0, log

    records = stack.failure_records()
    assert set(records) == {"later/gone.flac", "later/changed.wav"}, log
    assert record_files(stack, "failed") == Counter(list(records))
    assert_failure_record(records["later/gone.flac"], "gone", "no longer exists", started)
    assert_failure_record(records["later/changed.wav"], "changed", "changed after it was queued",
                          started)
    calls = stack.calls()
    assert calls["later/gone.flac"] == 0 and calls["later/changed.wav"] == 0, calls
    assert stack.done_keys() == set(SHORT_CLIPS), log

    # The changed file is a new version: the next director run queues it (and only it).
    again = stack.director()
    assert again.returncode == 0, again.stderr
    assert again.stdout.rstrip().endswith("queued 1"), again.stdout
    second = stack.start_worker()
    log = finish(second)
    assert second.returncode == 0, log

    assert stack.done_keys() == {*SHORT_CLIPS, "later/changed.wav"}, log
    assert stack.calls()["later/changed.wav"] == 1
    done = json.loads(next((stack.destination / LAYOUT_DIR / "done").rglob("changed.wav#*"))
                      .read_text(encoding="utf-8"))
    assert done["version"]["size"] == changed.stat().st_size
    assert done["version"]["mtime_ns"] == changed.stat().st_mtime_ns
    assert "later/changed.wav" not in stack.failure_records()  # done forgets the failure
    assert (stack.destination / "later" / "changed.txt").read_text(encoding="utf-8").strip()
    assert stack.queue_counts() == (0, 0)
    assert stack.partial_files() == []

    record_row(fault="file deleted / replaced after it was queued",
               injection="director, then delete one file and re-export another, then worker",
               **outcome(stack, {*SHORT_CLIPS, "later/changed.wav"}))


def test_engine_error_is_retried_up_to_max_receives_then_dead_lettered(
        make_stack, record_row) -> None:
    max_receives, visibility = 2, 10
    stack = make_stack(WA_MAX_RECEIVES=str(max_receives),
                       WA_VISIBILITY_TIMEOUT=str(visibility),
                       WA_TEST_INNER_ENGINE="tests.reliability.test_bad_input:ExplodingEngine",
                       # The worker must still be polling when the message comes back.
                       WA_IDLE_EXIT_SECONDS=str(visibility * 6))
    crash_key = f"crash/{CRASH_MARK}.flac"
    copy_sample(stack, "speeches/jfk.flac", crash_key)
    started = time.time()
    director = stack.director()
    assert director.returncode == 0, director.stderr

    worker = stack.start_worker()
    wait_for(lambda: stack.queue_counts(dead_letter=True)[0] == 1, 90, interval=1,
             what="the crashing file's message in the dead-letter queue")
    worker.send_signal(signal.SIGTERM)
    log = finish(worker, timeout=60)

    assert stack.done_keys() == set(SHORT_CLIPS), log
    calls = stack.calls()
    assert all(calls[key] == 1 for key in SHORT_CLIPS), calls
    assert calls[crash_key] == max_receives, calls
    assert record_files(stack, "failed") == Counter([crash_key]), log
    record = stack.failure_records()[crash_key]
    assert_failure_record(record, crash_key, "RuntimeError: simulated engine crash", started)
    assert record["attempts"] == max_receives, record
    assert stack.queue_counts() == (0, 0)
    assert stack.queue_counts(dead_letter=True) == (1, 0)
    dead = stack.sqs().receive_message(QueueUrl=stack.queue_url(dead_letter=True),
                                       WaitTimeSeconds=1)["Messages"]
    assert json.loads(dead[0]["Body"])["key"] == crash_key
    # A failed file is not queued again by the next director run.
    again = stack.director()
    assert again.returncode == 0, again.stderr
    assert "failed before 1" in again.stdout and again.stdout.rstrip().endswith("queued 0"), \
        again.stdout

    record_row(fault="engine raises a non-audio error on one file, every time",
               injection=f"RuntimeError from the engine; max receives {max_receives}, "
                         f"visibility {visibility} s",
               **outcome(stack, SHORT_CLIPS))


def test_unreadable_file_or_folder_is_retried_then_recorded_and_kept_for_retry(
        make_stack, record_row) -> None:
    # A permission problem is not the recording's fault and can be fixed: it is retried up to
    # the receive limit (not failed at once), never kills the worker, ends in a final record
    # and the dead-letter queue, and comes back with --retry-failed once fixed.
    good = ["lj-speech/chapter-1/LJ001-0002.mp3"]
    stack = make_stack(keys=good, WA_VISIBILITY_TIMEOUT="10", WA_MAX_RECEIVES="2",
                       WA_IDLE_EXIT_SECONDS="4")
    locked_file = copy_sample(stack, "lj-speech/chapter-1/LJ001-0004.m4a", "locked.m4a")
    copy_sample(stack, "speeches/jfk.flac", "private/locked.flac")
    locked = (locked_file, stack.source / "private")
    for path in locked:
        path.chmod(0)
    started = time.time()
    director = stack.director()
    assert director.returncode == 0, director.stderr
    assert director.stdout.rstrip().endswith("queued 3"), director.stdout

    worker = stack.start_worker(preexec=obeying_file_modes())
    log = finish(worker)
    assert worker.returncode == 0, log
    assert stack.done_keys() == set(good), log
    records = stack.failure_records()
    for key in ("locked.m4a", "private/locked.flac"):
        assert_failure_record(records[key], key, "cannot read the file", started)
        assert "ermission denied" in records[key]["reason"], records[key]
        assert records[key]["attempts"] == 2, records[key]
    assert stack.queue_counts(dead_letter=True)[0] == 2
    assert stack.queue_counts() == (0, 0)

    for path in locked:
        path.chmod(0o755)
    retry = stack.director("--retry-failed")
    assert retry.stdout.rstrip().endswith("queued 2"), retry.stdout
    worker = stack.start_worker(preexec=obeying_file_modes())
    log = finish(worker)
    assert worker.returncode == 0, log
    assert stack.done_keys() == {*good, "locked.m4a", "private/locked.flac"}, log
    record_row(fault="recording or folder the worker may not read (permissions)",
               injection="chmod 000 on a file and on a folder (a root worker without "
                         "CAP_DAC_OVERRIDE); max receives 2; then fixed and --retry-failed",
               **outcome(stack, [*good, "locked.m4a", "private/locked.flac"]))
