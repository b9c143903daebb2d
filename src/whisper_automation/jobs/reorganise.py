"""A library that survives reorganisation: known bytes under a new name are never transcribed
again.

Before a recording with no done record is queued, its fingerprint is looked up in the catalog
(catalog.py) of done versions:
- the same key, another version (touched, copied without times, restored): TAKE_OVER, the
  record is made again for the new version;
- another key that is gone from the source (moved, renamed): MOVE, the transcripts and record
  are made at the new key, then removed from the old one;
- another key still in the source (a duplicate): COPY, the transcripts are made at the new key.
Only recordings whose bytes are new are queued. Transcripts are rendered from the origin's done
record (it holds the whole result), so nothing is transcribed and nothing is copied byte for
byte.

Only recordings of a size some done version has are read (a version token starts with the
size): a new recording of any other size cannot match, and the worker fingerprints it later
from the copy it reads anyway. An unchanged library reads nothing at all.

Crash safety (the records are the truth): a move writes the new place completely (transcripts,
then the done record) before it removes anything from the old one, and removes the old done
record last. So a crash leaves the old place complete, or the new place complete. In the second
case the old place is a *leftover*: a done record of a recording gone from the source whose
bytes are done at a recording still there; every plan looks for those and removes them (the
same rule finishes an S3 rename seen in two halves: a copy one run, the delete the next).

Two directors at once make the same plan from the same listings, and every step is idempotent:
writing the same record twice, deleting what is gone. One that acts on a plan another has
already carried out finds the origin record gone and does nothing (or queues the recording, if
it is not done either), so nothing is moved twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from enum import Enum

from whisper_automation.jobs.messages import Job
from whisper_automation.storage import layout
from whisper_automation.storage.base import Storage, StorageError
from whisper_automation.storage.catalog import Entry, done_entries
from whisper_automation.storage.layout import DONE, STATE_DIR
from whisper_automation.storage.records import (
    is_done,
    read_done,
    read_record,
    remove_done,
    write_reused,
)

log = logging.getLogger(__name__)

COUNTS_RECORD = f"{STATE_DIR}/reorganised.json"


class Reuse(Enum):
    TAKE_OVER = "taken over"
    COPY = "copied"
    MOVE = "moved"


@dataclass(frozen=True)
class Reused:
    """One recording that gets an existing transcription instead of being queued."""

    how: Reuse
    origin: Entry  # the done version whose transcription is reused
    job: Job       # the recording that gets it


@dataclass
class Reorganisation:
    """What the reorganisation step will do; making it changes nothing."""

    reused: list[Reused] = field(default_factory=list)
    # Old places of moves whose new place is complete (an interrupted move, or a copy whose
    # original was deleted since): removed.
    leftovers: list[Entry] = field(default_factory=list)

    def planned(self) -> dict[str, int]:
        counts = {how.value: 0 for how in Reuse}
        for item in self.reused:
            counts[item.how.value] += 1
        return counts


@dataclass
class Reorganised:
    """What carrying a Reorganisation out came to."""

    counts: dict[str, int] = field(default_factory=lambda: {how.value: 0 for how in Reuse})
    leftovers_removed: int = 0
    requeue: list[Job] = field(default_factory=list)  # origin gone since the plan: transcribe

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        return ", ".join(f"{how} {count}" for how, count in self.counts.items())


def plan_reorganisation(source: Storage, jobs: list[Job], current: dict[str, str],
                        present: set[str], done: dict[str, set[str]], entries: list[Entry]
                        ) -> tuple[Reorganisation, list[Job]]:
    """Split the jobs into reused transcriptions and recordings still to queue (carrying their
    fingerprint when it was read). `current`: {key: version token} of the settled recordings;
    `present`: every key in the source, settled or still being written."""
    known = done_entries(entries, done)
    by_content: dict[str, list[Entry]] = defaultdict(list)
    for entry in sorted(known, key=lambda entry: (entry.key, entry.token)):
        by_content[entry.fingerprint].append(entry)
    sizes = {entry.size for entry in known}
    plan = Reorganisation()
    claimed: set[Entry] = set()  # an origin is moved once; others with its bytes copy it
    to_queue: list[Job] = []
    for job in sorted(jobs, key=lambda job: job.key):
        job = with_fingerprint(source, job) if job.version.size in sizes else job
        origin, how = choose_origin(job, by_content.get(job.fingerprint, []), present, claimed)
        if origin is None:
            to_queue.append(job)
            continue
        if how is Reuse.MOVE:
            claimed.add(origin)
        plan.reused.append(Reused(how, origin, job))
    plan.leftovers = find_leftovers(known, current, present, claimed)
    return plan, to_queue


def with_fingerprint(source: Storage, job: Job) -> Job:
    try:
        fingerprint = source.fingerprint(job.key)
    except StorageError as error:  # queued as it is; the worker fingerprints it
        log.warning("cannot fingerprint %s: %s", job.key, error)
        return job
    return replace(job, fingerprint=fingerprint) if fingerprint else job


def choose_origin(job: Job, matches: list[Entry], present: set[str], claimed: set[Entry]
                  ) -> tuple[Entry | None, Reuse | None]:
    """Same key first (take over), then a recording gone from the source (move), then any
    (copy)."""
    for entry in matches:
        if entry.key == job.key:
            return entry, Reuse.TAKE_OVER
    for entry in matches:
        if entry.key not in present and entry not in claimed:
            return entry, Reuse.MOVE
    return (matches[0], Reuse.COPY) if matches else (None, None)


def find_leftovers(known: list[Entry], current: dict[str, str], present: set[str],
                   claimed: set[Entry]) -> list[Entry]:
    """Done versions of recordings gone from the source whose bytes are done at a recording
    still there, as its current version: the old place of a move (see the module's doc)."""
    done_here = {entry.fingerprint for entry in known if current.get(entry.key) == entry.token}
    return [entry for entry in known
            if entry.key not in present and entry not in claimed
            and entry.fingerprint in done_here]


def carry_out_reorganisation(destination: Storage, plan: Reorganisation,
                             formats: tuple[str, ...], protected_stems: set[str]
                             ) -> Reorganised:
    """Copies and take-overs first (they may read an origin that a move then removes), then
    moves, then leftovers. `protected_stems`: the transcript stems of recordings in the source,
    never removed with an old place (a.mp3 renamed a.wav keeps the stem 'a')."""
    outcome = Reorganised()
    ordered = sorted(plan.reused, key=lambda item: item.how is Reuse.MOVE)
    for item in ordered:
        record = read_done(destination, item.origin.key, item.origin.token)
        if record is None:  # moved away by another director since the plan was made
            if not is_done(destination, item.job.key, item.job.version):
                outcome.requeue.append(item.job)
            continue
        reuse(destination, item, record, formats)
        if item.how is Reuse.MOVE:
            remove_old_place(destination, item.origin, record, protected_stems)
        outcome.counts[item.how.value] += 1
        log.info("%s %s -> %s", item.how.value, item.origin.key, item.job.key)
    for entry in plan.leftovers:
        record = read_done(destination, entry.key, entry.token)
        if record is not None:
            remove_old_place(destination, entry, record, protected_stems)
            outcome.leftovers_removed += 1
            log.info("removed the old place of moved %s", entry.key)
    if outcome.total:
        add_counts(destination, outcome.counts)
    return outcome


def reuse(destination: Storage, item: Reused, record: dict, formats: tuple[str, ...]) -> None:
    """The new place, complete: transcripts, then the done record, then its catalog entry."""
    origin = {"how": item.how.value, "key": item.origin.key, "version": item.origin.token}
    write_reused(destination, dict(record, fingerprint=item.origin.fingerprint), item.job.key,
                 item.job.version, item.job.output_stem, formats, origin)


def remove_old_place(destination: Storage, entry: Entry, record: dict,
                     protected_stems: set[str]) -> None:
    """Until the old done record goes (last), the old place is a leftover that the next plan
    finds again (find_leftovers)."""
    remove_done(destination, dict(record, key=entry.key), protected_stems)
    destination.delete(entry.name())  # in case the record's own entry was named otherwise
    destination.delete(layout.record_name(DONE, entry.key, entry.token))


def add_counts(destination: Storage, counts: dict[str, int]) -> None:
    """Add one run's counts to the destination's totals, which `status` shows. A read, then a
    write: two directors finishing at the same instant may lose one's counts (only counts)."""
    totals = read_counts(destination)
    merged = {how: int(totals.get("total", {}).get(how, 0)) + counts.get(how, 0)
              for how in counts}
    destination.write_atomic(COUNTS_RECORD, json.dumps(
        {"last": dict(counts, at=time.time()), "total": merged}, indent=1).encode())


def read_counts(destination: Storage) -> dict:
    """{"last": {how: n, "at": time}, "total": {how: n}}, or {} before any reorganisation."""
    return read_record(destination, COUNTS_RECORD) or {}
