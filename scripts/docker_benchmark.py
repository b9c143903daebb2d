#!/usr/bin/env python3
"""Figures of the Docker stack for docs/docker.md, measured side by side in one run:

  - image sizes (director, worker with tiny.en, and the base images they were built on);
  - `./build.sh build` with a cold cache (no project image or layer left), warm (nothing
    changed) and warm after a source change (a copy of the clone with one file edited);
  - time from `./build.sh deploy` to the first transcript on the host;
  - throughput of the stack's 2 workers x 1 CPU against `whisper-automation run --workers 2
    --threads 1` on the same recordings (the corpus's bedtime stories, else long recordings
    joined from the samples), as a ratio.

    .venv/bin/python scripts/docker_benchmark.py

Uses the Docker tests' tooling (tests/docker: an engine started if need be, stand-in base
images when Docker Hub is out of reach). It removes every whisper-automation image to measure
the cold build; the tests rebuild theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.docker.engine import start_engine  # noqa: E402
from tests.docker.recordings import BEDTIME, build_tree, is_long  # noqa: E402
from tests.docker.stack import STATE_DIR, docker, new_stack, run, wait_for  # noqa: E402
from tests.docker.standins import ensure_base_images  # noqa: E402

TAG = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wa-docker-bench-"))
    work.chmod(0o755)
    engine = start_engine(work / "dockerd")
    try:
        figures = measure(work)
    finally:
        engine.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    print(report(figures))


def measure(work: Path) -> dict:
    figures: dict = {"machine": machine(), "base_images": ensure_base_images([])}
    stack = new_stack(work, IMAGE_TAG=TAG, WA_IDLE_EXIT_SECONDS="10")
    remove_project_images()
    figures["build_cold_seconds"] = timed_build(stack)
    figures["build_warm_seconds"] = timed_build(stack)
    figures["build_after_code_change_seconds"] = build_after_code_change(work, stack)
    figures["image_sizes_mb"] = image_sizes()

    recordings = Path(stack.settings["SOURCE_DIR"])
    keys = [key for key in build_tree(recordings) if is_long(key)]
    for path in list(recordings.rglob("*")):  # the long recordings only
        if path.is_file() and path.relative_to(recordings).as_posix() not in keys:
            path.unlink()
    figures["recordings"] = {"source": "bedtime corpus" if BEDTIME.is_dir() else "joined samples",
                             "files": len(keys)}
    figures["stack"] = run_stack(stack, keys)
    figures["run"] = run_locally(recordings, work / "run-transcripts")
    figures["ratio_stack_to_run"] = round(
        figures["stack"]["throughput"] / figures["run"]["throughput"], 2)
    return figures


def machine() -> str:
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    load = Path("/proc/loadavg").read_text().split()[0]
    return f"{cores} cores, load average {load} at the start"


def remove_project_images() -> None:
    listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}")
    names = [name for name in listed.stdout.split() if name.startswith("whisper-automation-")]
    if names:
        docker("rmi", "-f", *names, timeout=600)
    docker("image", "prune", "-f", timeout=600)
    docker("builder", "prune", "-af", timeout=600)


def timed_build(stack) -> float:
    started = time.monotonic()
    result = stack.build_sh("build", timeout=3600)
    if result.returncode != 0:
        raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])
    return round(time.monotonic() - started, 1)


def build_after_code_change(work: Path, stack) -> float:
    """The same build from a copy of the clone with one source file edited."""
    copy = work / "clone"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(
        ".venv*", ".git", "test-output", ".cache", "transcripts", "__pycache__"))
    init = copy / "src" / "whisper_automation" / "__init__.py"
    init.write_text(init.read_text() + "# edited\n")
    started = time.monotonic()
    result = run([str(copy / "build.sh"), "build"], timeout=3600,
                 env={**os.environ, "ENV_FILE": str(stack.env_file)}, cwd=copy)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return round(time.monotonic() - started, 1)


def image_sizes() -> dict[str, float]:
    listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}")
    sizes = {}
    for name in listed.stdout.split():
        if name.endswith(":" + TAG) or name.startswith(("python:", "localstack/")):
            size = docker("image", "inspect", "--format", "{{.Size}}", name).stdout.strip()
            sizes[name] = round(int(size) / 1e6)
    return sizes


def run_stack(stack, keys: list[str]) -> dict:
    destination = stack.destination
    started = time.monotonic()
    result = stack.build_sh("deploy", timeout=900)
    if result.returncode != 0:
        raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])
    wait_for(lambda: any(path for path in destination.rglob("*.txt")
                         if STATE_DIR not in path.parts), 3600, "the first transcript")
    first = time.monotonic() - started
    wait_for(lambda: len(list((destination / STATE_DIR / "done").rglob("*.json"))) == len(keys),
             7200, "every recording done")
    wall = time.monotonic() - started
    audio = audio_seconds(destination)
    stack.build_sh("down", timeout=600)
    return {"deploy_to_first_transcript_s": round(first, 1), "deploy_to_all_done_s": round(wall),
            "audio_s": round(audio), "throughput": round(audio / wall, 2)}


def run_locally(recordings: Path, destination: Path) -> dict:
    started = time.monotonic()
    result = run([str(REPO / ".venv" / "bin" / "whisper-automation"), "run", str(recordings),
                  str(destination), "--workers", "2", "--threads", "1", "--model", "tiny.en"],
                 timeout=7200)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    audio = audio_seconds(destination)
    return {"wall_s": round(wall), "audio_s": round(audio), "throughput": round(audio / wall, 2),
            "summary": re.findall(r"throughput:.*", result.stdout + result.stderr)}


def audio_seconds(destination: Path) -> float:
    records = (destination / STATE_DIR / "done").rglob("*.json")
    return sum(float(json.loads(path.read_text())["result"].get("duration") or 0)
               for path in records)


def report(figures: dict) -> str:
    sizes = "\n".join(f"| `{name}` | {size} MB |"
                      for name, size in figures["image_sizes_mb"].items())
    stack, local = figures["stack"], figures["run"]
    return f"""
Machine: {figures['machine']}; base images: {figures['base_images']}

| image | size |
|---|---|
{sizes}

| build | seconds |
|---|---|
| cold (no project image or layer) | {figures['build_cold_seconds']} |
| warm, nothing changed | {figures['build_warm_seconds']} |
| warm, one source file changed | {figures['build_after_code_change_seconds']} |

{figures['recordings']['files']} recordings ({figures['recordings']['source']}), \
{stack['audio_s']} s of audio:

| | wall s | audio s per s |
|---|---|---|
| `./build.sh deploy`, 2 workers x 1 CPU (deploy to last transcript) | \
{stack['deploy_to_all_done_s']} | {stack['throughput']} |
| `run --workers 2 --threads 1` (start to exit) | {local['wall_s']} | {local['throughput']} |

Ratio stack / run: {figures['ratio_stack_to_run']}; deploy to first transcript: \
{stack['deploy_to_first_transcript_s']} s.
"""


if __name__ == "__main__":
    main()
