"""Whisper base (multilingual), installed offline from PyPI in two packages and joined once: the
second model size every accuracy decision is checked on, and the one that hears other languages."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import jiwer
import pytest
from whisper.normalizers import BasicTextNormalizer

from tests.support.audio import JFK
from tests.support.wer import references, word_error_rate
from whisper_automation.transcription.engines import EngineOptions, load_engine
from whisper_automation.transcription.engines.models import SPLIT_MODEL_BYTES, offline_split_model
from whisper_automation.transcription.pipeline import transcribe_file

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parent.parent / "data"
SPANISH = DATA / "mls_es_13697_11991_000000.opus"


@pytest.fixture(scope="module")
def base_engine():
    return load_engine("faster-whisper", EngineOptions("base", None, "int8", 5, True, 2))


def test_base_is_joined_once_from_its_two_packages(tmp_path: Path) -> None:
    joined = offline_split_model("base", cache_dir=tmp_path)
    assert joined is not None
    weights = joined / "model.bin"
    assert weights.stat().st_size == SPLIT_MODEL_BYTES["base"]
    assert (joined / "config.json").is_file() and (joined / "tokenizer.json").is_file()
    made = weights.stat().st_mtime_ns
    assert offline_split_model("base", cache_dir=tmp_path) == joined
    assert weights.stat().st_mtime_ns == made  # reused, not joined again


def test_base_joined_by_several_processes_at_once_comes_out_whole(tmp_path: Path) -> None:
    # A fresh machine's workers (or test processes) load base at the same moment: once, two
    # joined into the same partial file and one failed renaming it (FileNotFoundError).
    with ProcessPoolExecutor(3) as pool:
        folders = list(pool.map(offline_split_model, ["base"] * 3, [tmp_path] * 3))
    assert folders == [tmp_path / "ct2-base"] * 3
    assert (tmp_path / "ct2-base" / "model.bin").stat().st_size == SPLIT_MODEL_BYTES["base"]
    assert not (tmp_path / "ct2-base" / "model.bin.partial").exists()


def test_base_detects_spanish_and_transcribes_it(base_engine) -> None:
    result = transcribe_file(base_engine, str(SPANISH))
    assert result.language == "es"
    clean = BasicTextNormalizer()
    reference = references(DATA / "MANIFEST.tsv")[SPANISH.name]
    assert jiwer.wer(clean(reference), clean(result.text)) <= 0.35, result.text


def test_base_hears_english_as_english(base_engine) -> None:
    result = transcribe_file(base_engine, str(JFK))
    assert result.language == "en"
    assert word_error_rate(references()["speeches/jfk.flac"], result.text) <= 0.05
