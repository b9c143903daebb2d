"""How many CPUs this process may really use: cgroup quota, CPU affinity, then the core count.

A thread pool sized for every core of the host but throttled by a container's CPU quota thrashes
(the seed's author saw `cpus: 1.5` "dramatically slow" a worker), so threads follow the quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_V2_MAX = CGROUP_ROOT / "cpu.max"
CGROUP_V1_QUOTA = CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us"
CGROUP_V1_PERIOD = CGROUP_ROOT / "cpu" / "cpu.cfs_period_us"


def cgroup_cpu_limit(v2_max: Path = CGROUP_V2_MAX, v1_quota: Path = CGROUP_V1_QUOTA,
                     v1_period: Path = CGROUP_V1_PERIOD) -> float | None:
    """The CPU quota of one cgroup folder in CPUs (1.5 for `cpus: 1.5`), or None for none."""
    try:
        quota, period = v2_max.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(v1_quota.read_text())
        return None if quota_us <= 0 else quota_us / int(v1_period.read_text())
    except (OSError, ValueError):
        return None


def own_cgroup_limit(proc_cgroup: Path = Path("/proc/self/cgroup"),
                     root: Path = CGROUP_ROOT) -> float | None:
    """The tightest quota on this process's cgroup and its parents.

    In a container the process's cgroup is mounted at the root, so the root files are its own;
    on a host (or a cgroup made by hand) the process sits deeper, named in /proc/self/cgroup.
    """
    folders: list[tuple[Path, Path, Path]] = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" or "cpu" in controllers.split(","):
            base = root if controllers == "" else root / "cpu"
            for folder in _with_parents(base, path):
                folders.append((folder / "cpu.max", folder / "cpu.cfs_quota_us",
                                folder / "cpu.cfs_period_us"))
    folders.append((CGROUP_V2_MAX, CGROUP_V1_QUOTA, CGROUP_V1_PERIOD))
    limits = [limit for files in folders if (limit := cgroup_cpu_limit(*files)) is not None]
    return min(limits) if limits else None


def _with_parents(base: Path, path: str) -> list[Path]:
    parts = [part for part in path.split("/") if part]
    return [base.joinpath(*parts[:depth]) for depth in range(len(parts), 0, -1)]


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def available_cpus() -> int:
    """Whole CPUs to size thread pools by: the smaller of quota and affinity, at least 1.

    A fractional quota is rounded half up (1.5 -> 2, 1.4 -> 1). Measured (docs/benchmarks.md):
    under a 1.5-CPU quota one and two threads ran alike, while two threads squeezed into a
    1.0-CPU quota ran 55 % slower than one; so never more than half a CPU over the quota.
    """
    cpus = affinity_cpus()
    limit = own_cgroup_limit()
    if limit is not None:
        cpus = min(cpus, max(1, math.floor(limit + 0.5)))
    return max(1, cpus)
