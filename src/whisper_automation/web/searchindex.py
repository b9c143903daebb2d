"""A full-text index of every transcript in a destination: SQLite FTS5, built from the done records.

The done records stay the source of truth; the index is a cache that any reader brings up to
date from one listing of them (`sync`): new keys and changed versions are (re)indexed, removed
ones dropped, nothing else is touched. Workers never write to it, so several of them finishing
at once need no coordination; several readers syncing at once are safe because every change is
a compare-and-set on the version the reader saw, inside a write transaction (WAL, BEGIN
IMMEDIATE), so a reader that lost the race skips what another one did.

Search is forgiving: exact hits (words, phrases, prefixes) come first, then hits found through
words that sound or are spelled alike (soundalike.py), each hit saying which kind it is. The
words table those come from grows with each record indexed, so it stays incremental too.

Where it lives: DEST/.whisper-automation/search.sqlite for a folder (beside the records, not
inside their folders), a per-destination file in the user's cache for S3 (or for a folder this
process may not write to).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from pathlib import Path

from whisper_automation.storage.base import Storage
from whisper_automation.storage.layout import STATE_DIR
from whisper_automation.storage.records import latest_done, read_done, record_result
from whisper_automation.transcription.speech import Result
from whisper_automation.web.searchquery import to_forgiving_fts_query, to_fts_query
from whisper_automation.web.soundalike import WORDS_SCHEMA, alternatives, remember_words

SCHEMA_VERSION = 2  # 2: the words table (sound-alike search)
INDEX_NAME = "search.sqlite"
BATCH = 200  # records read and committed together: a long first build keeps what it did
READERS = 8
MARK_START, MARK_END = "\ue000", "\ue001"  # private-use characters, removed from indexed text
DEFAULT_LIMIT = 20

_SCHEMA = (
    """CREATE TABLE recordings (
        key TEXT PRIMARY KEY, token TEXT NOT NULL, duration REAL, language TEXT,
        segments INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE segments (
        id INTEGER PRIMARY KEY, key TEXT NOT NULL, position INTEGER NOT NULL,
        start_time REAL NOT NULL, end_time REAL NOT NULL, text TEXT NOT NULL)""",
    "CREATE INDEX segments_by_key ON segments(key, position)",
    # remove_diacritics 2: "Jose" finds "José", "ecole" finds "École"; case folds too.
    """CREATE VIRTUAL TABLE segments_text USING fts5(text, content='segments',
        content_rowid='id', tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER segments_added AFTER INSERT ON segments BEGIN
        INSERT INTO segments_text(rowid, text) VALUES (new.id, new.text); END""",
    """CREATE TRIGGER segments_removed AFTER DELETE ON segments BEGIN
        INSERT INTO segments_text(segments_text, rowid, text) VALUES ('delete', old.id, old.text);
        END""",
    *WORDS_SCHEMA,
)
_TABLES = ("segments_text", "segments", "recordings", "words")


class SearchUnavailable(RuntimeError):
    """Search cannot work here (SQLite without FTS5, an index that cannot be opened)."""


class HitKind(Enum):
    EXACT = "exact"  # the words, phrase or prefix as typed
    SOUNDS_LIKE = "sounds like"  # at least one word matched through a sound-alike word


@dataclass(frozen=True)
class Filters:
    """Narrow a search to a folder (and its subfolders) and to one detected language."""

    folder: str = ""  # "" or "a/b/"
    language: str | None = None


@dataclass(frozen=True)
class Hit:
    key: str
    segment: int  # position of the segment in its transcript
    start: float
    end: float
    text: str
    matches: tuple[tuple[int, int], ...]  # [start, end) character offsets of the matched words
    kind: HitKind = HitKind.EXACT
    language: str | None = None

    def marked(self, before: str = "**", after: str = "**") -> str:
        pieces, cursor = [], 0
        for first, last in self.matches:
            pieces += [self.text[cursor:first], before, self.text[first:last], after]
            cursor = last
        return "".join([*pieces, self.text[cursor:]])

    def to_dict(self) -> dict:
        return {"key": self.key, "start": self.start, "end": self.end, "text": self.text,
                "marked": self.marked(), "matches": [list(span) for span in self.matches],
                "segment": self.segment, "kind": self.kind.value, "language": self.language}


@dataclass
class SyncReport:
    indexed: int = 0
    removed: int = 0
    recordings: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # records that could not be read


def format_clock(seconds: float) -> str:
    """7.5 -> '0:07.5', 3725 -> '1:02:05.0'."""
    whole, tenth = divmod(round(max(seconds, 0.0) * 10), 10)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}.{tenth}"
    return f"{minutes}:{secs:02d}.{tenth}"


def folder_prefix(path: str) -> str:
    """A folder as the keys start with it: "a/b" -> "a/b/", "" or "/" -> "" (everything)."""
    path = path.strip("/")
    return f"{path}/" if path else ""


def index_location(destination: str) -> Path:
    """The index file for a destination (a folder path or an s3:// URL)."""
    if not destination.startswith("s3://"):
        state = Path(destination) / STATE_DIR
        if _may_write(state):
            return state / INDEX_NAME
        destination = os.path.realpath(destination)
    digest = hashlib.sha256(destination.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return cache_folder() / f"{digest}.sqlite"


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "whisper-automation" / "search"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable home (a container's user without one)
        folder = Path(tempfile.gettempdir()) / f"whisper-automation-search-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _may_write(state: Path) -> bool:
    existing = state if state.exists() else state.parent
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


_fts5_checked = False


def require_fts5(connection: sqlite3.Connection) -> None:
    global _fts5_checked
    if _fts5_checked:
        return
    try:
        connection.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(text)")
        connection.execute("DROP TABLE temp.fts5_probe")
    except sqlite3.OperationalError as error:
        raise SearchUnavailable(
            f"search needs SQLite's full-text engine FTS5, and the SQLite of this Python "
            f"(version {sqlite3.sqlite_version}) was built without it ({error}). Use a Python "
            f"whose sqlite3 includes FTS5 (python.org, Debian/Ubuntu, Homebrew and conda "
            f"builds all do).") from None
    _fts5_checked = True


class SearchIndex:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_destination(cls, destination: str) -> SearchIndex:
        return cls(index_location(destination))

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own (one per thread or request); the schema made on first use."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.Error as error:
            raise SearchUnavailable(f"cannot open the search index {self.path}: {error}") \
                from None
        with closing(connection):
            require_fts5(connection)
            try:
                _prepare(connection)
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise _damaged(self.path, error) from None
                raise SearchUnavailable(
                    f"the search index {self.path} stayed locked for {PREPARE_WAIT_SECONDS:.0f} "
                    f"s ({error}): another process holds it; try again") from None
            except sqlite3.DatabaseError as error:
                raise _damaged(self.path, error) from None
            yield connection

    # --- keeping it current -------------------------------------------------------------
    def sync(self, destination: Storage,
             progress: Callable[[int, int], None] | None = None) -> SyncReport:
        """Bring the index up to the destination's done records, from one listing of them."""
        started = time.monotonic()
        listing = latest_done(destination)
        report = SyncReport(recordings=len(listing))
        # Records are read by a few threads: on S3 each is a request of its own.
        with self.connection() as connection, ThreadPoolExecutor(READERS) as readers:
            seen = dict(connection.execute("SELECT key, token FROM recordings"))
            changed = sorted(key for key, token in listing.items() if seen.get(key) != token)
            for done, batch in enumerate(_chunks(changed, BATCH)):
                records = dict(zip(batch, readers.map(
                    lambda key: read_done(destination, key, listing[key]), batch), strict=True))
                report.skipped += [key for key, record in records.items() if record is None]
                with _writing(connection):
                    for key, record in records.items():
                        if _token(connection, key) == seen.get(key):  # else another sync did it
                            _replace(connection, key, listing[key], record)
                if progress:
                    progress(min((done + 1) * BATCH, len(changed)), len(changed))
            removed = [key for key in seen if key not in listing]
            with _writing(connection):
                for key in removed:
                    if _token(connection, key) == seen[key]:
                        connection.execute("DELETE FROM segments WHERE key = ?", (key,))
                        connection.execute("DELETE FROM recordings WHERE key = ?", (key,))
        report.indexed, report.removed = len(changed), len(removed)
        report.seconds = time.monotonic() - started
        return report

    # --- reading ------------------------------------------------------------------------
    def search(self, query: str, limit: int = DEFAULT_LIMIT, sounds_like: bool = True,
               filters: Filters = Filters()) -> list[Hit]:
        """The exact hits, best first; then, to fill `limit`, the sound-alike ones."""
        expression = to_fts_query(query)
        if expression is None:
            return []
        with self.connection() as connection:
            hits = _matching(connection, expression, limit, filters, HitKind.EXACT)
            if not sounds_like or len(hits) >= limit:
                return hits
            similar = cache(lambda word: alternatives(connection, word))
            forgiving = to_forgiving_fts_query(query, similar)
            if forgiving == expression:
                return hits  # no word of the query sounds like any other word indexed
            seen = {(hit.key, hit.segment) for hit in hits}
            more = _matching(connection, forgiving, limit + len(hits), filters,
                             HitKind.SOUNDS_LIKE)
        return hits + [hit for hit in more if (hit.key, hit.segment) not in seen][
            :limit - len(hits)]

    def languages(self) -> list[dict]:
        """The languages transcripts were detected in, each with its number of recordings."""
        with self.connection() as connection:
            rows = connection.execute(
                "SELECT language, count(*) FROM recordings WHERE language IS NOT NULL "
                "GROUP BY language ORDER BY count(*) DESC, language").fetchall()
        return [{"language": language, "recordings": count} for language, count in rows]

    def folders(self) -> list[str]:
        """Every folder that holds a transcribed recording, at any depth ("a/", "a/b/")."""
        with self.connection() as connection:
            keys = [row[0] for row in connection.execute("SELECT key FROM recordings")]
        found = set()
        for key in keys:
            parts = key.split("/")[:-1]
            found.update("/".join(parts[:depth]) + "/" for depth in range(1, len(parts) + 1))
        return sorted(found)

    def transcript(self, key: str) -> dict | None:
        """{key, duration, language, segments: [{start, end, text}]}, None if not indexed."""
        with self.connection() as connection:
            recording = connection.execute(
                "SELECT duration, language FROM recordings WHERE key = ?", (key,)).fetchone()
            if recording is None:
                return None
            segments = connection.execute(
                "SELECT start_time, end_time, text FROM segments WHERE key = ? "
                "ORDER BY position", (key,)).fetchall()
        return {"key": key, "duration": recording[0], "language": recording[1],
                "segments": [{"start": s, "end": e, "text": t} for s, e, t in segments]}

    def folder(self, prefix: str = "") -> dict:
        """The transcribed recordings directly in a folder ("" or "a/b/") and its subfolders,
        each subfolder with how many recordings it holds."""
        with self.connection() as connection:
            rows = connection.execute(
                "SELECT key, duration, language FROM recordings WHERE key >= ? AND key < ? "
                "ORDER BY key", (prefix, prefix + "\U0010ffff")).fetchall()
        folders: dict[str, int] = {}
        files = []
        for key, duration, language in rows:
            name, slash, _ = key[len(prefix):].partition("/")
            if slash:
                folders[name] = folders.get(name, 0) + 1
            else:
                files.append({"name": name, "key": key, "duration": duration,
                              "language": language})
        return {"folder": prefix, "files": files,
                "folders": [{"name": name, "path": f"{prefix}{name}/", "recordings": count}
                            for name, count in sorted(folders.items())]}


def _matching(connection: sqlite3.Connection, expression: str, limit: int, filters: Filters,
              kind: HitKind) -> list[Hit]:
    rows = connection.execute(
        """SELECT s.key, s.position, s.start_time, s.end_time,
                  highlight(segments_text, 0, ?, ?), r.language
           FROM segments_text JOIN segments AS s ON s.id = segments_text.rowid
           JOIN recordings AS r ON r.key = s.key
           WHERE segments_text MATCH ? AND s.key >= ? AND s.key < ?
                 AND (? IS NULL OR r.language = ?)
           ORDER BY rank, s.key, s.position LIMIT ?""",
        (MARK_START, MARK_END, expression, filters.folder, filters.folder + "\U0010ffff",
         filters.language, filters.language, limit)).fetchall()
    return [_hit(*row, kind=kind) for row in rows]


# Opening a new index from several processes at once: switching to WAL takes an exclusive lock,
# and SQLite answers "database is locked" at once, without waiting its timeout, to the
# connection that would otherwise deadlock with another doing the same (a CI run failed so: six
# syncs started together). Such a lock is momentary: try again for this long.
PREPARE_WAIT_SECONDS = 60.0


def _prepare(connection: sqlite3.Connection) -> None:
    deadline = time.monotonic() + PREPARE_WAIT_SECONDS
    while True:
        try:
            _prepare_once(connection)
            return
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _damaged(path: Path, error: sqlite3.Error) -> SearchUnavailable:
    return SearchUnavailable(f"the search index {path} is damaged ({error}): delete it, and the "
                             f"next search rebuilds it from the done records")


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) \
        or "locked" in str(error)


def _prepare_once(connection: sqlite3.Connection) -> None:
    if connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for a sync
    with _writing(connection):
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return  # another process made it while we waited for the lock
        for table in _TABLES:  # an index of another schema version is rebuilt from the records
            connection.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextmanager
def _writing(connection: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock at once, so two syncs never both read then both write.
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _token(connection: sqlite3.Connection, key: str) -> str | None:
    row = connection.execute("SELECT token FROM recordings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _replace(connection: sqlite3.Connection, key: str, token: str, record: dict | None) -> None:
    # A record that vanished or is damaged is kept with no text: a re-transcription brings a
    # new version (and name), which the next sync indexes.
    result = _result(record)
    segments = list(_segments(result)) if result else []
    duration, language = (result.duration, result.language) if result else (None, None)
    connection.execute("DELETE FROM segments WHERE key = ?", (key,))
    connection.executemany(
        "INSERT INTO segments(key, position, start_time, end_time, text) VALUES (?, ?, ?, ?, ?)",
        [(key, position, *segment) for position, segment in enumerate(segments)])
    remember_words(connection, (text for _, _, text in segments))
    connection.execute(
        "INSERT OR REPLACE INTO recordings(key, token, duration, language, segments) "
        "VALUES (?, ?, ?, ?, ?)",
        (key, token, duration, language, len(segments)))


def _result(record: dict | None) -> Result | None:
    """The record's transcript; None for a record that vanished or whose result is damaged."""
    try:
        return record_result(record) if record else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _segments(result: Result) -> Iterator[tuple[float, float, str]]:
    for segment in result.segments:
        text = segment.text.strip().replace(MARK_START, "").replace(MARK_END, "")
        if text:
            yield segment.start, segment.end, text


def _hit(key: str, position: int, start: float, end: float, highlighted: str,
         language: str | None, kind: HitKind) -> Hit:
    text, matches, opened = [], [], 0
    length = 0
    for piece in re.split(f"([{MARK_START}{MARK_END}])", highlighted):
        if piece == MARK_START:
            opened = length
        elif piece == MARK_END:
            matches.append((opened, length))
        else:
            text.append(piece)
            length += len(piece)
    return Hit(key, position, start, end, "".join(text), tuple(matches), kind, language)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for first in range(0, len(items), size):
        yield items[first:first + size]
