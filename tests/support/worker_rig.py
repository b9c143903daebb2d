"""One worker's context against a real queue (moto's server) and real folders, with faults that
can be switched on in its storage, for the unit tests of the worker's handling of a message."""

from __future__ import annotations

import wave
from pathlib import Path

from tests.support.faulty_storage import FaultyStorage
from whisper_automation.jobs.lifecycle import ShutdownGuard
from whisper_automation.jobs.messages import Job
from whisper_automation.jobs.presence import Presence
from whisper_automation.jobs.queue import Message, WorkQueue
from whisper_automation.jobs.worker import Outcome, WorkerContext, handle
from whisper_automation.jobs.write_errors import WriteErrorReporter
from whisper_automation.settings import Settings
from whisper_automation.storage import layout
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.layout import FAILED, Version
from whisper_automation.storage.records import read_record
from whisper_automation.transcription.speech import Result, Segment


def write_wav(path: Path, seconds: float = 0.2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(16000)
        stream.writeframes(b"\0\0" * int(16000 * seconds))
    return path


RESULT = Result(text=" Hi there.", language="en", duration=0.2,
                segments=[Segment(start=0.0, end=0.2, text=" Hi there.", words=[])])


class StubEngine:
    """No model at all: the `rig` fixture puts `transcribe_file` in place of the pipeline's, so
    each recording the worker transcribes is recorded and answered with RESULT (or `error`)."""

    name = "stub"
    model = "stub-model"

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls: list[str] = []

    def describe(self) -> dict:
        return {"engine": self.name, "model": self.model}

    def transcribe_file(self, engine: object, audio_path: str) -> Result:
        assert engine is self, "the worker transcribes with its own engine"
        self.calls.append(audio_path)
        if self.error is not None:
            raise self.error
        return RESULT


class Rig:
    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.src = tmp_path / "src"
        self.dst = tmp_path / "dst"
        self.src.mkdir()
        self.queue = WorkQueue.ensure(settings)
        self.engine = StubEngine()
        self.source = FaultyStorage(LocalStorage(self.src))
        self.destination = FaultyStorage(LocalStorage(self.dst))
        self.context = WorkerContext(
            settings=settings, queue=self.queue, source=self.source,
            destination=self.destination, engine=self.engine, worker_id="test-worker",
            visibility_timeout=60, heartbeat_seconds=30, max_receives=3,
            presence=Presence(self.destination, "test-worker", {}),
            write_errors=WriteErrorReporter(self.queue, "test-worker"))

    def job(self, key: str, stem: str) -> Job:
        version = self.context.source.version(key)
        assert version is not None
        return Job(key, version, stem)

    def deliver(self, job: Job | None = None, body: str | None = None) -> Message:
        if job is not None:
            self.queue.send([job])
        else:
            self.queue.client.send_message(QueueUrl=self.queue.url, MessageBody=body,
                                           MessageGroupId="raw")
        message = self.queue.receive(wait_seconds=0)
        assert message is not None
        return message

    def handle(self, message: Message, guard: ShutdownGuard | None = None) -> Outcome:
        return handle(self.context, message, guard or ShutdownGuard())

    def failure(self, key: str, version: Version) -> dict:
        record = read_record(self.context.destination, layout.record_key(FAILED, key, version))
        assert record is not None, list(self.context.destination.list_keys())
        return record

    def files_outside_destination(self) -> set[str]:
        return {str(path) for path in self.tmp_path.rglob("*")
                if self.dst not in path.parents and path != self.dst}
