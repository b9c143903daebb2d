"""A private stack for fault and status tests: one queue on the session's LocalStack, a source
and a destination (folders, or prefixes of a bucket of its own in LocalStack's S3), the
engine-call log, and the worker/director processes started."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from tests.support.cli import SAMPLES, cli_environment
from tests.support.counting_engine import read_call_entries

LAYOUT_DIR = ".whisper-automation"
TRANSCRIPT_SUFFIXES = (".txt", ".vtt", ".srt", ".tsv", ".json")
SHORT_CLIPS = ["lj-speech/chapter-1/LJ001-0002.mp3", "lj-speech/chapter-1/LJ001-0004.m4a",
               "lj-speech/chapter-1/LJ001-0006.opus", "speeches/jfk.flac",
               "librivox/sonnets/sonnet-001-first9s.ogg"]


@dataclass
class Stack:
    """One private queue, a source and a destination, and the engine-call log.

    `source` always holds the recordings on disk (for an S3 source, the copies that were
    uploaded); with `bucket` set, the source or the destination the workers use is in S3:
    s3://<bucket>/in and s3://<bucket>/out. Checks read S3 directly, never through a proxy."""

    env: dict[str, str]
    source: Path
    destination: Path
    engine_log: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    bucket: str | None = None
    s3_source: bool = False
    s3_destination: bool = False

    def with_env(self, **changes: str) -> dict[str, str]:
        return self.env | changes

    def director(self, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "whisper_automation", "director", *args],
                              env=env or self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def start_worker(self, env: dict[str, str] | None = None,
                     preexec: list[str] | None = None) -> subprocess.Popen:
        """A worker process; `preexec` prefixes the command (e.g. setpriv, prlimit)."""
        command = [*(preexec or []), sys.executable, "-m", "whisper_automation", "worker"]
        process = subprocess.Popen(command, env=env or self.env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.processes.append(process)
        return process

    def sqs(self):
        return boto3.client("sqs", endpoint_url=self.env["AWS_ENDPOINT_URL"],
                            region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test")

    def queue_url(self, dead_letter: bool = False) -> str:
        name = self.env["WA_QUEUE_NAME"]
        if dead_letter:
            name = name.removesuffix(".fifo") + "-dlq.fifo"
        return self.sqs().get_queue_url(QueueName=name)["QueueUrl"]

    def queue_counts(self, dead_letter: bool = False) -> tuple[int, int]:
        """(visible, in flight), read-only."""
        attributes = self.sqs().get_queue_attributes(
            QueueUrl=self.queue_url(dead_letter), AttributeNames=["All"])["Attributes"]
        return (int(attributes["ApproximateNumberOfMessages"]),
                int(attributes["ApproximateNumberOfMessagesNotVisible"]))

    def s3(self):
        return boto3.client("s3", endpoint_url=self.env["AWS_ENDPOINT_URL"],
                            region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test")

    def calls(self) -> Counter[str]:
        """How many times the engine transcribed each source key (an S3 source's downloads
        are told apart by their content)."""
        entries = read_call_entries(self.engine_log)
        if self.s3_source:
            keys = {_sha256(path): path.relative_to(self.source).as_posix()
                    for path in self.source.rglob("*") if path.is_file()}
            return Counter(keys[entry["sha256"]] for entry in entries)
        return Counter(Path(entry["path"]).resolve().relative_to(self.source.resolve())
                       .as_posix() for entry in entries)

    def destination_files(self) -> dict[str, bytes]:
        """Every file (object) of the destination, by its key, with its content."""
        if not self.s3_destination:
            return {path.relative_to(self.destination).as_posix(): path.read_bytes()
                    for path in self.destination.rglob("*") if path.is_file()}
        client = self.s3()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                  Prefix="out/")
        return {item["Key"].removeprefix("out/"): client.get_object(
                    Bucket=self.bucket, Key=item["Key"])["Body"].read()
                for page in pages for item in page.get("Contents", [])}

    def done_keys(self) -> set[str]:
        prefix = f"{LAYOUT_DIR}/done/"
        return {key.removeprefix(prefix).rpartition("#")[0]
                for key in self.destination_files() if key.startswith(prefix)}

    def failure_records(self) -> dict[str, dict]:
        prefix = f"{LAYOUT_DIR}/failed/"
        return {key.removeprefix(prefix).rpartition("#")[0]: json.loads(data)
                for key, data in self.destination_files().items() if key.startswith(prefix)}

    def assert_each_transcribed_once(self, keys: list[str], log: str = "") -> None:
        """Every key through the engine exactly once, nothing half-written left in the
        destination, nothing in the dead-letter queue."""
        assert self.calls() == {key: 1 for key in keys}, log or self.calls()
        assert self.partial_files() == []
        assert self.queue_counts(dead_letter=True) == (0, 0)

    def partial_files(self) -> list[str]:
        """Anything in the transcript tree that is not a complete transcript of a done file:
        temporary files with visible names, empty transcripts, transcripts without a record."""
        files = self.destination_files()
        done_stems = {str(Path(key).with_suffix("")) for key in self.done_keys()}
        suspicious = []
        for key, data in files.items():
            path = Path(key)
            if path.parts[0] == LAYOUT_DIR:
                continue
            if path.name.startswith("."):
                if not path.name.endswith(".tmp"):
                    suspicious.append(key)
                continue  # hidden temporary file: never mistaken for a transcript
            if (path.suffix not in TRANSCRIPT_SUFFIXES or not data
                    or str(path.with_suffix("")) not in done_stems):
                suspicious.append(key)
        return suspicious

    def alive(self) -> list[subprocess.Popen]:
        return [process for process in self.processes if process.poll() is None]

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def make_stack(localstack, tmp_path: Path, tiny_model_dir: Path) -> Iterable[Callable[..., Stack]]:
    """make_stack(keys=SHORT_CLIPS, s3_source=False, s3_destination=False, **settings) -> a
    Stack with copies of those samples (uploaded to S3 for an S3 source)."""
    stacks: list[Stack] = []

    def make(keys: Iterable[str] = SHORT_CLIPS, s3_source: bool = False,
             s3_destination: bool = False, **settings: str) -> Stack:
        root = tmp_path / f"stack{len(stacks)}"
        source, destination, log = root / "in", root / "out", root / "engine.log"
        source.mkdir(parents=True)
        for key in keys:
            (source / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SAMPLES / key, source / key)
        destination.mkdir(parents=True)
        defaults = {"WA_SOURCE": str(source), "WA_DESTINATION": str(destination),
                    "WA_QUEUE_NAME": f"fault-{uuid.uuid4().hex[:12]}.fifo",
                    "AWS_ENDPOINT_URL": localstack.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                    "WA_IDLE_EXIT_SECONDS": "4", "WA_THREADS": "1"}
        stack = Stack(cli_environment(log, **defaults), source, destination, log,
                      s3_source=s3_source, s3_destination=s3_destination)
        if s3_source or s3_destination:
            stack.bucket = f"wa-{uuid.uuid4().hex[:12]}"
            stack.s3().create_bucket(Bucket=stack.bucket)
        if s3_source:
            for key in keys:
                stack.s3().upload_file(str(source / key), stack.bucket, f"in/{key}")
            stack.env["WA_SOURCE"] = f"s3://{stack.bucket}/in"
        if s3_destination:
            stack.env["WA_DESTINATION"] = f"s3://{stack.bucket}/out"
        stack.env.update(settings)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop_all()


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.2,
             what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def outcome(stack: Stack, expected: Iterable[str]) -> dict[str, int]:
    """Lost / duplicated / partial counts over the expected keys."""
    expected = set(expected)
    calls = stack.calls()
    return {"files": len(expected),
            "lost": len(expected - stack.done_keys()),
            "duplicated": sum(1 for key in expected if calls[key] > 1),
            "partial": len(stack.partial_files())}


class Watched:
    """A running process whose output is collected as it comes, so a test can act on a log line
    while the process goes on."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for_line(self, text: str, timeout: float = 300) -> None:
        wait_for(lambda: text in self.output or self.process.poll() is not None, timeout,
                 what=f"the process to log {text!r}")
        assert text in self.output, self.output

    def finish(self, timeout: float = 300) -> str:
        """Wait for the process to exit; assert it exited cleanly; return its whole output."""
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        assert self.process.returncode == 0, self.output
        return self.output


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
