"""The director and a stand-in worker over any storage, for the reorganisation tests (folders in
tests/unit/test_reorganisation.py, S3 in tests/integration/test_s3_reorganisation.py): the worker
writes what a real one writes, without an engine."""

from __future__ import annotations

import dataclasses
import hashlib

from tests.support.faulty_storage import FaultyStorage
from whisper_automation.jobs.director import Plan, carry_out, complete_the_catalog, make_plan
from whisper_automation.jobs.messages import Job
from whisper_automation.settings import Settings, load_settings
from whisper_automation.storage.base import Storage, StorageError
from whisper_automation.storage.fingerprint import fingerprint_hex
from whisper_automation.storage.records import Transcription, write_done
from whisper_automation.transcription.speech import Result, Segment

FORMATS = ("txt", "srt")


def result_for(text: str) -> Result:
    return Result(text=text, language="en", duration=2.0,
                  segments=[Segment(start=0.0, end=2.0, text=text, words=[])])


class DirectorRig:
    """Runs of director + stand-in worker from `source` to `destination`."""

    source: Storage
    destination: Storage

    def __init__(self) -> None:
        self.transcribed: list[str] = []
        self.model = "tiny.en"

    def settings(self, **changes: object) -> Settings:
        return dataclasses.replace(load_settings(environ={}), stable_seconds=0,
                                   formats=FORMATS, model=self.model, **changes)

    def plan(self, **changes: object) -> Plan:
        return make_plan(self.source, self.destination, self.settings(**changes))

    def run(self, **changes: object) -> Plan:
        """Plan, carry out, and 'transcribe' every job as a worker would."""
        complete_the_catalog(self.source, self.destination, self.settings(**changes))
        plan = self.plan(**changes)
        carry_out(self.destination, plan)
        for job in plan.jobs:
            self.transcribe(job)
        return plan

    def transcribe(self, job: Job) -> None:
        data = self.source.read_bytes(job.key) or b""
        self.transcribed.append(job.key)
        write_done(self.destination, Transcription(
            key=job.key, version=job.version, output_stem=job.output_stem,
            result=result_for(f" {data.decode()} by {self.model}"), engine="faster-whisper",
            model=self.model, options={}, transcribe_seconds=1.0, worker="w", started_at=1.0,
            fingerprint=job.fingerprint or fingerprint_hex(hashlib.sha256(data).hexdigest())),
            FORMATS)


class CrashingStorage(FaultyStorage):
    """Fails the n-th call of one method, once."""

    def __init__(self, inner: Storage, method: str, nth: int) -> None:
        super().__init__(inner)
        self.method, self.nth = method, nth

    def __getattr__(self, method: str):
        call = super().__getattr__(method)
        if method != self.method:
            return call

        def crashing(*args, **kwargs):
            if self.calls[method] + 1 == self.nth:
                self.calls[method] += 1
                raise StorageError("injected crash", retryable=False)
            return call(*args, **kwargs)
        return crashing


def forget_fingerprints(destination: Storage) -> int:
    """Make the destination look as an older version left it: done records without a
    fingerprint, no catalog, no marker. Returns how many records were changed."""
    from whisper_automation.storage import layout
    from whisper_automation.storage.backfill import MARKER
    from whisper_automation.storage.records import encode_record, read_record

    changed = 0
    for name in destination.list_keys(f"{layout.STATE_DIR}/catalog"):
        destination.delete(name)
    for name in destination.list_keys(f"{layout.STATE_DIR}/{layout.DONE}"):
        record = read_record(destination, name)
        if record is not None and record.pop("fingerprint", None):
            destination.write_atomic(name, encode_record(record))
            changed += 1
    destination.delete(MARKER)
    return changed
