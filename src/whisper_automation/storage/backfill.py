"""Fingerprints for recordings done before fingerprints existed, once per destination.

A done record written by an older version has no fingerprint, so its recording, once moved or
renamed, would not be recognised by its bytes and would be transcribed again. The first director
run that finds no marker reads each such recording that is still where its record says (same
version), adds the fingerprint to its done record and writes its catalog entry, then leaves the
marker: every later run costs one existence check. A destination started by this version gets
the marker at its first run with something done; its records all have fingerprints, so that run
reads no recording either.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from whisper_automation.storage import layout
from whisper_automation.storage.base import Storage, StorageError
from whisper_automation.storage.catalog import read_catalog, write_entry
from whisper_automation.storage.records import (
    catalog_entry,
    encode_record,
    read_done,
    read_records,
)

log = logging.getLogger(__name__)

MARKER = f"{layout.STATE_DIR}/catalog-complete.json"


@dataclass(frozen=True)
class Backfill:
    """The done versions, still in the source as recorded, that the catalog lacks."""

    missing: list[tuple[str, str]]  # (key, version token)


def plan_backfill(source: Storage, destination: Storage,
                  extensions: Iterable[str]) -> Backfill | None:
    """None when there is nothing to do (the marker is there, or nothing is done yet); else
    what to fingerprint (maybe nothing, then only the marker is written)."""
    if destination.exists(MARKER):
        return None
    done = read_records(destination).done
    if not done:  # nothing to fingerprint, and nothing written into a destination yet unused
        return None
    listed = {(entry.key, entry.token) for entry in read_catalog(destination)}
    current = {key: version.token() for key, version in source.scan(extensions)}
    return Backfill([(key, token) for key, token in sorted(current.items())
                     if token in done.get(key, ()) and (key, token) not in listed])


def carry_out_backfill(source: Storage, destination: Storage, backfill: Backfill) -> int:
    """Fingerprint each, then write the marker; returns how many records got a fingerprint.
    A recording that cannot be read or changed meanwhile is left as it was (it is simply not
    recognised if moved later); the marker is written all the same, so no run pays again."""
    added = 0
    for key, token in backfill.missing:
        try:
            added += _fingerprint_record(source, destination, key, token)
        except StorageError as error:
            log.warning("could not fingerprint %s (done before fingerprints existed): %s",
                        key, error)
    try:
        destination.write_atomic(MARKER, json.dumps(
            {"written_at": time.time(), "fingerprinted": added}).encode("utf-8"))
    except StorageError as error:  # tried again next run; the transcription goes on
        log.warning("could not write %s: %s", MARKER, error)
    if added:
        log.info("fingerprinted %d recording(s) done before fingerprints existed (once)", added)
    return added


def _fingerprint_record(source: Storage, destination: Storage, key: str, token: str) -> int:
    record = read_done(destination, key, token)
    if record is None:
        return 0
    if not record.get("fingerprint"):
        fingerprint = source.fingerprint(key)
        version = source.version(key)
        # Race: the file may change while it is read; its fingerprint then belongs to no
        # recorded version, so it is kept only if the version is still the recorded one.
        if fingerprint is None or version is None or version.token() != token:
            return 0
        record["fingerprint"] = fingerprint
        destination.write_atomic(layout.record_name(layout.DONE, key, token), encode_record(record))
    entry = catalog_entry(record)
    if entry is None:
        return 0
    write_entry(destination, entry)
    return 1
