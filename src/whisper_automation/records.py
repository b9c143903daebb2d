"""Done and failure records: the destination is the source of truth for what is finished.

A done record holds the full transcription result, so a newly requested format is rendered from
it without transcribing again. It is written after every transcript, so its presence means all
outputs were complete at that moment. Both kinds carry the recording's version in their name
(see layout.record_key), which lets the director diff source and destination by listing alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from . import layout
from .layout import DONE, FAILED, UNCOVERED, Version
from .storage import Storage
from .writers import render

SCHEMA = 1


@dataclass(frozen=True)
class Outcome:
    """What a worker learnt about one recording, as stored in a done record."""

    key: str
    version: Version
    output_stem: str
    result: dict
    engine: str
    model: str
    options: dict
    transcribe_seconds: float
    worker: str
    started_at: float


def write_outputs(destination: Storage, stem: str, result: dict, formats: Iterable[str]) -> None:
    for fmt in formats:
        destination.write_atomic(layout.output_key(stem, fmt), render(result, fmt))


def write_done(destination: Storage, outcome: Outcome, formats: Iterable[str]) -> str:
    """Write every transcript, then the done record, then forget older versions and failures."""
    formats = tuple(formats)
    write_outputs(destination, outcome.output_stem, outcome.result, formats)
    record = {
        "schema": SCHEMA,
        "key": outcome.key,
        "version": outcome.version.to_dict(),
        "output_stem": outcome.output_stem,
        "formats": list(formats),
        "engine": outcome.engine,
        "model": outcome.model,
        "options": outcome.options,
        "worker": outcome.worker,
        "audio_seconds": outcome.result.get("duration"),
        "transcribe_seconds": round(outcome.transcribe_seconds, 3),
        "started_at": outcome.started_at,
        "finished_at": time.time(),
        "coverage": outcome.result.get("coverage"),
        "result": outcome.result,
    }
    name = layout.record_key(DONE, outcome.key, outcome.version)
    destination.write_atomic(name, _encode(record))
    _remove_other_versions(destination, DONE, outcome.key, keep=name)
    _remove_other_versions(destination, FAILED, outcome.key, keep=None)
    _mark_uncovered(destination, outcome)
    return name


def _mark_uncovered(destination: Storage, outcome: Outcome) -> None:
    """A small record beside the done one when speech stayed uncovered, so that status finds
    such files from one listing of a (usually empty) folder instead of reading every record."""
    coverage = outcome.result.get("coverage") or {}
    keep = None
    if coverage.get("uncovered_seconds"):
        keep = layout.record_key(UNCOVERED, outcome.key, outcome.version)
        destination.write_atomic(keep, _encode({
            "schema": SCHEMA, "key": outcome.key, "version": outcome.version.to_dict(),
            "uncovered_seconds": coverage["uncovered_seconds"],
            "uncovered": coverage.get("uncovered", []),
            "recovered_seconds": coverage.get("recovered_seconds", 0.0)}))
    _remove_other_versions(destination, UNCOVERED, outcome.key, keep=keep)


def write_failure(destination: Storage, key: str, version: Version | None, reason: str,
                  attempts: int, final: bool, worker: str) -> str:
    """Record why a recording failed; status shows it and the director leaves it alone."""
    version = version or Version(size=0)
    record = {
        "schema": SCHEMA,
        "key": key,
        "version": version.to_dict(),
        "reason": reason,
        "attempts": attempts,
        "final": final,
        "worker": worker,
        "failed_at": time.time(),
    }
    name = layout.record_key(FAILED, key, version)
    destination.write_atomic(name, _encode(record))
    _remove_other_versions(destination, FAILED, key, keep=name)
    return name


def read_record(storage: Storage, name: str) -> dict | None:
    data = storage.read_bytes(name)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None  # a damaged record counts as absent: the file is simply done again


def read_done(storage: Storage, key: str, token: str) -> dict | None:
    """The done record of one version, as named by list_records' {key: token}."""
    return read_record(storage, layout.record_name(DONE, key, token))


def list_records(storage: Storage, kind: str) -> dict[str, str]:
    """{key: version token} for every record of one kind, from one listing."""
    found: dict[str, str] = {}
    for name in storage.list_keys(f"{layout.STATE_DIR}/{kind}/"):
        parsed = layout.parse_record_key(kind, name)
        if parsed:
            found[parsed[0]] = parsed[1]
    return found


def _remove_other_versions(storage: Storage, kind: str, key: str, keep: str | None) -> None:
    prefix = layout.record_prefix(kind, key)
    folder = prefix.rpartition("/")[0] + "/"
    for name in list(storage.list_keys(folder)):
        parsed = layout.parse_record_key(kind, name) if name.startswith(prefix) else None
        if parsed and parsed[0] == key and name != keep:
            storage.delete(name)


def _encode(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8")
