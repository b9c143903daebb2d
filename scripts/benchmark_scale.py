"""Cost at scale: the director's plan, and the record work per finished file, as the number of
recordings grows, in one flat folder on disk and under one S3 prefix (LocalStack).

    .venv/bin/python scripts/benchmark_scale.py [--sizes 1000,10000,100000]
        [--s3-sizes 1000,10000,20000] [--files 20] [--endpoint http://127.0.0.1:4566]
        [--markdown out.md]

For each size n it builds a source of n recordings (empty files or objects; planning and records
never read their content) and a destination in which all but --files of them are done (a done
record and a transcript each). Then it measures:

- plan: `director.make_plan` over the whole tree (median of three), and on S3 the requests it
  makes;
- per finished file: what a worker does with records for each of the --files remaining ones
  (`records.is_done`, then `records.write_done`: transcript, done record, failure cleanup),
  timed one by one, and on S3 the requests made on records, counted with a botocore event hook
  (every HTTP request botocore sends, retries included);
- for comparison, in the same run: listing the done-record folder, which is what every done or
  failure record write cost before issue 14 (it removed other versions that way).

Without --endpoint a LocalStack (host mode, tests/support/localstack.py) is started on a free
port on 127.0.0.1 and stopped at the end; it needs what `./build.sh test` installs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.support.localstack, when no endpoint is given

from whisper_automation.jobs.director import make_plan  # noqa: E402
from whisper_automation.settings import load_settings  # noqa: E402
from whisper_automation.storage import layout  # noqa: E402
from whisper_automation.storage.base import LocalStorage, Storage  # noqa: E402
from whisper_automation.storage.layout import DONE, STATE_DIR, Version  # noqa: E402
from whisper_automation.storage.records import Transcription, is_done, write_done  # noqa: E402
from whisper_automation.storage.s3 import S3Storage, s3_client  # noqa: E402
from whisper_automation.transcription.speech import Result, Segment  # noqa: E402

FORMATS = ("txt",)
RESULT = Result(text=" A short story.", language="en", duration=12.0,
                segments=[Segment(start=0.0, end=12.0, text=" A short story.", words=[])])
RECORD_PREFIX = f"{STATE_DIR}/"


def key_of(index: int) -> str:
    return f"recording-{index:06d}.mp3"  # one flat folder


def record_body(key: str, version: Version) -> bytes:
    return json.dumps({"schema": 1, "key": key, "version": version.to_dict()}).encode()


def transcription(key: str, version: Version) -> Transcription:
    return Transcription(key=key, version=version, output_stem=key.removesuffix(".mp3"),
                         result=RESULT, engine="benchmark", model="none", options={},
                         transcribe_seconds=1.0, worker="benchmark", started_at=time.time())


# --- counting S3 requests -------------------------------------------------------------------


class RequestCounter:
    """Counts every HTTP request an S3 client sends (botocore's before-send event), split into
    requests on records (keys or listing prefixes under .whisper-automation/) and others."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.prefix = prefix
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-send.s3", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        url = urllib.parse.urlsplit(request.url)
        listed = urllib.parse.parse_qs(url.query).get("prefix", [""])[0]
        # path-style: /bucket/key
        key = urllib.parse.unquote(url.path).split("/", 2)[2] if url.path.count("/") >= 2 \
            else ""
        target = listed or key
        on_records = target.startswith(self.prefix + RECORD_PREFIX)
        self.counts["records" if on_records else "other"] += 1
        self.counts[f"{request.method} {'records' if on_records else 'other'}"] += 1

    @contextmanager
    def measuring(self) -> Iterator[Counter[str]]:
        before = Counter(self.counts)
        delta: Counter[str] = Counter()
        yield delta
        delta.update({name: self.counts[name] - before[name] for name in self.counts})


# --- building the trees ---------------------------------------------------------------------


def build_folder_tree(root: Path, n: int, remaining: int) -> dict[str, Version]:
    source, destination = root / "source", root / "destination"
    source.mkdir(parents=True)
    versions = {}
    for index in range(n):
        path = source / key_of(index)
        path.touch()
        stat = path.stat()
        versions[key_of(index)] = Version(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    done_dir = destination / STATE_DIR / DONE
    done_dir.mkdir(parents=True)
    for key, version in list(versions.items())[:n - remaining]:
        (destination / layout.record_key(DONE, key, version)).write_bytes(
            record_body(key, version))
        (destination / f"{key.removesuffix('.mp3')}.txt").touch()
    return versions


def build_s3_tree(client: Any, bucket: str, n: int, remaining: int) -> None:
    def put(index: int) -> None:
        key = key_of(index)
        client.put_object(Bucket=bucket, Key=f"source/{key}", Body=b"")
        if index < n - remaining:
            version = Version(size=0, etag='d41d8cd98f00b204e9800998ecf8427e')  # empty body
            client.put_object(Bucket=bucket, Key="destination/" + layout.record_key(
                DONE, key, version), Body=record_body(key, version))
            client.put_object(Bucket=bucket, Key=f"destination/{key.removesuffix('.mp3')}.txt",
                              Body=b"")

    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in pool.map(put, range(n)):
            pass


# --- measuring ------------------------------------------------------------------------------


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def measure(source: Storage, destination: Storage, n: int,
            counter: RequestCounter | None) -> dict:
    settings = dataclasses.replace(load_settings(environ={}), stable_seconds=0,
                                   formats=FORMATS)
    plan_seconds = []
    plan_requests: Counter[str] = Counter()
    for attempt in range(3):
        if counter and attempt == 0:
            with counter.measuring() as plan_requests:
                plan, seconds = timed(lambda: make_plan(source, destination, settings))
        else:
            plan, seconds = timed(lambda: make_plan(source, destination, settings))
        plan_seconds.append(seconds)
    assert len(plan.done) + len(plan.jobs) == n, plan.summary()

    per_file_seconds, per_file_records = [], []
    for job in plan.jobs:
        def finish(job: Any = job) -> None:
            assert not is_done(destination, job.key, job.version)
            write_done(destination, transcription(job.key, job.version), FORMATS)

        if counter:
            with counter.measuring() as requests:
                _, seconds = timed(finish)
            per_file_records.append(requests["records"])
        else:
            _, seconds = timed(finish)
        per_file_seconds.append(seconds)
        assert is_done(destination, job.key, job.version)

    folder = f"{STATE_DIR}/{DONE}"
    if counter:
        with counter.measuring() as listing_requests:
            listed, listing_seconds = timed(lambda: sum(1 for _ in destination.list_keys(folder)))
    else:
        listing_requests = Counter()
        listed, listing_seconds = timed(lambda: sum(1 for _ in destination.list_keys(folder)))
    return {"n": n, "plan_seconds": statistics.median(plan_seconds),
            "plan_requests": plan_requests["records"] + plan_requests["other"],
            "plan_summary": plan.summary(),
            "files": len(per_file_seconds),
            "file_ms_median": 1000 * statistics.median(per_file_seconds),
            "file_ms_max": 1000 * max(per_file_seconds),
            "file_record_requests": sorted(set(per_file_records)),
            "listing_ms": 1000 * listing_seconds, "listed": listed,
            "listing_requests": listing_requests["records"]}


def run_folder(n: int, remaining: int, work_dir: str | None) -> dict:
    root = Path(tempfile.mkdtemp(prefix="wa-scale-", dir=work_dir))
    try:
        _, setup = timed(lambda: build_folder_tree(root, n, remaining))
        print(f"  folder, n={n}: built in {setup:.0f} s", file=sys.stderr, flush=True)
        return measure(LocalStorage(root / "source"), LocalStorage(root / "destination"), n,
                       None)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_s3(n: int, remaining: int) -> dict:
    client = s3_client()
    bucket = f"wa-scale-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    _, setup = timed(lambda: build_s3_tree(client, bucket, n, remaining))
    print(f"  s3, n={n}: built in {setup:.0f} s", file=sys.stderr, flush=True)
    counter = RequestCounter(client, "destination/")
    return measure(S3Storage(f"s3://{bucket}/source", client=client),
                   S3Storage(f"s3://{bucket}/destination", client=client), n, counter)


# --- report ---------------------------------------------------------------------------------


def table(rows: list[dict], s3: bool) -> str:
    head = ["recordings n", "plan s", "per finished file ms (median / max)"]
    if s3:
        head += ["plan requests", "requests on records per file"]
    head += ["before: listing the done records ms" + (" (requests)" if s3 else "")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for row in rows:
        cells = [f"{row['n']:,}", f"{row['plan_seconds']:.2f}",
                 f"{row['file_ms_median']:.1f} / {row['file_ms_max']:.1f}"]
        if s3:
            cells += [f"{row['plan_requests']:,}",
                      " or ".join(map(str, row["file_record_requests"]))]
        listing = f"{row['listing_ms']:.0f}"
        if s3:
            listing += f" ({row['listing_requests']})"
        cells.append(listing)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    return (f"{platform.node()}: {os.cpu_count()} CPUs, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


@contextmanager
def s3_endpoint(endpoint: str | None) -> Iterator[str]:
    if endpoint:
        yield endpoint
        return
    from tests.support.localstack import start_localstack, stop_localstack

    state = Path(tempfile.mkdtemp(prefix="wa-scale-localstack-"))
    service = start_localstack(state)
    try:
        yield service.endpoint
    finally:
        stop_localstack(service)
        shutil.rmtree(state, ignore_errors=True)


def sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=sizes, default=[1_000, 10_000, 100_000],
                        help="recordings in one flat folder (default 1000,10000,100000)")
    parser.add_argument("--s3-sizes", type=sizes, default=[1_000, 10_000, 20_000],
                        help="recordings under one S3 prefix (default 1000,10000,20000)")
    parser.add_argument("--files", type=int, default=20,
                        help="files finished (and timed) per size (default 20)")
    parser.add_argument("--endpoint", help="a running LocalStack (default: start one)")
    parser.add_argument("--work-dir", help="where the folders are built (default: $TMPDIR)")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args()

    folder_rows = [run_folder(n, args.files, args.work_dir) for n in args.sizes]
    s3_rows = []
    if args.s3_sizes:
        with s3_endpoint(args.endpoint) as endpoint:
            os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1",
                              AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
            s3_rows = [run_s3(n, args.files) for n in args.s3_sizes]
    text = (f"{machine()}; `{' '.join(['scripts/benchmark_scale.py', *sys.argv[1:]])}`\n\n"
            f"One flat folder on disk ({args.files} files finished per size):\n\n"
            + table(folder_rows, s3=False))
    if s3_rows:
        text += (f"\nOne S3 prefix in LocalStack ({args.files} files finished per size):\n\n"
                 + table(s3_rows, s3=True))
    text += "\nPlans: " + "; ".join(f"n={row['n']:,}: {row['plan_summary']}"
                                    for row in folder_rows + s3_rows) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
