"""CPU quota detection from cgroup files (paths passed in, so no real cgroup is needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisper_automation.jobs import cpu
from whisper_automation.jobs.cpu import available_cpus, cgroup_cpu_limit


def limit(tmp_path: Path, v2: str | None = None, quota: str | None = None,
          period: str | None = None) -> float | None:
    paths = {"v2": tmp_path / "cpu.max", "quota": tmp_path / "cpu.cfs_quota_us",
             "period": tmp_path / "cpu.cfs_period_us"}
    for name, text in (("v2", v2), ("quota", quota), ("period", period)):
        if text is not None:
            paths[name].write_text(text)
    return cgroup_cpu_limit(paths["v2"], paths["quota"], paths["period"])


def test_v2_without_quota_is_no_limit(tmp_path: Path) -> None:
    assert limit(tmp_path, v2="max 100000\n") is None


def test_v2_quota_in_cpus(tmp_path: Path) -> None:
    assert limit(tmp_path, v2="150000 100000\n") == 1.5
    (tmp_path / "b").mkdir()
    assert limit(tmp_path / "b", v2="200000 50000") == 4.0


def test_v2_wins_over_v1(tmp_path: Path) -> None:
    assert limit(tmp_path, v2="50000 100000", quota="400000", period="100000") == 0.5


def test_v1_quota_and_period(tmp_path: Path) -> None:
    assert limit(tmp_path, quota="250000\n", period="100000\n") == 2.5


def test_v1_unlimited_quota(tmp_path: Path) -> None:
    assert limit(tmp_path, quota="-1\n", period="100000\n") is None


def test_missing_files_mean_no_limit(tmp_path: Path) -> None:
    assert limit(tmp_path) is None
    assert limit(tmp_path, quota="100000") is None  # no period file


def test_garbage_falls_back_to_v1_then_none(tmp_path: Path) -> None:
    assert limit(tmp_path, v2="garbage", quota="300000", period="100000") == 3.0
    other = tmp_path / "other"
    other.mkdir()
    assert limit(other, v2="", quota="lots", period="100000") is None


def test_available_cpus_is_at_least_one() -> None:
    cpus = available_cpus()
    assert isinstance(cpus, int) and cpus >= 1
    assert cpus <= cpu.affinity_cpus()


@pytest.mark.parametrize(("quota", "affinity", "expected"), [
    (None, 8, 8), (1.5, 8, 2), (1.4, 8, 1), (0.2, 8, 1), (16.0, 4, 4),
])
def test_available_cpus_follows_quota_and_affinity(monkeypatch: pytest.MonkeyPatch,
                                                   quota: float | None, affinity: int,
                                                   expected: int) -> None:
    monkeypatch.setattr(cpu, "own_cgroup_limit", lambda: quota)
    monkeypatch.setattr(cpu, "affinity_cpus", lambda: affinity)
    assert available_cpus() == expected


def test_own_cgroup_limit_reads_the_process_cgroup_and_its_parents(tmp_path: Path) -> None:
    # cgroup v1: this process sits in /outer/inner; the parent's quota is the tighter one.
    root = tmp_path / "cgroup"
    inner = root / "cpu" / "outer" / "inner"
    inner.mkdir(parents=True)
    (inner / "cpu.cfs_quota_us").write_text("300000\n")
    (inner / "cpu.cfs_period_us").write_text("100000\n")
    (inner.parent / "cpu.cfs_quota_us").write_text("150000\n")
    (inner.parent / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("4:memory:/other\n1:cpu,cpuacct:/outer/inner\n")
    assert cpu.own_cgroup_limit(proc, root) == 1.5


def test_own_cgroup_limit_reads_cgroup_v2_paths(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    (root / "app").mkdir(parents=True)
    (root / "app" / "cpu.max").write_text("250000 100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/app\n")
    assert cpu.own_cgroup_limit(proc, root) == 2.5
