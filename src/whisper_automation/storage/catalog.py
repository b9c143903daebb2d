"""The catalog: for every done version, its content fingerprint and the engine and model that
transcribed it, readable from one listing.

Done records hold both, but a done record also holds the whole transcript, so reading 100,000
of them to find one fingerprint would take minutes. A catalog entry is an empty object whose
*name* says it all: `.whisper-automation/catalog/<key>#<token>@<sha256 hex>@<engine model>.json`.
It is an index, never the truth: an entry counts only beside the done record of the same
version, and a done record without one (written before fingerprints existed) is simply not
found by its content.

Listed only when something may need it (a recording to do, one gone, a re-transcription, the
status), so an unchanged library costs the director no extra listing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote

from whisper_automation.storage import layout
from whisper_automation.storage.base import Storage
from whisper_automation.storage.fingerprint import digest_part, fingerprint_hex

CATALOG = "catalog"
UNKNOWN_MODEL = "unknown"


def model_label(engine: str, model: str) -> str:
    """What `status` shows and re-transcription compares: 'faster-whisper tiny.en'."""
    return f"{engine} {model}"


@dataclass(frozen=True)
class Entry:
    key: str
    token: str
    fingerprint: str  # "sha256:<hex>"
    model: str  # model_label(...)

    @property
    def size(self) -> int:
        return token_size(self.token)

    def name(self) -> str:
        detail = f"{self.token}@{digest_part(self.fingerprint)}@{quote(self.model, safe='')}"
        return layout.record_name(CATALOG, self.key, detail)


def token_size(token: str) -> int:
    """A version token starts with the recording's size in bytes (layout.Version.token)."""
    head = token.split("-", 1)[0]
    return int(head) if head.isdigit() else -1


def parse_entry(name: str) -> Entry | None:
    parsed = layout.parse_record_key(CATALOG, name)
    if parsed is None:
        return None
    key, detail = parsed
    parts = detail.split("@")
    if len(parts) != 3 or len(parts[1]) != 64:
        return None
    return Entry(key, parts[0], fingerprint_hex(parts[1]), unquote(parts[2]))


def read_catalog(storage: Storage) -> list[Entry]:
    """Every entry, from one listing."""
    entries = (parse_entry(name)
               for name in storage.list_keys(f"{layout.STATE_DIR}/{CATALOG}"))
    return [entry for entry in entries if entry is not None]


def write_entry(storage: Storage, entry: Entry) -> None:
    storage.write_atomic(entry.name(), b"")


def delete_entries(storage: Storage, entries: Iterable[Entry]) -> None:
    for entry in entries:
        storage.delete(entry.name())


def done_entries(entries: Iterable[Entry], done: dict[str, set[str]]) -> list[Entry]:
    """The entries that count: those beside a done record of the same version."""
    return [entry for entry in entries if entry.token in done.get(entry.key, ())]


def superseded(entries: Iterable[Entry], current: dict[str, str]) -> list[Entry]:
    """Entries of recordings still in the source ({key: token}) but of another version: swept
    like the other records of old versions (records.Records.stale). Entries of recordings gone
    from the source are kept: they are how a moved recording is recognised."""
    return [entry for entry in entries
            if entry.key in current and entry.token != current[entry.key]]
