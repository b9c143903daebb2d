"""The director: diff the source against the done records and queue what is missing.

It is safe to run at any time, twice, or several at once: each file's message carries a
deduplication id made of its key and version (SQS drops a re-send within 5 minutes), and a
per-file message group keeps two copies of one file from ever being in flight together; a worker
that receives a file that is already done just deletes the message.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from whisper_automation.jobs.messages import Job
from whisper_automation.jobs.queue import WorkQueue
from whisper_automation.jobs.reorganise import (
    Reorganisation,
    Reorganised,
    carry_out_reorganisation,
    plan_reorganisation,
)
from whisper_automation.jobs.retranscription import plan_retranscription
from whisper_automation.jobs.write_errors import clear_write_errors
from whisper_automation.settings import Settings
from whisper_automation.storage import layout
from whisper_automation.storage.backfill import carry_out_backfill, plan_backfill
from whisper_automation.storage.base import Storage, open_storage, settle
from whisper_automation.storage.catalog import read_catalog, superseded
from whisper_automation.storage.layout import DONE, Version
from whisper_automation.storage.prune import orphan_keys
from whisper_automation.storage.records import (
    FileState,
    Records,
    is_done,
    read_record,
    read_records,
    record_result,
    sweep_stale,
    write_failure,
    write_outputs,
)
from whisper_automation.transcription.prose import RecordingInfo

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What the director found and what it will do. Making a plan changes nothing (it lists the
    source and the destination); carry_out does the destination's part, queueing is separate."""

    found: dict[str, Version] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    # Done recordings whose transcripts in some requested format are missing: {key: formats}.
    to_render: dict[str, list[str]] = field(default_factory=dict)
    stems: dict[str, str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)  # records that no longer count
    # Recordings that cannot be transcribed where they are, never queued: {key: reason}.
    # A name too long for its record (it stays so: no record can say otherwise) ...
    unrecordable: dict[str, str] = field(default_factory=dict)
    # ... and a transcript name already taken by a file this tool did not write (source =
    # destination: the user's own talk.txt beside talk.mp3). carry_out records these as
    # final failures, so status shows them and the next run leaves them alone.
    conflicts: dict[str, str] = field(default_factory=dict)
    rendered: int = 0
    # Known bytes under a new name or version: moved, copied, taken over (reorganise.py).
    reorganisation: Reorganisation = field(default_factory=Reorganisation)
    reorganised: Reorganised = field(default_factory=Reorganised)
    retranscribe: int = 0  # of the jobs: done recordings queued again for another model
    formats: tuple[str, ...] = ()  # the formats asked for (reused transcriptions get them)

    def summary(self, queued: int | None = None) -> str:
        parts = [f"found {len(self.found)}", f"already done {len(self.done)}"]
        counts = self.reorganised.counts if self.reorganised.total else \
            self.reorganisation.planned()
        parts += [f"{how} {count}" for how, count in counts.items() if count]
        if self.reorganised.leftovers_removed:
            parts.append(f"old places of moves removed {self.reorganised.leftovers_removed}")
        if self.retranscribe:
            parts.append(f"queued again for another model {self.retranscribe}")
        if self.rendered:
            parts.append(f"new formats rendered from records {self.rendered}")
        if self.failed:
            parts.append(f"failed before {len(self.failed)} (not retried; --retry-failed)")
        if self.busy:
            parts.append(f"still being written {len(self.busy)}")
        if self.unrecordable or self.conflicts:
            refused = len(self.unrecordable) + len(self.conflicts)
            parts.append(f"cannot be transcribed here {refused} (see the warnings)")
        parts.append(f"queued {len(self.jobs) if queued is None else queued}")
        return ", ".join(parts)


def make_plan(source: Storage, destination: Storage, settings: Settings,
              retry_failed: bool = False) -> Plan:
    plan = Plan(formats=settings.formats)
    found = dict(source.scan(settings.extensions))
    plan.found, plan.busy = settle(source, found, settings.stable_seconds)
    plan.stems = layout.assign_output_stems(plan.found)
    records = read_records(destination)
    # A deliberate retry needs a fresh deduplication id: SQS would drop the old one for 5 min.
    retry = int(time.time()) if retry_failed else 0
    for key, version in plan.found.items():
        state = records.state(key, version.token())
        problem = layout.record_name_problem(key, version.token())
        if problem:
            plan.unrecordable[key] = problem
        elif state is FileState.DONE:
            plan.done.append(key)
        elif state is FileState.FAILED and not retry_failed:
            plan.failed.append(key)
        else:
            plan.jobs.append(Job(key, version, plan.stems[key],
                                 retry if records.ever_failed(key) else 0))
    current = {key: version.token() for key, version in plan.found.items()}
    plan.stale = records.stale(current)
    present = set(plan.found) | set(plan.busy)
    # The catalog is listed only when something may need it: an unchanged library costs
    # no more than it did before fingerprints.
    if plan.jobs or orphan_keys(records.done, present) or settings.retranscribe_other_models:
        entries = read_catalog(destination)
        plan.reorganisation, plan.jobs = plan_reorganisation(
            source, plan.jobs, current, present, records.done, entries)
        plan.stale += [entry.name() for entry in superseded(entries, current)]
        if settings.retranscribe_other_models:
            redo = plan_retranscription(destination, {key: plan.found[key] for key in plan.done},
                                        plan.stems, entries, settings.engine,
                                        settings.recorded_model)
            plan.jobs += redo
            plan.retranscribe = len(redo)
    # Only what is still to be transcribed can meet someone else's file: a move, copy or
    # take-over writes at its new stem what this tool wrote for the same bytes (the old place's
    # transcripts when a rename keeps the stem, or the part of an interrupted move already
    # written), so it is planned first and never counted as a conflict.
    plan.conflicts = find_conflicts(destination, plan.jobs, records, settings.formats)
    plan.jobs = largest_first([job for job in plan.jobs if job.key not in plan.conflicts])
    plan.to_render = missing_formats(destination, plan, settings.formats)
    return plan


def largest_first(jobs: list[Job]) -> list[Job]:
    """The queue's order: the largest recordings first (bytes, which the listing gives for
    free, stand for length). The run ends when its last file does: started last, a long file
    keeps one worker busy while the others sit idle, started first, the short ones fill in
    around it (longest-processing-time-first; on ../shared/corpus/readings, alphabetical order
    left its 19-minute file for a worker that had one already)."""
    return sorted(jobs, key=lambda job: (-job.version.size, job.key))


def find_conflicts(destination: Storage, jobs: list[Job], records: Records,
                   formats: tuple[str, ...]) -> dict[str, str]:
    """Jobs whose transcript would replace a file that this tool did not write: {key: reason}.

    A transcript is ours if the destination holds a done record of its recording, of any
    version (records of older versions are swept only after planning). Anything else at that
    name is someone's own file. One listing of the destination, only when there are jobs.
    Limit: a file created between this listing and the worker's write is still replaced.

    Race: `records` was read before this listing, and a worker may have finished the file in
    between (it writes the transcripts, then the done record: `watch` rescans every second
    while workers run). So a name found taken counts only if, after the listing, there is
    still no done record of the job's version. What is left is a worker between its last
    transcript and its done record at the very moment of that check: the failure recorded
    then is forgotten by the worker's own commit (it deletes the failure of the version it
    marks done) or, if written after it, swept by the next plan (Records.stale)."""
    if not jobs:
        return {}
    existing = set(destination.list_keys())
    conflicts = {}
    for job in jobs:
        if job.key in records.done:
            continue
        taken = [layout.output_key(job.output_stem, fmt) for fmt in formats
                 if layout.output_key(job.output_stem, fmt) in existing]
        if taken and not is_done(destination, job.key, job.version):
            conflicts[job.key] = (
                f"{', '.join(taken)} already exist(s) and was not written by whisper-automation: "
                "not overwritten (move it away, or choose another destination, then "
                "--retry-failed)")
    return conflicts


def missing_formats(destination: Storage, plan: Plan,
                    formats: tuple[str, ...]) -> dict[str, list[str]]:
    """Done recordings with a requested format missing (asked for after they were done, or
    deleted): {key: formats}. One listing of the destination, and only if anything is done."""
    if not plan.done:
        return {}
    existing = set(destination.list_keys())
    missing = {key: [fmt for fmt in formats
                     if layout.output_key(plan.stems[key], fmt) not in existing]
               for key in plan.done}
    return {key: wanted for key, wanted in missing.items() if wanted}


def carry_out(destination: Storage, plan: Plan) -> None:
    """The destination's part of a plan: reuse the transcriptions of known bytes (moves,
    copies, take-overs), render missing formats from the done records (no engine), record the
    conflicts as final failures, and sweep the records that no longer count (after the
    take-overs, which read them). Says which recordings cannot be transcribed here, and why."""
    plan.reorganised = carry_out_reorganisation(destination, plan.reorganisation, plan.formats,
                                                set(plan.stems.values()))
    plan.jobs += plan.reorganised.requeue
    plan.rendered = render_missing_formats(destination, plan)
    for key, reason in plan.conflicts.items():
        write_failure(destination, key, plan.found[key], reason, attempts=0, final=True,
                      worker="director")
    for key, reason in (plan.unrecordable | plan.conflicts).items():
        log.warning("not transcribed: %s: %s", layout.printable(key), reason)
    sweep_stale(destination, plan.stale)


def render_missing_formats(destination: Storage, plan: Plan) -> int:
    rendered = 0
    for key, formats in plan.to_render.items():
        record = read_record(destination, layout.record_key(DONE, key, plan.found[key]))
        if record is None:
            continue
        write_outputs(destination, plan.stems[key], record_result(record), formats,
                      RecordingInfo.from_record(record))
        rendered += 1
    return rendered


def prepare(settings: Settings, retry_failed: bool = False) -> tuple[WorkQueue, Plan]:
    """Ensure the queues exist and plan what to queue (nothing is sent yet)."""
    if not settings.source or not settings.destination:
        raise ValueError("the director needs a source and a destination (WA_SOURCE, "
                         "WA_DESTINATION or the SRC DEST arguments)")
    queue = WorkQueue.ensure(settings)
    clear_write_errors(queue)  # a new run: workers report again if the cause is still there
    source, destination = open_storage(settings.source), open_storage(settings.destination)
    complete_the_catalog(source, destination, settings)
    plan = make_plan(source, destination, settings, retry_failed)
    carry_out(destination, plan)
    return queue, plan


def complete_the_catalog(source: Storage, destination: Storage, settings: Settings) -> None:
    """Once per destination: fingerprints for what was done before they existed (backfill.py),
    so that moving those recordings later does not transcribe them again."""
    backfill = plan_backfill(source, destination, settings.extensions)
    if backfill is not None:
        carry_out_backfill(source, destination, backfill)


def run_director(settings: Settings, retry_failed: bool = False) -> Plan:
    """Ensure the queues, plan, enqueue; log what was found and done."""
    queue, plan = prepare(settings, retry_failed)
    queued = queue.send(plan.jobs)
    log.info("director: %s", plan.summary(queued))
    return plan


def watch_director(settings: Settings, stop: threading.Event,
                   retry_failed: bool = False) -> None:
    """Rescan every WA_WATCH_SECONDS and queue recordings that are new or changed, until stopped.

    Files still being written are left for a later scan (see storage.settle). Only what was not
    sent before (or changed since) is sent again: re-sending every pending file each scan would
    pile up duplicates once SQS's 5-minute deduplication window has passed. If the queue is found
    empty (drained, or lost with a queue-server restart) everything pending is sent again.
    """
    queue = WorkQueue.ensure(settings)
    clear_write_errors(queue)
    source, destination = open_storage(settings.source), open_storage(settings.destination)
    complete_the_catalog(source, destination, settings)
    sent: dict[str, str] = {}
    while True:
        plan = make_plan(source, destination, settings, retry_failed)
        carry_out(destination, plan)
        counts = queue.counts()
        if counts["visible"] == 0 and counts["in_flight"] == 0:
            sent.clear()
        fresh = [job for job in plan.jobs if sent.get(job.key) != job.version.token()]
        queue.send(fresh)
        sent.update((job.key, job.version.token()) for job in fresh)
        log.info("director (watching every %g s): %s", settings.watch_seconds,
                 plan.summary(len(fresh)))
        if stop.wait(settings.watch_seconds):
            return
        queue = WorkQueue.ensure(settings)  # recreated if a queue-server restart lost it
