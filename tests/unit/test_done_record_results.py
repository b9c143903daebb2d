"""Done records keep their JSON: a record written before results were typed (Segment, Word,
Result) reads back to the same dict, renders the same transcripts, and a worker writes the very
same record from the typed Result.

tests/data/done_records/ holds real records and transcripts written by the code of commit
8b6f802 (results as dicts): tiny.en on jfk.flac through each engine, and on the first 30 s of
cfb_06 through faster-whisper (a skipped preamble recovered, long segments cut into cues)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from whisper_automation.storage import records
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.layout import DONE, Version, record_key
from whisper_automation.storage.records import Transcription, write_done
from whisper_automation.transcription.prose import RecordingInfo
from whisper_automation.transcription.speech import Result, Segment
from whisper_automation.transcription.writers import render

RECORDS = Path(__file__).resolve().parents[1] / "data" / "done_records"
NAMES = ["faster-whisper-jfk", "faster-whisper-cfb_06-first30s", "whisper.cpp-jfk",
         "openai-whisper-jfk"]
FORMATS = ("txt", "vtt", "srt", "tsv", "json")
RECORDED = datetime.date(2023, 11, 14)  # the date the stored .md files were rendered with


def stored(name: str) -> dict:
    return json.loads((RECORDS / f"{name}.record.json").read_bytes())


def as_json(data: dict) -> str:
    """As a done record writes it: key order and every value count."""
    return json.dumps(data, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("name", NAMES)
def test_a_done_records_result_reads_back_to_the_same_json(name: str) -> None:
    result = stored(name)["result"]
    assert as_json(Result.from_dict(result).to_dict()) == as_json(result)


@pytest.mark.parametrize("name", NAMES)
def test_a_done_record_written_before_renders_the_same_transcripts(name: str) -> None:
    record = stored(name)
    result = Result.from_dict(record["result"])
    for fmt in FORMATS:
        assert render(result, fmt) == (RECORDS / f"{name}.{fmt}").read_bytes(), fmt
    markdown = render(result, "md", RecordingInfo(record["key"], RECORDED))
    assert markdown == (RECORDS / f"{name}.md").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_a_worker_writes_the_same_done_record_from_the_typed_result(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = stored(name)
    monkeypatch.setattr(records, "time", SimpleNamespace(time=lambda: record["finished_at"]))
    version = Version.from_dict(record["version"])
    destination = LocalStorage(tmp_path)
    write_done(destination, Transcription(
        key=record["key"], version=version, output_stem=record["output_stem"],
        result=Result.from_dict(record["result"]), engine=record["engine"],
        model=record["model"], options=record["options"],
        transcribe_seconds=record["transcribe_seconds"], worker=record["worker"],
        started_at=record["started_at"], fingerprint=record["fingerprint"]), record["formats"])
    written = tmp_path / record_key(DONE, record["key"], version)
    assert written.read_bytes() == (RECORDS / f"{name}.record.json").read_bytes()
    for fmt in FORMATS:
        assert (tmp_path / f"{record['output_stem']}.{fmt}").read_bytes() == \
            (RECORDS / f"{name}.{fmt}").read_bytes(), fmt


WORD = {"word": " Hi", "start": 0.0, "end": 0.4, "probability": 0.9}


@pytest.mark.parametrize("segment", [
    # faster-whisper: decoder scores; no "words" where the segment has none
    {"start": 0.0, "end": 0.4, "text": " Hi", "avg_logprob": -0.3, "no_speech_prob": 0.01,
     "words": [WORD], "id": 0},
    {"start": 0.0, "end": 0.4, "text": " Hi", "avg_logprob": -0.3, "no_speech_prob": 0.01,
     "id": 3},
    # openai-whisper lists "words": [] on a segment it cleared
    {"start": 1.0, "end": 1.0, "text": "", "avg_logprob": -1.2, "no_speech_prob": 0.5,
     "words": [], "id": 1},
    # whisper.cpp: no decoder scores
    {"start": 0.0, "end": 0.4, "text": " Hi", "words": [WORD], "id": 2},
])
def test_every_engines_segment_shape_reads_back_to_the_same_json(segment: dict) -> None:
    assert as_json(Segment.from_dict(segment).to_dict()) == as_json(segment)


def test_a_result_without_coverage_reads_back_without_it() -> None:
    result = {"text": " Hi", "segments": [{"start": 0.0, "end": 0.4, "text": " Hi", "id": 0}],
              "language": "en", "duration": 0.4}
    assert as_json(Result.from_dict(result).to_dict()) == as_json(result)
