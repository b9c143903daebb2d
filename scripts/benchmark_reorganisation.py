"""Benchmark the director's plan with content fingerprints: N unchanged recordings, then the same
with M of them moved (renamed into another folder), on folders.

    .venv/bin/python scripts/benchmark_reorganisation.py --files 100000 --moved 1000 \
        [--baseline-src /path/to/another/checkout/src]

With --baseline-src the unchanged plan is timed again by that checkout's code (same tree, a
subprocess), so "no slower than before" is measured, not assumed. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMED_PLAN = """
import dataclasses, sys, time
from whisper_automation.jobs.director import make_plan
from whisper_automation.settings import load_settings
from whisper_automation.storage.base import LocalStorage
settings = dataclasses.replace(load_settings(environ={}), stable_seconds=0)
best = None
for _ in range(3):
    started = time.monotonic()
    plan = make_plan(LocalStorage(sys.argv[1]), LocalStorage(sys.argv[2]), settings)
    spent = time.monotonic() - started
    best = spent if best is None else min(best, spent)
print(f"{best:.2f} {len(plan.done)} {len(plan.jobs)}")
"""


def build(source: Path, destination: Path, files: int, folders: int) -> None:
    from whisper_automation.storage.catalog import Entry, model_label
    from whisper_automation.storage.fingerprint import fingerprint_file
    from whisper_automation.storage.layout import DONE, Version, record_key

    per_folder = -(-files // folders)
    for index in range(files):
        key = f"folder{index // per_folder:04d}/recording{index % per_folder:05d}.mp3"
        path = source / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"recording {index}\n".encode() * 8)
        stat = path.stat()
        version = Version(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        fingerprint = fingerprint_file(path)
        record = destination / record_key(DONE, key, version)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({
            "schema": 1, "key": key, "version": version.to_dict(),
            "output_stem": key.removesuffix(".mp3"), "formats": ["txt", "vtt", "srt"],
            "fingerprint": fingerprint, "engine": "faster-whisper", "model": "tiny.en",
            "result": {"text": f" recording {index}", "segments": []}}))
        entry = destination / Entry(key, version.token(), fingerprint,
                                    model_label("faster-whisper", "tiny.en")).name()
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.touch()
        stem = destination / key.removesuffix(".mp3")
        stem.parent.mkdir(parents=True, exist_ok=True)
        for fmt in ("txt", "vtt", "srt"):
            stem.with_suffix(f".{fmt}").touch()


def timed_plan(source: Path, destination: Path, src: str) -> str:
    environment = dict(os.environ, PYTHONPATH=src)
    return subprocess.run([sys.executable, "-c", TIMED_PLAN, str(source), str(destination)],
                          env=environment, capture_output=True, text=True,
                          check=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--moved", type=int, default=1_000)
    parser.add_argument("--baseline-src", default=None)
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parents[1] / "src")
    sys.path.insert(0, here)
    from whisper_automation.jobs.director import carry_out, make_plan
    from whisper_automation.settings import load_settings
    from whisper_automation.storage.base import LocalStorage

    work = Path(tempfile.mkdtemp(prefix="wa-reorg-", dir=args.work_dir))
    try:
        source, destination = work / "source", work / "destination"
        started = time.monotonic()
        build(source, destination, args.files, args.folders)
        print(f"- setup: {args.files} recordings, done records, catalog entries and "
              f"transcripts in {time.monotonic() - started:.0f} s")
        seconds, done, jobs = timed_plan(source, destination, here).split()
        print(f"- unchanged, this code: plan {seconds} s (best of 3); done {done}, queued {jobs}")
        if args.baseline_src:
            seconds, done, jobs = timed_plan(source, destination, args.baseline_src).split()
            print(f"- unchanged, baseline code ({args.baseline_src}): plan {seconds} s (best of "
                  f"3); done {done}, queued {jobs}")
        moved = source / "moved"
        moved.mkdir()
        for index, path in enumerate(sorted(source.glob("folder*/*.mp3"))[:args.moved]):
            os.rename(path, moved / f"renamed{index:05d}.mp3")
        settings = dataclasses.replace(load_settings(environ={}), stable_seconds=0)
        started = time.monotonic()
        plan = make_plan(LocalStorage(source), LocalStorage(destination), settings)
        planned = time.monotonic() - started
        started = time.monotonic()
        carry_out(LocalStorage(destination), plan)
        carried = time.monotonic() - started
        print(f"- {args.moved} moved: plan {planned:.2f} s (fingerprints of {args.moved} "
              f"recordings included), carrying out the moves {carried:.2f} s; "
              f"{plan.summary()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
