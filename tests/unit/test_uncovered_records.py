"""Files with speech left uncovered are recorded beside their done record and shown by status."""

from __future__ import annotations

from pathlib import Path

from whisper_automation.jobs.status import build_status
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.layout import Version
from whisper_automation.storage.records import Transcription, write_done
from whisper_automation.transcription.speech import Coverage, Result, Segment
from whisper_automation.web.statuspage import render_html

VERSION = Version(size=10, mtime_ns=5)


def outcome(uncovered_seconds: float) -> Transcription:
    coverage = Coverage(speech_seconds=300.0, gaps_found=1, recovered_seconds=12.0,
                        uncovered_seconds=uncovered_seconds,
                        uncovered=[(61.0, 70.5)] if uncovered_seconds else [], windows=3)
    result = Result(text=" hello", language="en", duration=300.0, coverage=coverage,
                    segments=[Segment(start=0.0, end=1.0, text=" hello", words=[])])
    return Transcription(key="evening/story.mp3", version=VERSION, output_stem="evening/story",
                   result=result, engine="faster-whisper", model="tiny.en", options={},
                   transcribe_seconds=9.0, worker="w1", started_at=0.0)


def status_of(destination: LocalStorage, tmp_path: Path):
    return build_status({"evening/story.mp3": VERSION.token()}, LocalStorage(tmp_path),
                        destination, None)


def test_uncovered_speech_is_listed_by_status_text_json_and_page(tmp_path: Path) -> None:
    destination = LocalStorage(tmp_path / "out")
    write_done(destination, outcome(uncovered_seconds=9.5), ("txt",))
    status = status_of(destination, tmp_path)
    assert status.done == 1
    assert status.uncovered == [{"key": "evening/story.mp3", "uncovered_seconds": 9.5,
                                 "uncovered": [[61.0, 70.5]], "recovered_seconds": 12.0}]
    assert "speech left uncovered: evening/story.mp3: 10 s at 1m01s-1m10s" in status.to_text()
    assert '"uncovered_seconds": 9.5' in status.to_json()
    assert "1m01s-1m10s" in render_html(status)


def test_a_later_complete_transcript_clears_the_uncovered_record(tmp_path: Path) -> None:
    destination = LocalStorage(tmp_path / "out")
    write_done(destination, outcome(uncovered_seconds=9.5), ("txt",))
    write_done(destination, outcome(uncovered_seconds=0.0), ("txt",))
    assert status_of(destination, tmp_path).uncovered == []
    assert not list((tmp_path / "out/.whisper-automation/uncovered").rglob("*.json"))


def test_the_done_record_keeps_the_coverage(tmp_path: Path) -> None:
    destination = LocalStorage(tmp_path / "out")
    name = write_done(destination, outcome(uncovered_seconds=0.0), ("txt",))
    assert b'"recovered_seconds": 12.0' in (tmp_path / "out" / name).read_bytes()
