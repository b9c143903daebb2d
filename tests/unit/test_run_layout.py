"""How `run` shares the CPUs: workers x threads from cores, memory and settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from whisper_automation.jobs import sizing
from whisper_automation.settings import load_settings

SETTINGS = load_settings(environ={})


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    def set_machine(cpus: int, memory_gb: float) -> None:
        monkeypatch.setattr(sizing, "available_cpus", lambda: cpus)
        monkeypatch.setattr(sizing, "available_memory_gb", lambda: memory_gb)
    return set_machine


def test_auto_gives_one_single_thread_worker_per_cpu(machine) -> None:
    machine(cpus=8, memory_gb=32)
    assert sizing.choose_layout(SETTINGS, jobs=100) == sizing.Layout(workers=8, threads=1)


def test_auto_is_capped_by_memory_per_worker_of_the_model(machine) -> None:
    machine(cpus=8, memory_gb=6)
    small = replace(SETTINGS, model="small")
    assert sizing.choose_layout(small, jobs=100) == sizing.Layout(workers=3, threads=2)


def test_never_more_workers_than_files_and_threads_fill_the_cpus(machine) -> None:
    machine(cpus=8, memory_gb=32)
    assert sizing.choose_layout(SETTINGS, jobs=2) == sizing.Layout(workers=2, threads=4)


def test_explicit_workers_and_threads_win(machine) -> None:
    machine(cpus=8, memory_gb=1)
    chosen = sizing.choose_layout(replace(SETTINGS, workers=3, threads=1), jobs=100)
    assert chosen == sizing.Layout(workers=3, threads=1)


def test_model_paths_and_unknown_names_get_a_memory_estimate() -> None:
    medium = sizing.WORKER_MEMORY_GB["medium"]
    assert sizing.worker_memory_gb("/models/whisper-medium-ct2/") == medium
    assert sizing.worker_memory_gb("tiny.en") == sizing.WORKER_MEMORY_GB["tiny"]
    assert sizing.worker_memory_gb("/opt/custom-model") == sizing.WORKER_MEMORY_GB["small"]


def test_available_memory_reads_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 24000000 kB\nMemAvailable: 8388608 kB\n")
    assert sizing.available_memory_gb(str(meminfo)) == 8.0
