"""Our writers against openai-whisper's own (segment-level, as its CLI writes without words).

openai-whisper's `whisper/utils.py` only needs the standard library, so it is loaded on its own:
importing the `whisper` package would import torch and cost seconds.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.require import require
from whisper_automation.transcription.speech import Result, Segment
from whisper_automation.transcription.writers import RENDERERS, format_timestamp, render


@pytest.fixture(scope="module")
def whisper_utils() -> ModuleType:
    spec = importlib.util.find_spec("whisper")
    require(spec is not None and bool(spec.submodule_search_locations),
            "openai-whisper (the reference writers; ./build.sh installs it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "utils.py"
    module_spec = importlib.util.spec_from_file_location("_openai_whisper_utils", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


RESULT = Result(
    text=" Hello there. A --> B\ttab Last words.",
    language="en",
    duration=3725.5,
    segments=[
        Segment(start=0.0, end=2.5, text=" Hello there.", words=[], id=0),
        Segment(start=2.5, end=61.0049, text=" A --> B\ttab  ", words=[], id=1),
        Segment(start=61.0051, end=599.9996, text=" Ünïcödé, 日本語", words=[], id=2),
        Segment(start=3599.9995, end=3725.4567, text=" Last words.", words=[], id=3),
    ],
)


@pytest.mark.parametrize("fmt", ["txt", "vtt", "srt", "tsv", "json"])
def test_output_equals_openai_whisper_writer(fmt: str, whisper_utils: ModuleType,
                                             tmp_path: Path) -> None:
    writer = whisper_utils.get_writer(fmt, str(tmp_path))  # takes whisper's result, a dict
    writer(RESULT.to_dict(), str(tmp_path / "recordings" / "lecture.mp3"), {})
    expected = (tmp_path / f"lecture.{fmt}").read_bytes()
    assert render(RESULT, fmt) == expected


def test_vtt_and_srt_show_hours_past_one_hour_and_escape_arrows() -> None:
    vtt = render(RESULT, "vtt").decode()
    srt = render(RESULT, "srt").decode()
    assert "01:00:00.000 --> 01:02:05.457" in vtt
    assert "4\n01:00:00,000 --> 01:02:05,457\nLast words." in srt
    assert "\nA -> B\ttab\n" in vtt and "\nA -> B\ttab\n" in srt


def test_tsv_replaces_tabs_in_text() -> None:
    lines = render(RESULT, "tsv").decode().splitlines()
    assert lines[0] == "start\tend\ttext"
    assert lines[2] == "2500\t61005\tA --> B tab"


def test_json_parses_back_to_the_result() -> None:
    assert Result.from_dict(json.loads(render(RESULT, "json"))) == RESULT


def test_text_formats_are_utf8_and_json_is_ascii() -> None:
    for fmt in ("txt", "vtt", "srt", "tsv"):
        assert "Ünïcödé, 日本語" in render(RESULT, fmt).decode("utf-8"), fmt
    assert set(RENDERERS) == {"txt", "vtt", "srt", "tsv", "json"}
    assert "\\u65e5" in render(RESULT, "json").decode("ascii")


def test_empty_result_matches_openai_whisper(whisper_utils: ModuleType, tmp_path: Path) -> None:
    empty = Result(text="", segments=[], language="en", duration=0.0)
    for fmt in ("txt", "vtt", "srt", "tsv"):
        whisper_utils.get_writer(fmt, str(tmp_path))(empty.to_dict(), "silence.wav", {})
        assert render(empty, fmt) == (tmp_path / f"silence.{fmt}").read_bytes(), fmt


@pytest.mark.parametrize(("seconds", "hours", "marker", "expected"), [
    (0.0, False, ".", "00:00.000"),
    (59.9996, False, ".", "01:00.000"),
    (3600.0, False, ".", "01:00:00.000"),
    (3.25, True, ",", "00:00:03,250"),
    (-0.5, False, ".", "00:00.000"),
])
def test_format_timestamp(seconds: float, hours: bool, marker: str, expected: str) -> None:
    assert format_timestamp(seconds, hours, marker) == expected
