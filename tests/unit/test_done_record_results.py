"""Done records keep their JSON: a record written before results were typed (Segment, Word,
Result) reads back to the same dict.

tests/data/done_records/ holds real records and transcripts written by the code of commit
8b6f802 (results as dicts): tiny.en on jfk.flac through each engine, and on the first 30 s of
cfb_06 through faster-whisper (a skipped preamble recovered, long segments cut into cues)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from whisper_automation.transcription.speech import Result, Segment

RECORDS = Path(__file__).resolve().parents[1] / "data" / "done_records"
NAMES = ["faster-whisper-jfk", "faster-whisper-cfb_06-first30s", "whisper.cpp-jfk",
         "openai-whisper-jfk"]


def stored(name: str) -> dict:
    return json.loads((RECORDS / f"{name}.record.json").read_bytes())


def as_json(data: dict) -> str:
    """As a done record writes it: key order and every value count."""
    return json.dumps(data, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("name", NAMES)
def test_a_done_records_result_reads_back_to_the_same_json(name: str) -> None:
    result = stored(name)["result"]
    assert as_json(Result.from_dict(result).to_dict()) == as_json(result)


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
