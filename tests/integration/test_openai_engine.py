"""openai-whisper, the reference engine, with a real checkpoint converted from tiny.en."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import SAMPLES, cli_environment, run_cli
from tests.support.wer import references, word_error_rate
from whisper_automation.transcription.engines import EngineOptions, load_engine
from whisper_automation.transcription.pipeline import transcribe_file

pytestmark = pytest.mark.integration
JFK = SAMPLES / "speeches/jfk.flac"


def test_openai_whisper_transcript_of_jfk_matches_faster_whisper(
        openai_checkpoint: Path) -> None:
    # Same weights, same decoding (beam 5); faster-whisper in float32 like openai-whisper on
    # CPU, and without VAD, which openai-whisper does not have.
    reference_engine = load_engine("openai-whisper", EngineOptions(
        str(openai_checkpoint), "en", "float32", 5, False, 2))
    fast_engine = load_engine("faster-whisper", EngineOptions(
        "tiny.en", "en", "float32", 5, False, 2))

    openai_text = transcribe_file(reference_engine, str(JFK)).text.strip()
    faster_text = transcribe_file(fast_engine, str(JFK)).text.strip()

    assert openai_text == faster_text
    assert word_error_rate(references()["speeches/jfk.flac"], openai_text) < 0.1


def test_run_with_openai_whisper_engine_writes_correct_transcripts(
        openai_checkpoint: Path, tmp_path: Path) -> None:
    destination = tmp_path / "out"
    source = SAMPLES / "lj-speech"
    result = run_cli("run", str(source), str(destination), "--engine", "openai-whisper",
                     "--model", str(openai_checkpoint), env=cli_environment())
    assert result.returncode == 0, result.stderr
    expected = references()
    for path in sorted(source.rglob("*.*")):
        key = "lj-speech/" + path.relative_to(source).as_posix()
        text = (destination / path.relative_to(source)).with_suffix(".txt").read_text()
        assert word_error_rate(expected[key], text) <= 0.25, (key, text)
