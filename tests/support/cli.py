"""Running the `whisper-automation` command as a subprocess, with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def cli_environment(engine_log: Path | None = None, **settings: str) -> dict[str, str]:
    """Environment for a `whisper-automation` subprocess: no stray WA_/AWS settings, the repo on
    the path (for the counting engine), and the given settings."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("WA_", "AWS_"))}
    # This checkout's src first: the package under test, even where the installed one is
    # another checkout's (an editable install shared between worktrees).
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
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
