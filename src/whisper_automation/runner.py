"""`whisper-automation run SRC DEST`: the whole pipeline on one machine, no Docker.

An embedded SQS server on 127.0.0.1, the director, N worker processes (the same `worker` command
the containers run), a progress bar from the destination's records, and a summary. Workers that
die are replaced; their file comes back after the visibility timeout. Ctrl-C reaches the workers
too (same process group): each releases its message, and the next run resumes from the records.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace

from tqdm import tqdm

from .cpu import available_cpus
from .director import Plan, run_director
from .embedded import EmbeddedSQS
from .progress import RunTally
from .queue import WorkQueue
from .settings import Settings, to_environment
from .storage import open_storage

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 10


@dataclass(frozen=True)
class Layout:
    """How the CPUs are shared: `workers` processes of `threads` threads each."""

    workers: int
    threads: int


def choose_layout(settings: Settings, jobs: int) -> Layout:
    cpus = available_cpus()
    # auto: one worker per two CPUs; the second thread helps long files a lot (DESIGN.md).
    workers = settings.workers or max(1, cpus // 2)
    workers = max(1, min(workers, jobs))
    threads = settings.threads or max(1, cpus // workers)
    return Layout(workers, threads)


def run_pipeline(settings: Settings, retry_failed: bool = False) -> int:
    """Run everything; return the exit code (0 = no file failed)."""
    started = time.monotonic()
    with EmbeddedSQS() as server:
        settings = replace(settings, sqs_endpoint_url=server.endpoint)
        plan = run_director(settings, retry_failed)
        tally = RunTally(plan.jobs)
        if plan.jobs:
            layout = choose_layout(settings, len(plan.jobs))
            log.info("starting %d worker(s) x %d thread(s)", layout.workers, layout.threads)
            interrupted = _work(settings, layout, tally)
        else:
            interrupted = False
    _print_summary(plan, tally, time.monotonic() - started, interrupted)
    if interrupted:
        return 130
    return 1 if tally.failed or plan.failed else 0


def _work(settings: Settings, layout: Layout, tally: RunTally) -> bool:
    """Start workers and wait for the queue to drain; True if interrupted by Ctrl-C."""
    destination = open_storage(settings.destination)
    queue = WorkQueue.connect(settings)
    environment = _worker_environment(settings, layout)
    workers = [_spawn(environment) for _ in range(layout.workers)]
    threading.Thread(target=tally.probe_durations, args=(open_storage(settings.source),),
                     daemon=True).start()
    bar = tqdm(total=len(tally.jobs), unit="file", dynamic_ncols=True, file=sys.stderr)
    restarts = 0
    try:
        while not _drained(queue):
            time.sleep(POLL_SECONDS)
            for index, worker in enumerate(workers):
                if worker.poll() is not None:
                    restarts += 1
                    _give_up_if_crash_looping(restarts, len(workers), tally)
                    log.warning("worker pid %d exited with %s; starting another", worker.pid,
                                worker.returncode)
                    workers[index] = _spawn(environment)
            _update_bar(bar, tally, destination)
        _update_bar(bar, tally, destination)
        return False
    except KeyboardInterrupt:
        return True
    finally:
        bar.close()
        _stop(workers)


def _drained(queue: WorkQueue) -> bool:
    # A message is deleted only after its file's records are written (or it moved to the
    # dead-letter queue), so an empty queue means every planned file has been dealt with.
    counts = queue.counts()
    return counts["visible"] == 0 and counts["in_flight"] == 0


def _update_bar(bar: tqdm, tally: RunTally, destination) -> None:
    tally.refresh(destination)
    bar.n = tally.finished
    audio = f"{tally.audio_done / 60:.1f}"
    if tally.audio_total:
        audio += f"/{tally.audio_total / 60:.1f}"
    bar.set_postfix_str(f"audio {audio} min, failed {len(tally.failed)}", refresh=False)
    bar.refresh()


def _worker_environment(settings: Settings, layout: Layout) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(to_environment(replace(settings, threads=layout.threads,
                                              idle_exit_seconds=0.0)))
    if environment.get("AWS_ACCESS_KEY_ID") is None:
        # The embedded server accepts any key; keep boto3 from looking for real ones.
        environment.update(AWS_ACCESS_KEY_ID="embedded", AWS_SECRET_ACCESS_KEY="embedded")
    return environment


def _spawn(environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "whisper_automation", "worker"],
                            env=environment, stdin=subprocess.DEVNULL)


def _give_up_if_crash_looping(restarts: int, workers: int, tally: RunTally) -> None:
    # A worker that dies mid-file is replaced (its file comes back after the visibility
    # timeout); workers that die again and again before finishing anything are a setup problem.
    if restarts > 3 * workers and not tally.finished:
        raise RuntimeError("workers keep exiting before finishing any file; see their errors "
                           "above")


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for worker in workers:
        try:
            worker.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _print_summary(plan: Plan, tally: RunTally, wall: float, interrupted: bool) -> None:
    audio = tally.audio_done
    lines = [
        "interrupted: run the same command again to resume" if interrupted else "finished",
        f"  transcribed:      {len(tally.done)} file(s), {audio / 60:.1f} min of audio",
        f"  already done:     {len(plan.done)} file(s) (skipped)",
        f"  failed:           {len(tally.failed)} file(s) this run"
        + (f", {len(plan.failed)} from earlier runs (--retry-failed)" if plan.failed else ""),
    ]
    lines += [f"    {key}: {reason}" for key, reason in sorted(tally.failed.items())]
    if plan.busy:
        lines.append(f"  still being written (left for the next run): {len(plan.busy)} file(s)")
    lines += [f"  wall time:        {wall:.1f} s",
              f"  throughput:       {audio / wall if wall else 0.0:.1f} audio s per s"]
    print("\n".join(lines), flush=True)
