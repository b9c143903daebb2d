"""Storage behind one small interface: a local folder or S3 (s3.py), same callers.

Sources are scanned and read; destinations are written atomically and listed. Every key passes
`check_key` and, for folders, must also resolve (symlinks included) inside the root, so a message
can never make a worker read or write outside the two trees.

Errors: a missing object is an answer (None, or nothing listed), not an error. Any other I/O
trouble leaves a backend as a StorageError, whatever the backend's own exceptions are (OSError
here, botocore's in s3.py), so callers handle one family (errors.py); an unsafe key is an
UnsafeKey, before any I/O, on every backend. tests/unit/test_storage_contract.py holds both
backends to the same answers, call by call.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Protocol

from whisper_automation.errors import StorageError
from whisper_automation.storage.fingerprint import fingerprint_file
from whisper_automation.storage.layout import (
    UnsafeKey,
    Version,
    check_key,
    is_candidate_name,
    printable,
)

log = logging.getLogger(__name__)

# errno values of a store that may come back by itself (network file systems, a busy disk).
PASSING_ERRNOS = frozenset({
    errno.EIO, errno.EAGAIN, errno.EINTR, errno.ETIMEDOUT, errno.ESTALE, errno.EHOSTDOWN,
    errno.EHOSTUNREACH, errno.ENETDOWN, errno.ENETUNREACH, errno.ECONNRESET,
    errno.ECONNREFUSED, errno.ECONNABORTED, errno.ENOLINK})


def _current_umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask can only
    read by setting, which would race with threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # at import time, before any thread of ours writes files
    os.umask(mask)
    return mask


# Transcripts and records get the mode a plain `open()` would give them: 0666 less the umask.
FILE_MODE = 0o666 & ~_current_umask()


@contextmanager
def local_errors(action: str) -> Iterator[None]:
    """OSError -> StorageError; a missing file (or a file where a folder should be) is left as
    it is, for the caller to turn into an answer."""
    try:
        yield
    except (FileNotFoundError, NotADirectoryError):
        raise
    except OSError as error:
        raise StorageError(f"{action}: {error}", retryable=error.errno in PASSING_ERRNOS) \
            from error


class Storage(Protocol):
    root: str

    def scan(self, extensions: Iterable[str]) -> Iterator[tuple[str, Version]]: ...
    def version(self, key: str) -> Version | None: ...
    def local_file(self, key: str) -> AbstractContextManager[Path]: ...
    def list_keys(self, prefix: str = "") -> Iterator[str]: ...
    def read_bytes(self, key: str) -> bytes | None: ...
    def write_atomic(self, key: str, data: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def fingerprint(self, key: str) -> str | None: ...


class LocalStorage:
    """A folder tree. Keys are POSIX relative paths."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = str(root)
        self._real_root = os.path.realpath(self.root)

    def __repr__(self) -> str:
        return f"LocalStorage({self.root!r})"

    def path(self, key: str) -> Path:
        """The file for a key; raises UnsafeKey if it (or a symlink on the way) leaves the root."""
        check_key(key)
        candidate = os.path.join(self._real_root, *key.split("/"))
        real = os.path.realpath(candidate)
        if real != self._real_root and not real.startswith(self._real_root + os.sep):
            raise UnsafeKey(f"{key!r} resolves outside {self.root}")
        return Path(candidate)

    def scan(self, extensions: Iterable[str]) -> Iterator[tuple[str, Version]]:
        """Recordings at any depth. A root that cannot be read is a StorageError, as a bucket
        that refuses its listing is; a folder inside it that cannot be read is skipped with a
        warning (one bad entry must never stop a scan)."""
        wanted = tuple(extensions)
        try:
            with local_errors(f"cannot list {self.root}"):
                entries = sorted(os.scandir(self._real_root), key=lambda entry: entry.name)
        except (FileNotFoundError, NotADirectoryError):
            return  # no source folder (yet): nothing to queue
        yield from self._scan_entries(entries, "", wanted)

    def _scan_dir(self, folder: str, prefix: str, wanted: tuple[str, ...]
                  ) -> Iterator[tuple[str, Version]]:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            log.warning("skipped %s: cannot read the folder (%s)", printable(prefix),
                        error.strerror or error)
            return
        yield from self._scan_entries(entries, prefix, wanted)

    def _scan_entries(self, entries: list[os.DirEntry], prefix: str, wanted: tuple[str, ...]
                      ) -> Iterator[tuple[str, Version]]:
        for entry in entries:
            key = prefix + entry.name
            if entry.name.startswith("."):
                continue
            # Folder symlinks are not followed (loops, trees outside the root).
            if entry.is_dir(follow_symlinks=False):
                yield from self._scan_dir(entry.path, key + "/", wanted)
            elif is_candidate_name(entry.name, wanted):
                version = self._recording_version(entry, key)
                if version is not None:
                    yield key, version

    def _recording_version(self, entry: os.DirEntry, key: str) -> Version | None:
        """The version of a file named like a recording, or None to skip it. An entry that
        cannot be looked at (a symlink loop, a link through a file, a name too long for the
        system) is skipped with a warning: one bad entry must never stop a scan."""
        try:
            if not entry.is_file():
                return None
            if entry.is_symlink() and not self._inside(key):
                return None  # a link to a file outside the source: never queued
            return _version_of(entry.stat())
        except FileNotFoundError:
            return None  # deleted since the folder was read
        except OSError as error:
            log.warning("skipped %s: cannot read it (%s)", printable(key),
                        error.strerror or error)
            return None

    def _inside(self, key: str) -> bool:
        try:
            self.path(key)
        except UnsafeKey:
            return False
        return True

    def version(self, key: str) -> Version | None:
        """The file's current version, None if it is gone; UnsafeKey if the key leaves the root."""
        path = self.path(key)
        try:
            with local_errors(f"cannot read {key}"):
                return _version_of(path.stat())
        except (FileNotFoundError, NotADirectoryError):
            return None

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        yield self.path(key)

    def list_keys(self, folder: str = "") -> Iterator[str]:
        """Every file key inside a folder, at any depth ("" = everything; "a/b" and "a/b/" =
        inside a/b, never a/bc). Same meaning on every backend."""
        base = self.path(folder.strip("/")) if folder.strip("/") else Path(self._real_root)
        with local_errors(f"cannot list {folder or 'the root'}"):  # a folder we may not enter
            if not base.is_dir():
                return
        failures: list[OSError] = []
        for parent, _, files in os.walk(base, onerror=failures.append):
            relative = os.path.relpath(parent, self._real_root)
            head = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            for name in files:
                yield head + name
        if failures:
            with local_errors(f"cannot list {folder or 'the root'}"):
                raise failures[0]

    def read_bytes(self, key: str) -> bytes | None:
        try:
            with local_errors(f"cannot read {key}"):
                return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_atomic(self, key: str, data: bytes) -> None:
        """Write to a hidden temporary name in the same folder, fsync, then rename into place.

        A reader (or a crash) sees the old file or the new one, never half of one; a leftover
        temporary file is hidden and ends in .tmp, so no scan takes it for a transcript.
        """
        target = self.path(key)
        try:
            self._write_atomic(target, key, data)
        except (FileNotFoundError, NotADirectoryError) as error:
            # For a write, a file where a folder should be (or a folder removed under us) is
            # no answer to pass on: the destination refuses the write.
            raise StorageError(f"cannot write {key}: {error}", retryable=False) from error

    def _write_atomic(self, target: Path, key: str, data: bytes) -> None:
        with local_errors(f"cannot write {key}"):
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                                 suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                    stream.flush()
                    os.fsync(stream.fileno())
                os.chmod(temporary, FILE_MODE)  # mkstemp's 0600, widened as the umask allows
                os.replace(temporary, target)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(temporary)
                raise

    def delete(self, key: str) -> None:
        with suppress(FileNotFoundError, NotADirectoryError), local_errors(f"cannot delete {key}"):
            self.path(key).unlink()

    def exists(self, key: str) -> bool:
        try:
            path = self.path(key)
        except UnsafeKey:
            return False
        with local_errors(f"cannot read {key}"):
            return path.is_file()

    def fingerprint(self, key: str) -> str | None:
        """The content fingerprint of a file (read once), None if it is gone."""
        path = self.path(key)
        try:
            with local_errors(f"cannot read {key}"):
                return fingerprint_file(path)
        except (FileNotFoundError, NotADirectoryError):
            return None


def _version_of(stat: os.stat_result) -> Version:
    return Version(size=stat.st_size, mtime_ns=stat.st_mtime_ns)


def open_storage(location: str) -> Storage:
    """Storage for a folder path or an `s3://bucket/prefix` URL."""
    if location.startswith("s3://"):
        from whisper_automation.storage.s3 import S3Storage  # boto3's S3 client only when asked for

        return S3Storage(location)
    return LocalStorage(location)


def settle(storage: Storage, found: dict[str, Version], stable_seconds: float,
           now: float | None = None) -> tuple[dict[str, Version], list[str]]:
    """Split found files into settled ones and ones still being written.

    A file modified within `stable_seconds` is looked at again once that time has passed: if its
    size and mtime did not move it counts, otherwise it is left for the next scan.
    """
    now = time.time() if now is None else now
    young = {key: version for key, version in found.items()
             if version.mtime_ns and now - version.mtime_ns / 1e9 < stable_seconds}
    if not young:
        return found, []
    newest = max(version.mtime_ns for version in young.values()) / 1e9
    # Capped: a modification time in the future (clock skew, restored archives) must not
    # make us sleep for the whole skew.
    time.sleep(min(stable_seconds, max(0.0, stable_seconds - (now - newest))))
    settled = dict(found)
    busy: list[str] = []
    for key, version in young.items():
        if storage.version(key) != version:
            del settled[key]
            busy.append(key)
    return settled, busy
