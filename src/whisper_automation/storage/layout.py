"""Where things go: source keys, transcript names in the mirrored tree, and record names.

A *key* is a recording's path relative to the source root, with "/" separators
("week1/lesson1/video0.mp4"). Transcripts mirror it ("week1/lesson1/video0.txt"), following
openai-whisper's CLI convention of replacing the extension. Bookkeeping lives in a hidden folder of
the destination so the transcript tree stays clean and the director can list it with one walk.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from whisper_automation.errors import UnsafeKey

STATE_DIR = ".whisper-automation"
DONE = "done"
FAILED = "failed"
UNCOVERED = "uncovered"  # done, but some detected speech has no word (see coverage.py)
WORKERS = "workers"
TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp")
# The longest file name (one path segment) ext4, XFS, btrfs, APFS and NTFS hold, in bytes.
NAME_MAX_BYTES = 255


@dataclass(frozen=True)
class Version:
    """What identifies one version of a recording: size plus mtime (folders) or ETag (S3)."""

    size: int
    mtime_ns: int = 0
    etag: str = ""

    def token(self) -> str:
        # Only digits, letters and '-': safe inside file names and SQS ids.
        tag = self.etag.strip('"') if self.etag else str(self.mtime_ns)
        return f"{self.size}-{tag}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Version:
        return cls(size=int(data["size"]), mtime_ns=int(data.get("mtime_ns", 0)),
                   etag=str(data.get("etag", "")))


def check_key(key: str) -> str:
    """Return the key if it names something strictly inside a root, else raise UnsafeKey."""
    if not isinstance(key, str) or not key:
        raise UnsafeKey("empty key")
    if "\x00" in key:
        raise UnsafeKey(f"key contains a NUL byte: {key!r}")
    if key.startswith("/"):
        raise UnsafeKey(f"absolute path refused: {key!r}")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeKey(f"key leaves or re-enters its folder: {key!r}")
    return key


def is_recording_key(key: str, extensions: Iterable[str]) -> bool:
    """The scanner's rules for a key: safe, no hidden folder on the way (the state folder
    included), and a file name that looks like a finished recording."""
    try:
        check_key(key)
    except UnsafeKey:
        return False
    *folders, name = key.split("/")
    return not any(folder.startswith(".") for folder in folders) and \
        is_candidate_name(name, extensions)


def record_name_problem(key: str, token: str) -> str | None:
    """Why this recording's records could not be stored, or None if they can: a record's file
    name is the recording's name plus '#<version token>.json', which must fit NAME_MAX_BYTES
    (else every write and lookup of it fails with ENAMETOOLONG, or S3's key limit)."""
    name = posixpath.basename(record_name(DONE, key, token))
    if len(name.encode("utf-8", "surrogatepass")) <= NAME_MAX_BYTES:
        return None
    room = NAME_MAX_BYTES - len(name.encode("utf-8", "surrogatepass")) + \
        len(posixpath.basename(key).encode("utf-8", "surrogatepass"))
    return (f"the file name is too long for this tool's record of it (at most {room} bytes "
            "here, UTF-8): rename the recording, shorter")


def printable(text: str) -> str:
    """Text safe to put on one line of a log or a terminal: control and formatting characters
    (newlines, escapes, bidi overrides) and undecodable bytes are written as Python escapes,
    so a file name cannot forge a log line or move the cursor; other characters stay."""
    return "".join(character if character.isprintable()
                   else character.encode("unicode_escape").decode("ascii")
                   for character in text)


def is_candidate_name(name: str, extensions: Iterable[str]) -> bool:
    """A file name that looks like a finished recording: known extension, not hidden or partial."""
    if name.startswith(".") or name.lower().endswith(TEMP_SUFFIXES):
        return False
    _, dot, extension = name.rpartition(".")
    return bool(dot) and extension.lower() in set(extensions)


def assign_output_stems(keys: Iterable[str]) -> dict[str, str]:
    """Map each key to the stem of its transcripts ("a/b.mp3" -> "a/b").

    Two recordings in one folder with the same stem (a.mp3 and a.wav, or A.mp3 and a.mp3 on a
    case-insensitive disk) would write the same a.txt. Each of them then keeps its extension in
    the transcript name (a.mp3.txt, a.wav.txt); if even that clashes (a.mp3 beside a.mp3.wav,
    or names differing only in case) a short hash of the key is added. Deterministic, computed
    from the listing alone, and nothing overwrites anything.
    """
    stems = {key: _stem(key) for key in keys}
    while True:
        groups: dict[str, list[str]] = defaultdict(list)
        for key, stem in stems.items():
            groups[stem.lower()].append(key)  # folders too: destinations may ignore case
        clashes = [key for members in groups.values() if len(members) > 1 for key in members]
        if not clashes:
            return stems
        for key in clashes:
            stems[key] = key if stems[key] != key else f"{key}.{_short_hash(key)}"


def _short_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _stem(key: str) -> str:
    root, _ = posixpath.splitext(key)
    return root


def output_key(stem: str, fmt: str) -> str:
    return f"{stem}.{fmt}"


def record_key(kind: str, key: str, version: Version) -> str:
    """Records carry the version in their name, so the director diffs by listing alone."""
    return record_name(kind, key, version.token())


def record_name(kind: str, key: str, token: str) -> str:
    """The one place that names records: `.whisper-automation/<kind>/<key>#<token>.json`."""
    return f"{STATE_DIR}/{kind}/{key}#{token}.json"


def parse_record_key(kind: str, record: str) -> tuple[str, str] | None:
    """Inverse of record_key: (key, version token), or None for anything else."""
    prefix = f"{STATE_DIR}/{kind}/"
    if not record.startswith(prefix) or not record.endswith(".json"):
        return None
    key, hash_sign, token = record[len(prefix):-len(".json")].rpartition("#")
    return (key, token) if hash_sign and key else None
