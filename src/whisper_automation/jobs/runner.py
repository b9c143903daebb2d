"""`whisper-automation run SRC DEST`: the whole pipeline on one machine, no Docker.

An embedded SQS server on 127.0.0.1, the director, N worker processes (the same `worker` command
the containers run), a progress bar from the destination's records, and a summary. Workers that
die are replaced; their file comes back after the visibility timeout. Ctrl-C reaches the workers
too (same process group): each releases its message, and the next run resumes from the records.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace

from tqdm import tqdm

from whisper_automation.jobs.cores import CpuPool
from whisper_automation.jobs.devices import parse_device, resolve_device
from whisper_automation.jobs.director import Plan, prepare
from whisper_automation.jobs.embedded import EmbeddedSQS
from whisper_automation.jobs.presence import read_presence
from whisper_automation.jobs.queue import WorkQueue
from whisper_automation.jobs.sizing import Layout, choose_layout
from whisper_automation.jobs.status import Status, build_status, format_duration
from whisper_automation.settings import TUNING, Settings, to_environment
from whisper_automation.storage.base import Storage, open_storage
from whisper_automation.storage.layout import DONE, printable, record_key
from whisper_automation.storage.records import read_record

log = logging.getLogger(__name__)

def run_pipeline(settings: Settings, retry_failed: bool = False) -> int:
    """Run everything; return the exit code (0 = no file failed)."""
    started = time.monotonic()
    with EmbeddedSQS() as server:
        settings = replace(settings, sqs_endpoint_url=server.endpoint)
        queue, plan = prepare(settings, retry_failed)
        log.info("director: %s", plan.summary())
        run = Run(settings, plan, queue)
        interrupted = False
        if plan.jobs:
            layout = choose_layout(settings, len(plan.jobs))
            print(announce(settings, plan, layout), flush=True)
            log.info("starting %d worker(s) x %d thread(s)%s", layout.workers, layout.threads,
                     f" on {', '.join(layout.devices)}" if layout.devices else "")
            interrupted = run.work(layout)
        final = run.snapshot()
    print(summary(plan, final, run.transcribed(), time.monotonic() - started,
                  interrupted), flush=True)
    if interrupted:
        return 130
    return 1 if final.failed else 0


class Run:
    """The workers of one `run` and what the status code says about them."""

    def __init__(self, settings: Settings, plan: Plan, queue: WorkQueue) -> None:
        self.settings = settings
        self.plan = plan
        # Fed to the queue a window at a time (TUNING.run_feed_window): moto's in-memory queue
        # scans every message it holds on each send, so queueing thousands at once would take
        # minutes (measured: 2,000 sends at 6 per second). A short queue keeps every call fast;
        # the workers see no difference.
        self.unsent = list(plan.jobs)
        self.found = {key: version.token() for key, version in plan.found.items()}
        self.source = open_storage(settings.source)
        self.destination = open_storage(settings.destination)
        self.queue = queue
        self.durations: dict[str, float | None] = {}
        self.started_at = time.time()

    def snapshot(self) -> Status:
        return build_status(self.found, self.source, self.destination, self.queue,
                            durations=self.durations)

    def work(self, layout: Layout) -> bool:
        """Start workers, wait for the queue to drain; True if interrupted by Ctrl-C."""
        environment = _worker_environment(self.settings, layout)
        cpus = _cpu_pool(layout, self.settings.cpu_pool)
        if cpus is not None:
            environment["WA_CPU_POOL"] = str(cpus.folder)
        environments = [_pinned(environment, layout.device_of(index))
                        for index in range(layout.workers)]
        workers = [_spawn(pinned) for pinned in environments]
        bar = tqdm(total=len(self.found), unit="file", dynamic_ncols=True, file=sys.stderr,
                   bar_format="{l_bar}{bar}| {n}/{total} files [{elapsed}{postfix}]")
        restarts = 0
        refreshed = 0.0
        window = max(TUNING.run_feed_window, 4 * layout.workers)
        try:
            while not self._drained(window):
                time.sleep(TUNING.run_poll_seconds)
                for index, worker in enumerate(workers):
                    if worker.poll() is not None:
                        restarts += 1
                        self._give_up_if_crash_looping(restarts, len(workers))
                        log.warning("worker pid %d exited with %s; starting another",
                                    worker.pid, worker.returncode)
                        workers[index] = _spawn(environments[index])
                if time.monotonic() - refreshed >= TUNING.run_progress_seconds:
                    _update_bar(bar, self.snapshot())
                    refreshed = time.monotonic()
            _update_bar(bar, self.snapshot())
            return False
        except KeyboardInterrupt:
            return True
        finally:
            bar.close()
            _stop(workers)
            if cpus is not None and not self.settings.cpu_pool:  # the one made here
                shutil.rmtree(cpus.folder, ignore_errors=True)

    def _drained(self, window: int) -> bool:
        """Top the queue up to `window` waiting messages; True once all are sent and gone.

        A message is deleted only after its file's records are written (or it moved to the
        dead-letter queue), so an empty queue means every planned file has been dealt with."""
        counts = self.queue.counts()
        if self.unsent and counts["visible"] < window:
            room = window - counts["visible"]
            self.queue.send(self.unsent[:room])
            del self.unsent[:room]
            return False
        return not self.unsent and counts["visible"] == 0 and counts["in_flight"] == 0

    def _give_up_if_crash_looping(self, restarts: int, workers: int) -> None:
        # A worker that dies mid-file is replaced (its file comes back after the visibility
        # timeout); workers that die again and again before finishing anything are a setup
        # problem, not bad luck.
        if restarts > 3 * workers and not read_presence_done(self.destination):
            raise RuntimeError("workers keep exiting before finishing any file; see their "
                               "errors above")

    def transcribed(self) -> Transcribed:
        """The files this run transcribed and their audio seconds (from their done records:
        a record finished before the run began, e.g. the one a re-transcription replaces,
        does not count)."""
        outcome = Transcribed()
        for job in self.plan.jobs:
            record = read_record(self.destination, record_key(DONE, job.key, job.version))
            if record and float(record.get("finished_at") or 0.0) >= self.started_at:
                outcome.files += 1
                outcome.audio_seconds += float(record.get("audio_seconds") or 0.0)
        return outcome


@dataclass
class Transcribed:
    files: int = 0
    audio_seconds: float = 0.0


def announce(settings: Settings, plan: Plan, layout: Layout) -> str:
    """The audio this run has to do, from the recordings' headers, and how long it should take
    with these settings: timed on the bundled speech for a long run of a built-in engine."""
    from whisper_automation.jobs.estimate import (
        audio_line,
        format_hours,
        remembered_calibration,
        total_audio,
    )
    from whisper_automation.transcription.engines.base import BUILT_IN

    audio = total_audio(open_storage(settings.source), [job.key for job in plan.jobs],
                        settings.extensions)
    lines = [f"to do: {audio_line(audio)}"]
    if settings.engine not in BUILT_IN:
        return lines[0]
    if audio.seconds < TUNING.run_estimate_min_audio_seconds:
        lines.append(f"estimate: not timed for less than "
                     f"{TUNING.run_estimate_min_audio_seconds / 60:g} min of audio "
                     "(`whisper-automation estimate` times every model)")
        return "\n".join(lines)
    device = parse_device(layout.device_of(0) or "cpu") if layout.devices else \
        resolve_device(settings.engine, settings.device, settings.compute_type)[0]
    speed = remembered_calibration(settings, settings.model, device,
                                   layout.threads).speed * layout.workers
    lines.append(f"estimate: {format_hours(audio.seconds / speed)} with {settings.model} on "
                 f"{layout.workers} worker(s) ({device}), {speed:.1f} audio s per s")
    return "\n".join(lines)


def read_presence_done(destination: Storage) -> int:
    return sum(worker.files_done for worker in read_presence(destination))


def _update_bar(bar: tqdm, status: Status) -> None:
    bar.n = status.done + status.failed
    parts = []
    if status.audio_to_do_seconds is not None:
        parts.append(f"{status.audio_to_do_seconds / 60:.1f} min of audio left")
    if status.throughput:
        parts.append(f"{status.throughput:.1f} audio s/s")
    parts.append(f"ETA {format_duration(status.eta_seconds)}")
    parts.append(f"failed {status.failed}")
    bar.set_postfix_str(", ".join(parts), refresh=False)
    bar.refresh()


def _worker_environment(settings: Settings, layout: Layout) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(to_environment(replace(settings, threads=layout.threads,
                                              idle_exit_seconds=0.0)))
    if environment.get("AWS_ACCESS_KEY_ID") is None:
        # The embedded server accepts any key; keep boto3 from looking for real ones.
        environment.update(AWS_ACCESS_KEY_ID="embedded", AWS_SECRET_ACCESS_KEY="embedded")
    return environment


def _cpu_pool(layout: Layout, setting: str | None) -> CpuPool | None:
    """One CPU token per worker thread, shared by this run's CPU workers, so that a worker left
    without a file lends its CPU to one still transcribing (jobs/cores.py); none for one worker,
    on GPUs, or when WA_CPU_POOL is off."""
    if layout.devices or layout.workers < 2 or setting == "off":
        return None
    return CpuPool.create(setting or tempfile.mkdtemp(prefix="wa-cpus-"),
                          layout.workers * layout.threads)


def _pinned(environment: dict[str, str], device: str | None) -> dict[str, str]:
    """A worker's environment on its own device (cuda:N), or as it is."""
    return environment if device is None else dict(environment, WA_DEVICE=device)


def _spawn(environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "whisper_automation", "worker"],
                            env=environment, stdin=subprocess.DEVNULL)


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + TUNING.run_stop_grace_seconds
    for worker in workers:
        try:
            worker.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def summary(plan: Plan, final: Status, transcribed: Transcribed, wall: float,
            interrupted: bool) -> str:
    earlier_failed = set(plan.failed)
    new_failures = [f for f in final.failures if f["key"] not in earlier_failed]
    audio = transcribed.audio_seconds
    reused = plan.reorganised.counts
    lines = [
        "interrupted: run the same command again to resume" if interrupted else "finished",
        f"  transcribed:      {transcribed.files} file(s), {audio / 60:.1f} min of audio"
        + (f" ({plan.retranscribe} queued again for another model)"
           if plan.retranscribe else ""),
        f"  already done:     {len(plan.done)} file(s) (skipped)",
        f"  reused:           moved {reused['moved']}, copied {reused['copied']}, taken over "
        f"{reused['taken over']} (same bytes, not transcribed again)",
        f"  failed:           {len(new_failures)} file(s) this run"
        + (f", {len(earlier_failed)} from earlier runs (--retry-failed)"
           if earlier_failed else ""),
    ]
    lines += [f"    {f['key']}: {f['reason']}" for f in sorted(new_failures,
                                                              key=lambda f: f["key"])]
    if final.to_do:
        lines.append(f"  not done yet:     {final.to_do} file(s) (run again to resume)")
    if final.orphans:
        lines.append(f"  orphans:          {len(final.orphans)} recording(s) gone from the "
                     "source keep their transcripts (status lists them, prune removes them)")
    if plan.busy:
        lines.append(f"  still being written (left for the next run): {len(plan.busy)} file(s)")
    lines += [f"  wall time:        {wall:.1f} s",
              f"  throughput:       {audio / wall if wall else 0.0:.1f} audio s per s"]
    return "\n".join(printable(line) for line in lines)  # a name stays on its line
