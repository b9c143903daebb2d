"""The estimate with a real model: `whisper-automation estimate` on the bundled samples and on a
tree, and `run`'s own estimate before it starts (tiny.en timed on the bundled speech)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.cli import SAMPLES
from whisper_automation.jobs import runner
from whisper_automation.jobs.sizing import Layout
from whisper_automation.settings import TUNING, load_settings

pytestmark = pytest.mark.integration


def estimate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "whisper_automation", "estimate", *args,
                           "--models", "tiny.en", "--device", "auto", "--workers", "2"],
                          capture_output=True, text=True, timeout=600)


def test_estimate_prints_a_per_model_table_for_the_samples() -> None:
    result = estimate(str(SAMPLES))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "8 recording(s), 1.0 min of audio" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("| tiny.en"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:4] == ["cpu", "int8", "2"]  # no GPU here: the CPU, int8, 2 workers
    assert float(cells[4]) > 0.5  # audio seconds per second, both workers
    assert cells[5].endswith("min") and cells[6].startswith("WER 5.4 %")


def test_estimate_of_a_tree_scales_with_its_audio(tmp_path: Path) -> None:
    for year in ("2019", "2020/autumn", "2021/spring/week 1"):
        shutil.copytree(SAMPLES, tmp_path / year)
    result = estimate(str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "24 recording(s), 3.0 min of audio" in result.stdout


def test_run_times_its_own_settings_before_a_long_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "TUNING", dataclasses.replace(
        TUNING, run_estimate_min_audio_seconds=0.0))
    settings = dataclasses.replace(load_settings(environ={}), source=str(SAMPLES))
    plan = SimpleNamespace(jobs=[SimpleNamespace(key="speeches/jfk.flac")])
    text = runner.announce(settings, plan, Layout(workers=2, threads=1))
    first, second = text.splitlines()
    assert first.startswith("to do: 1 recording(s), 0.2 min of audio")
    assert second.startswith("estimate: ") and "with tiny.en on 2 worker(s) (cpu)" in second
