"""A private stack for fault and status tests: one queue on the session's LocalStack, a source
and a destination folder, the engine-call log, and the worker/director processes started."""

from __future__ import annotations

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
from tests.support.counting_engine import read_calls

LAYOUT_DIR = ".whisper-automation"
TRANSCRIPT_SUFFIXES = (".txt", ".vtt", ".srt", ".tsv", ".json")
SHORT_CLIPS = ["lj-speech/chapter-1/LJ001-0002.mp3", "lj-speech/chapter-1/LJ001-0004.m4a",
               "lj-speech/chapter-1/LJ001-0006.opus", "speeches/jfk.flac",
               "librivox/sonnets/sonnet-001-first9s.ogg"]


@dataclass
class Stack:
    """One private queue, a source and a destination folder, and the engine-call log."""

    env: dict[str, str]
    source: Path
    destination: Path
    engine_log: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

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

    def calls(self) -> Counter[str]:
        """How many times the engine transcribed each source key."""
        return Counter(Path(call).resolve().relative_to(self.source.resolve()).as_posix()
                       for call in read_calls(self.engine_log))

    def done_keys(self) -> set[str]:
        done = self.destination / LAYOUT_DIR / "done"
        return {p.relative_to(done).as_posix().rpartition("#")[0] for p in done.rglob("*.json")}

    def failure_records(self) -> dict[str, dict]:
        failed = self.destination / LAYOUT_DIR / "failed"
        return {p.relative_to(failed).as_posix().rpartition("#")[0]: json.loads(p.read_text())
                for p in failed.rglob("*.json")}

    def partial_files(self) -> list[Path]:
        """Anything in the transcript tree that is not a complete transcript of a done file:
        temporary files with visible names, empty transcripts, transcripts without a record."""
        done_stems = {str(Path(key).with_suffix("")) for key in self.done_keys()}
        suspicious = []
        for path in self.destination.rglob("*"):
            relative = path.relative_to(self.destination)
            if path.is_dir() or relative.parts[0] == LAYOUT_DIR:
                continue
            if path.name.startswith("."):
                if not path.name.endswith(".tmp"):
                    suspicious.append(path)
                continue  # hidden temporary file: never mistaken for a transcript
            stem = str(relative.with_suffix(""))
            if (path.suffix not in TRANSCRIPT_SUFFIXES or path.stat().st_size == 0
                    or stem not in done_stems):
                suspicious.append(path)
        return suspicious

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def make_stack(localstack, tmp_path: Path, tiny_model_dir: Path) -> Iterable[Callable[..., Stack]]:
    """make_stack(keys=SHORT_CLIPS, **settings) -> a Stack with copies of those samples."""
    stacks: list[Stack] = []

    def make(keys: Iterable[str] = SHORT_CLIPS, **settings: str) -> Stack:
        root = tmp_path / f"stack{len(stacks)}"
        source, destination, log = root / "in", root / "out", root / "engine.log"
        for key in keys:
            (source / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SAMPLES / key, source / key)
        destination.mkdir(parents=True)
        defaults = {"WA_SOURCE": str(source), "WA_DESTINATION": str(destination),
                    "WA_QUEUE_NAME": f"fault-{uuid.uuid4().hex[:12]}.fifo",
                    "AWS_ENDPOINT_URL": localstack.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                    "WA_IDLE_EXIT_SECONDS": "4", "WA_THREADS": "1"}
        env = cli_environment(log, **(defaults | settings))
        stack = Stack(env, source, destination, log)
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
