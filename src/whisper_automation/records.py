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
from .layout import DONE, FAILED, Version
from .storage import Storage
from .writers import render

SCHEMA = 1


@dataclass(frozen=True)
class Transcription:
    """What a worker learnt transcribing one recording, as stored in its done record."""

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


def write_done(destination: Storage, transcription: Transcription, formats: Iterable[str]) -> str:
    """Write every transcript, then the done record, then forget older versions and failures."""
    formats = tuple(formats)
    write_outputs(destination, transcription.output_stem, transcription.result, formats)
    record = {
        "schema": SCHEMA,
        "key": transcription.key,
        "version": transcription.version.to_dict(),
        "output_stem": transcription.output_stem,
        "formats": list(formats),
        "engine": transcription.engine,
        "model": transcription.model,
        "options": transcription.options,
        "worker": transcription.worker,
        "audio_seconds": transcription.result.get("duration"),
        "transcribe_seconds": round(transcription.transcribe_seconds, 3),
        "started_at": transcription.started_at,
        "finished_at": time.time(),
        "result": transcription.result,
    }
    name = layout.record_key(DONE, transcription.key, transcription.version)
    destination.write_atomic(name, _encode(record))
    _remove_other_versions(destination, DONE, transcription.key, keep=name)
    _remove_other_versions(destination, FAILED, transcription.key, keep=None)
    return name


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
