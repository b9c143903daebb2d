"""whisper.cpp beside faster-whisper on one recording, side by side in one run.

Each variant runs in a child process of its own (so each peak RSS is that engine's alone) that
loads the engine, then transcribes the file through the project's pipeline (engine.transcribe,
as a worker does). Variants alternate within each round, so a busy machine slows them alike.

    .venv/bin/python scripts/compare_engines.py ../shared/corpus/bedtime/cfb_00.mp3 \\
        --reference ../shared/corpus/bedtime/MANIFEST.tsv --threads 1,2 --rounds 2

Prints one row per variant and thread count: audio seconds per wall second of transcription
(model load excluded; the median of the rounds), CPU seconds, load seconds, peak RSS of the
child, and the word error rate against the reference (openai-whisper's normaliser).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("faster-whisper:5", "whisper.cpp:5", "faster-whisper:1", "whisper.cpp:1")


def child(engine_name: str, beam: int, threads: int, path: str) -> None:
    from whisper_automation.transcription.engines import EngineOptions, load_engine
    from whisper_automation.transcription.pipeline import transcribe_file

    started = time.perf_counter()
    engine = load_engine(engine_name, EngineOptions(
        model="tiny.en", language="en", compute_type="int8", beam_size=beam, vad=True,
        threads=threads))
    loaded = time.perf_counter()
    cpu = time.process_time()
    result = transcribe_file(engine, path)
    finished = time.perf_counter()
    print(json.dumps({"load_s": loaded - started, "transcribe_s": finished - loaded,
                      "cpu_s": time.process_time() - cpu, "audio_s": result.duration,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "text": result.text}))


def run_variant(variant: str, threads: int, path: str) -> dict:
    engine_name, beam = variant.split(":")
    output = subprocess.run([sys.executable, __file__, "--child", engine_name, beam,
                             str(threads), path], capture_output=True, text=True, check=True,
                            stdin=subprocess.DEVNULL)
    return json.loads(output.stdout.strip().splitlines()[-1])


def reference_text(manifest: Path | None, path: Path) -> str | None:
    if manifest is None:
        return None
    with manifest.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            if row["file"] == path.name:
                return row["reference_text"]
    return None


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    normalise = EnglishTextNormalizer()
    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--reference", type=Path, help="MANIFEST.tsv with reference_text")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    arguments = parser.parse_args()
    variants = arguments.variants.split(",")
    thread_counts = [int(value) for value in arguments.threads.split(",")]
    runs: dict[tuple[str, int], list[dict]] = {}
    print(f"# {arguments.file.name}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}",
          flush=True)
    for round_index in range(arguments.rounds):
        order = variants if round_index % 2 == 0 else list(reversed(variants))
        for threads in thread_counts:
            for variant in order:
                result = run_variant(variant, threads, str(arguments.file))
                runs.setdefault((variant, threads), []).append(result)
                print(f"round {round_index + 1} {variant} x{threads}: "
                      f"{result['audio_s'] / result['transcribe_s']:.2f} audio s/s, "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
    reference = reference_text(arguments.reference, arguments.file)
    print("\n| engine:beam | threads | audio s / wall s | CPU s | load s | peak RSS MB | WER |")
    print("|---|---|---|---|---|---|---|")
    for (variant, threads), results in runs.items():
        speed = statistics.median(r["audio_s"] / r["transcribe_s"] for r in results)
        wer = (f"{statistics.mean(word_error_rate(reference, r['text']) for r in results):.3f}"
               if reference else "-")
        print(f"| {variant} | {threads} | {speed:.2f} | "
              f"{statistics.median(r['cpu_s'] for r in results):.0f} | "
              f"{statistics.median(r['load_s'] for r in results):.1f} | "
              f"{max(r['rss_mb'] for r in results):.0f} | {wer} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
