"""How to split CPUs: threads under a CPU quota, and workers x threads, measured side by side.

    .venv/bin/python scripts/benchmark_layout.py [--corpus ../shared/corpus] [--repeat 1]

1. Threads under a quota: one worker's engine (faster-whisper tiny.en int8, beam 5, VAD) on a
   long recording inside a cgroup with a CPU quota of 1.0, 1.5 and none, with 1 and 2 threads.
   This is what `cpus: 1.5` in docker compose does; it needs a writable cgroup (root), and is
   skipped otherwise.
2. Workers x threads: `whisper-automation run` on the long recordings and on the short clips
   with 1 worker x 2 threads and 2 workers x 1 thread (wall time including start-up).
Prints Markdown tables; the figures back `available_cpus` (rounding) and `--workers auto`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CGROUP_V1 = Path("/sys/fs/cgroup/cpu")
ENGINE_RUN = """
import sys, time
from whisper_automation.transcription.engines import EngineOptions, load_engine
from whisper_automation.transcription.pipeline import transcribe_file
engine = load_engine("faster-whisper", EngineOptions("tiny.en", None, "int8", 5, True,
                                                     int(sys.argv[1])))
started = time.monotonic()
result = transcribe_file(engine, sys.argv[2])
print(result.duration, time.monotonic() - started)
"""


def make_cgroup(quota: float | None) -> Path | None:
    """A cgroup v1 folder with this CPU quota, or None when cgroups cannot be written."""
    if not os.access(CGROUP_V1, os.W_OK):
        return None
    folder = CGROUP_V1 / f"wa-bench-{os.getpid()}-{quota}"
    folder.mkdir(exist_ok=True)
    (folder / "cpu.cfs_quota_us").write_text(str(int(quota * 100_000)) if quota else "-1")
    return folder


def engine_seconds(threads: int, audio: Path, cgroup: Path | None) -> tuple[float, float]:
    """(audio seconds, engine seconds) for one transcription inside the cgroup."""
    enter = f"echo $$ > {cgroup}/cgroup.procs && " if cgroup else ""
    command = f"{enter}exec {sys.executable} -c '{ENGINE_RUN}' {threads} '{audio}'"
    output = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            check=True, cwd=REPO).stdout.split()
    return float(output[-2]), float(output[-1])


def quota_table(audio: Path, repeat: int) -> str:
    rows = ["| CPU quota | threads | engine s (median) | real-time factor |", "|---|---|---|---|"]
    for quota in (1.0, 1.5, None):
        cgroup = make_cgroup(quota)
        if cgroup is None:
            return "(skipped: no writable cgroup; run as root)\n"
        for threads in (1, 2):
            runs = [engine_seconds(threads, audio, cgroup) for _ in range(repeat)]
            seconds = statistics.median(run[1] for run in runs)
            rows.append(f"| {quota or 'none (2 cores)'} | {threads} | {seconds:.1f} | "
                        f"{runs[0][0] / seconds:.1f} |")
        cgroup.rmdir()
    return "\n".join(rows) + "\n"


def run_seconds(files: list[Path], workers: int, threads: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        source, destination = Path(folder) / "in", Path(folder) / "out"
        source.mkdir()
        for index, path in enumerate(files):
            shutil.copy(path, source / f"{index:03d}-{path.name}")
        env = dict(os.environ, WA_STABLE_SECONDS="0")
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "whisper_automation", "run", str(source),
                        str(destination), "--workers", str(workers), "--threads", str(threads)],
                       env=env, check=True, capture_output=True)
        return time.monotonic() - started


def layout_table(workloads: dict[str, list[Path]], repeat: int) -> str:
    rows = ["| workload | workers x threads | wall s (median) | vs 1 x 2 |", "|---|---|---|---|"]
    for name, files in workloads.items():
        times: dict[tuple[int, int], float] = {}
        for workers, threads in ((1, 2), (2, 1)):
            times[(workers, threads)] = statistics.median(
                run_seconds(files, workers, threads) for _ in range(repeat))
        for (workers, threads), seconds in times.items():
            rows.append(f"| {name} ({len(files)} files) | {workers} x {threads} | "
                        f"{seconds:.1f} | {times[(1, 2)] / seconds:.2f}x |")
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args()
    long_files = sorted((options.corpus / "longform").glob("evening_*"))
    short_files = sorted(p for p in options.corpus.glob("LJ001-00*") if "longform" not in p.name)
    print(f"## Threads under a CPU quota ({long_files[0].name})\n")
    print(quota_table(long_files[0], options.repeat))
    print("## Workers x threads (whisper-automation run, whole command)\n")
    print(layout_table({"long recordings": long_files, "short clips": short_files},
                       options.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
