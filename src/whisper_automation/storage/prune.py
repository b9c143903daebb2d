"""Orphans: transcripts of recordings gone from the source and not found elsewhere.

They are never deleted silently: `status` lists them, and `prune` removes them, showing what it
would remove unless told to act (--yes). Recordings that were moved are not orphans: the
director finds their bytes at the new place and moves the transcripts (reorganise.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from whisper_automation.storage import layout
from whisper_automation.storage.base import Storage
from whisper_automation.storage.records import read_done, read_records, remove_done


@dataclass(frozen=True)
class Orphan:
    key: str
    token: str
    files: tuple[str, ...]  # the transcripts, as the done record names them
    record: dict


def orphan_keys(done: dict[str, set[str]], present: set[str]) -> list[str]:
    """Recordings with a done record but no longer in the source (no reading)."""
    return sorted(key for key in done if key not in present)


@dataclass
class Orphans:
    items: list[Orphan]
    protected_stems: set[str]  # transcript stems of recordings in the source: never removed


def find_orphans(source: Storage, destination: Storage, extensions: tuple[str, ...]) -> Orphans:
    present = {key for key, _ in source.scan(extensions)}
    done = read_records(destination).done
    orphans = []
    for key in orphan_keys(done, present):
        for token in sorted(done[key]):
            record = read_done(destination, key, token)
            if record is None:
                continue  # unreadable: removed by nobody, shown by status
            files = tuple(layout.output_key(str(record.get("output_stem")), fmt)
                          for fmt in record.get("formats", []))
            orphans.append(Orphan(key, token, files, record))
    return Orphans(orphans, set(layout.assign_output_stems(present).values()))


def prune(destination: Storage, orphans: Orphans) -> int:
    """Remove the orphans' transcripts, then their records; return how many."""
    for orphan in orphans.items:
        remove_done(destination, dict(orphan.record, key=orphan.key), orphans.protected_stems)
        destination.delete(layout.record_name(layout.DONE, orphan.key, orphan.token))
    return len(orphans.items)
