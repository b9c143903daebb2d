"""Done and failure records: the destination is the source of truth for what is finished.

A done record holds the full transcription result (speech.Result, as its dict), so a newly
requested format is rendered from it without transcribing again. It is written after every
transcript, so its presence means all outputs were complete at that moment. Both kinds carry
the recording's version in their name (see layout.record_key), which lets the director diff
source and destination by listing alone.

Cost per file, whatever the number of recordings: a worker looks its file's record up by its
exact name and writes it by its exact name (plus one delete of a failure of the same version);
it never lists. Records of versions that are no longer current are harmless (only the current
version's record counts) and are swept by the director, which lists every record anyway.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from whisper_automation.storage import layout
from whisper_automation.storage.base import Storage
from whisper_automation.storage.catalog import Entry, model_label, write_entry
from whisper_automation.storage.layout import DONE, FAILED, UNCOVERED, Version
from whisper_automation.transcription.prose import RecordingInfo
from whisper_automation.transcription.speech import Coverage, Result
from whisper_automation.transcription.writers import render

SCHEMA = 1


@dataclass(frozen=True)
class Transcription:
    """What a worker learnt transcribing one recording, as stored in its done record."""

    key: str
    version: Version
    output_stem: str
    result: Result
    engine: str
    model: str
    options: dict
    transcribe_seconds: float
    worker: str
    started_at: float
    fingerprint: str = ""  # "sha256:<hex>" of the recording's bytes (fingerprint.py)


def write_outputs(destination: Storage, stem: str, result: Result, formats: Iterable[str],
                  info: RecordingInfo | None = None) -> None:
    for fmt in formats:
        destination.write_atomic(layout.output_key(stem, fmt), render(result, fmt, info))


def write_done(destination: Storage, transcription: Transcription, formats: Iterable[str]) -> str:
    """Write every transcript, then the done record, then forget older versions and failures."""
    formats = tuple(formats)
    result = transcription.result.to_dict()
    record = {
        "schema": SCHEMA,
        "key": transcription.key,
        "version": transcription.version.to_dict(),
        "output_stem": transcription.output_stem,
        "formats": list(formats),
        "fingerprint": transcription.fingerprint,
        "engine": transcription.engine,
        "model": transcription.model,
        "options": transcription.options,
        "worker": transcription.worker,
        "audio_seconds": transcription.result.duration,
        "transcribe_seconds": round(transcription.transcribe_seconds, 3),
        "started_at": transcription.started_at,
        "finished_at": time.time(),
        "coverage": result.get("coverage"),
        "result": result,
    }
    return commit_done(destination, record)


def write_reused(destination: Storage, record: dict, key: str, version: Version, stem: str,
                 formats: Iterable[str], origin: dict) -> str:
    """A done record for (key, version) made from another version's done record (the same bytes
    moved, copied or touched): the transcripts rendered from its result at `stem`, then the
    record, which says where it came from in `reused_from`."""
    reused = dict(record, key=key, version=version.to_dict(), output_stem=stem,
                  formats=list(dict.fromkeys(formats)), reused_from=origin,
                  finished_at=time.time())
    return commit_done(destination, reused)


def commit_done(destination: Storage, record: dict) -> str:
    """Transcripts first, the done record after them (its presence means they are complete),
    then the catalog entry (an index of the record), the failure forgotten and the uncovered
    marker brought up to date."""
    key, version = record["key"], Version.from_dict(record["version"])
    result = record_result(record)
    write_outputs(destination, record["output_stem"], result, record["formats"],
                  RecordingInfo.from_record(record))
    name = layout.record_key(DONE, key, version)
    replaced = read_record(destination, name)  # there only when re-transcribed
    destination.write_atomic(name, encode_record(record))
    entry = catalog_entry(record)
    if entry is not None:
        write_entry(destination, entry)
    old_entry = catalog_entry(replaced) if replaced else None
    if old_entry is not None and old_entry != entry:
        destination.delete(old_entry.name())  # the other model's entry
    # Done forgets a failure of this version (older versions' records: see sweep_stale).
    destination.delete(layout.record_key(FAILED, key, version))
    _mark_uncovered(destination, key, version, result.coverage)
    return name


def record_result(record: dict) -> Result:
    """The transcript a done record holds, typed (the record keeps it as a dict, in JSON)."""
    return Result.from_dict(record["result"])


def remove_done(destination: Storage, record: dict, protected_stems: set[str]) -> None:
    """Undo commit_done: the transcripts first (unless their stem belongs to a recording in the
    source, e.g. a.mp3 renamed to a.wav keeps the stem 'a'), the done record last, so that an
    interruption leaves a done record whose removal is simply tried again."""
    key, version = record["key"], Version.from_dict(record["version"])
    stem = str(record.get("output_stem", ""))
    if stem and stem not in protected_stems:
        for fmt in record.get("formats", []):
            destination.delete(layout.output_key(stem, fmt))
    destination.delete(layout.record_key(UNCOVERED, key, version))
    destination.delete(layout.record_key(FAILED, key, version))
    entry = catalog_entry(record)
    if entry is not None:
        destination.delete(entry.name())
    destination.delete(layout.record_key(DONE, key, version))


def catalog_entry(record: dict) -> Entry | None:
    """The catalog entry of a done record (catalog.py); None for records without a
    fingerprint (written before fingerprints existed)."""
    if not record.get("fingerprint"):
        return None
    version = Version.from_dict(record["version"])
    return Entry(record["key"], version.token(), record["fingerprint"],
                 model_label(str(record.get("engine")), str(record.get("model"))))


def _mark_uncovered(destination: Storage, key: str, version: Version,
                    coverage: Coverage | None) -> None:
    """A small record beside the done one when speech stayed uncovered, so that status finds
    such files from one listing of a (usually empty) folder instead of reading every record;
    removed by its exact name when a new transcript of the version covers everything."""
    name = layout.record_key(UNCOVERED, key, version)
    if coverage is None or not coverage.uncovered_seconds:
        destination.delete(name)
        return
    kept = coverage.to_dict()
    destination.write_atomic(name, encode_record({
        "schema": SCHEMA, "key": key, "version": version.to_dict(),
        "uncovered_seconds": kept["uncovered_seconds"], "uncovered": kept["uncovered"],
        "recovered_seconds": kept["recovered_seconds"]}))


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
    destination.write_atomic(name, encode_record(record))
    return name


def is_done(destination: Storage, key: str, version: Version) -> bool:
    return destination.exists(layout.record_key(DONE, key, version))


def read_record(storage: Storage, name: str) -> dict | None:
    data = storage.read_bytes(name)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None  # a damaged record counts as absent: the file is simply done again


class FileState(Enum):
    DONE = "done"
    FAILED = "failed"  # failed for this version; not queued again unless --retry-failed
    TO_DO = "to do"


@dataclass
class Records:
    """Which versions of which recordings the destination holds a record of, from one listing
    per kind. The one place that decides whether a recording is done, failed or to do."""

    done: dict[str, set[str]] = field(default_factory=dict)    # key -> version tokens
    failed: dict[str, set[str]] = field(default_factory=dict)
    uncovered: dict[str, set[str]] = field(default_factory=dict)  # done, speech left uncovered

    def has_uncovered_speech(self, key: str, token: str) -> bool:
        return token in self.uncovered.get(key, ())

    def state(self, key: str, token: str) -> FileState:
        if token in self.done.get(key, ()):
            return FileState.DONE
        if token in self.failed.get(key, ()):
            return FileState.FAILED
        return FileState.TO_DO

    def ever_failed(self, key: str) -> bool:
        return key in self.failed

    def stale(self, current: Mapping[str, str]) -> list[str]:
        """Names of the records of recordings in `current` ({key: version token}) that no longer
        count: other versions than the current one, and failures of a version now done."""
        names = []
        for kind, tokens_by_key in ((DONE, self.done), (FAILED, self.failed),
                                    (UNCOVERED, self.uncovered)):
            for key, tokens in tokens_by_key.items():
                if key not in current:
                    continue  # a recording gone from the source keeps its records
                superseded = {token for token in tokens if token != current[key]}
                if kind == FAILED and self.state(key, current[key]) is FileState.DONE:
                    superseded = set(tokens)
                names += [layout.record_name(kind, key, token)
                          for token in sorted(superseded)]
        return names


def read_records(storage: Storage) -> Records:
    return Records(done=_tokens(storage, DONE), failed=_tokens(storage, FAILED),
                   uncovered=_tokens(storage, UNCOVERED))


def read_done(storage: Storage, key: str, token: str) -> dict | None:
    """The done record of one version, as named by latest_done's {key: token}."""
    return read_record(storage, layout.record_name(DONE, key, token))


def latest_done(storage: Storage) -> dict[str, str]:
    """{key: version token} of every recording's newest done record, from one listing, for
    readers that have no source to ask which version is current (search). Until the director
    sweeps them, older versions' records may still be there: the one finished last wins."""
    chosen: dict[str, str] = {}
    for key, tokens in _tokens(storage, DONE).items():
        chosen[key] = max(tokens, key=lambda token: float(
            (read_done(storage, key, token) or {}).get("finished_at") or 0.0)) \
            if len(tokens) > 1 else next(iter(tokens))
    return chosen


def _tokens(storage: Storage, kind: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for name in storage.list_keys(f"{layout.STATE_DIR}/{kind}"):
        parsed = layout.parse_record_key(kind, name)
        if parsed:
            found[parsed[0]].add(parsed[1])
    return dict(found)


def sweep_stale(storage: Storage, names: Iterable[str]) -> int:
    """Delete records that no longer count (Records.stale); return how many."""
    count = 0
    for name in names:
        storage.delete(name)
        count += 1
    return count


def encode_record(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8")
