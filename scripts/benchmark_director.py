"""Benchmark the director at scale: planning against N done records, and enqueueing.

    .venv/bin/python scripts/benchmark_director.py --files 100000 [--endpoint URL]

See docs/benchmark-script.md for what it does; docs/benchmarks.md holds the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_common import command_line, emit, machine_description


def director_mode(args: argparse.Namespace) -> int:
    from whisper_automation.jobs.director import Plan, make_plan
    from whisper_automation.jobs.embedded import EmbeddedSQS
    from whisper_automation.jobs.queue import WorkQueue, dead_letter_name
    from whisper_automation.settings import load_settings
    from whisper_automation.storage.base import LocalStorage
    from whisper_automation.storage.layout import DONE, STATE_DIR, Version, record_key

    settings = dataclasses.replace(load_settings(environ={}), stable_seconds=0)
    markdown = Path(args.markdown) if args.markdown else None
    emit("## whisper-automation director benchmark\n\n" + "\n".join(
        [machine_description(), command_line()]) + "\n", markdown)
    work = Path(tempfile.mkdtemp(prefix="wa-director-", dir=args.work_dir))
    lines: list[str] = []
    try:
        source, destination, empty = work / "source", work / "destination", work / "empty"
        empty.mkdir()
        per_folder = math.ceil(args.files / args.folders)
        started = time.monotonic()
        keys = []
        for index in range(args.files):
            folder = f"folder{index // per_folder:04d}"
            if index % per_folder == 0:
                (source / folder).mkdir(parents=True)
            key = f"{folder}/recording{index % per_folder:05d}.mp3"
            (source / key).touch()
            keys.append(key)
        # Done records (minimal JSON) and the transcripts they vouch for, so that planning does
        # not go on to render "missing" formats from the records.
        for key in keys:
            stat = (source / key).stat()
            version = Version(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
            record = destination / record_key(DONE, key, version)
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"schema": 1, "key": key,
                                          "version": version.to_dict()}))
            stem = destination / key.removesuffix(".mp3")
            stem.parent.mkdir(parents=True, exist_ok=True)
            for fmt in settings.formats:
                stem.with_suffix(f".{fmt}").touch()
        setup = time.monotonic() - started
        lines.append(f"- setup: {args.files} empty .mp3 files in {args.folders} folders, "
                     f"{args.files} done records under {STATE_DIR}/{DONE}/ and "
                     f"{args.files * len(settings.formats)} transcripts in {setup:.1f} s")

        def timed_plan(records: Path) -> tuple[Plan, float]:
            started = time.monotonic()
            plan = make_plan(LocalStorage(source), LocalStorage(records), settings)
            return plan, time.monotonic() - started

        plan, seconds = timed_plan(destination)
        lines.append(f"- plan against {args.files} done records: {seconds:.2f} s "
                     f"({args.files / seconds:,.0f} recordings/s); found {len(plan.found)}, "
                     f"already done {len(plan.done)}, rendered {plan.rendered}, "
                     f"to queue {len(plan.jobs)}")

        plan, seconds = timed_plan(empty)
        lines.append(f"- plan with no done records: {seconds:.2f} s; found {len(plan.found)}, "
                     f"already done {len(plan.done)}, to queue {len(plan.jobs)}")

        queue_name = f"wa-benchmark-{uuid.uuid4().hex[:12]}.fifo"

        def enqueue(endpoint: str, server: str) -> None:
            queue_settings = dataclasses.replace(settings, sqs_endpoint_url=endpoint,
                                                 queue_name=queue_name)
            started = time.monotonic()
            queue = WorkQueue.ensure(queue_settings)
            ensured = time.monotonic() - started
            jobs = plan.jobs[:args.enqueue] if args.enqueue else plan.jobs
            # Ten slices, timed one by one: a rate that falls as the queue fills shows up.
            size = max(10, math.ceil(len(jobs) / 100) * 10)
            rates, sent, seconds = [], 0, 0.0
            for start in range(0, len(jobs), size):
                begun = time.monotonic()
                count = queue.send(jobs[start:start + size])
                spent = time.monotonic() - begun
                sent, seconds = sent + count, seconds + spent
                rates.append(count / spent if spent else 0.0)
                print(f"  enqueued {sent}/{len(jobs)}: {rates[-1]:,.0f} messages/s now, "
                      f"{sent / seconds:,.0f} overall", file=sys.stderr, flush=True)
            lines.append(f"- queue server: {server} at {endpoint}; queue {queue_name} (and "
                         f"{dead_letter_name(queue_name)}) created in {ensured:.2f} s")
            lines.append(f"- enqueue: {sent} messages in {seconds:.1f} s "
                         f"({sent / seconds if seconds else 0:,.0f} messages/s, batches of "
                         f"10); first {size}: {rates[0] if rates else 0:,.0f} messages/s, last "
                         f"{size}: {rates[-1] if rates else 0:,.0f} messages/s")
            for url in (queue.url, queue.dead_letter_url):
                if url:
                    queue.client.delete_queue(QueueUrl=url)

        if args.endpoint:
            enqueue(args.endpoint, "given endpoint (LocalStack?)")
        else:
            with EmbeddedSQS() as embedded:
                enqueue(embedded.endpoint,
                        "embedded moto server (whisper_automation.jobs.embedded)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit("\n".join(lines) + "\n", markdown)
    return 0


# --------------------------------------------------------------------------- arguments


def director_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmark_director.py",
        description="Time the director's planning and enqueueing for N recordings.")
    parser.add_argument("--files", type=int, default=100_000, help="recordings (default: 100000)")
    parser.add_argument("--folders", type=int, default=100,
                        help="folders they are spread over (default: 100)")
    parser.add_argument("--endpoint", default=None,
                        help="SQS endpoint, e.g. LocalStack's http://127.0.0.1:4566 "
                             "(default: an embedded moto server)")
    parser.add_argument("--enqueue", type=int, default=None,
                        help="enqueue only the first N planned messages (default: all)")
    parser.add_argument("--markdown", default=None, help="also append the report to this file")
    parser.add_argument("--work-dir", default=None,
                        help="parent of the temporary folders (default: the system's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = director_parser().parse_args(argv)
    if args.files < 1 or args.folders < 1:
        raise SystemExit("--files and --folders must be >= 1")
    return director_mode(args)


if __name__ == "__main__":
    sys.exit(main())
