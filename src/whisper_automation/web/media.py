"""Recordings served to a browser's audio element, read-only and only from inside the source.

A URL path names a recording one percent-encoded segment at a time (/audio/week%201/a.mp3). It
is refused if any segment decodes to something that could leave the source: '..' or '.'
(also as %2e%2e), an encoded '/' (%2F) or NUL, an empty segment (an absolute path), a hidden
name, a file that is not a recording, or a symlink that resolves outside the source
(LocalStorage.path). Byte ranges follow RFC 9110 (one range: 206 with Content-Range; a range
past the end: 416; anything else in a Range header: ignored, the whole file with 200), which
lets the browser seek in long recordings without downloading them.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote

from whisper_automation.storage.base import LocalStorage, Storage
from whisper_automation.storage.layout import UnsafeKey, check_key, is_recording_key

CHUNK = 64 * 1024
# Our own table rather than the mimetypes module, whose answers depend on the system's files.
CONTENT_TYPES = {
    "mp3": "audio/mpeg", "m4a": "audio/mp4", "m4b": "audio/mp4", "aac": "audio/aac",
    "wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "oga": "audio/ogg",
    "opus": "audio/ogg", "wma": "audio/x-ms-wma", "aiff": "audio/aiff", "aif": "audio/aiff",
    "amr": "audio/amr", "mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/quicktime",
    "mkv": "video/x-matroska", "webm": "video/webm", "avi": "video/x-msvideo",
    "3gp": "video/3gpp",
}
MAX_POSITION_DIGITS = 19  # 10**19 bytes: more than any file
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class MediaRefused(Exception):
    """A request for something that is not a recording inside the source."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class RangeNotSatisfiable(Exception):
    pass


@dataclass(frozen=True)
class ByteRange:
    first: int
    last: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.last - self.first + 1


def content_type(key: str) -> str:
    extension = posixpath.splitext(key)[1].lstrip(".").lower()
    return CONTENT_TYPES.get(extension, "application/octet-stream")


def url_path(key: str) -> str:
    """The URL path segment list for a key (each segment encoded, '/' kept between them)."""
    return "/".join(quote(part, safe="") for part in key.split("/"))


def key_from_url_path(raw: str) -> str:
    """The source key a raw (still percent-encoded) URL path names, or MediaRefused."""
    try:
        parts = [unquote(part, errors="strict") for part in raw.split("/")]
    except UnicodeDecodeError:
        raise MediaRefused(400, "the path is not UTF-8") from None
    # A backslash is an ordinary character in a POSIX file name (and an S3 key): allowed.
    if any("/" in part for part in parts):
        raise MediaRefused(400, "encoded slashes are not accepted in a path")
    key = "/".join(parts)
    try:
        return check_key(key)
    except UnsafeKey as error:
        raise MediaRefused(403, str(error)) from None


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range a Range header asks for; None = send the whole file."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None  # several ranges, other units or garbage: ignoring it is allowed
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    first, last = _position(first_text), _position(last_text)
    if not first_text:  # the last N bytes
        if last == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(size - last, 0), size - 1)
    if last_text and last < first:
        return None  # an invalid range: ignored, like garbage
    if first >= size:
        raise RangeNotSatisfiable
    return ByteRange(first, min(last, size - 1) if last_text else size - 1)


def _position(digits: str) -> int:
    """A byte position; any number past every file's size reads as one that large (int() of
    thousands of digits is refused by Python, and would cost time anyway)."""
    if not digits:
        return 0
    return int(digits) if len(digits) <= MAX_POSITION_DIGITS else 10 ** MAX_POSITION_DIGITS


class Media:
    """One recording opened for reading: its size, type, and chunks of a byte range."""

    def __init__(self, key: str, size: int) -> None:
        self.key = key
        self.size = size
        self.content_type = content_type(key)

    def read(self, span: ByteRange) -> Iterator[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _LocalMedia(Media):
    def __init__(self, key: str, path: str) -> None:
        # Opened once: the size and the bytes come from the same file even if it is replaced.
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        super().__init__(key, os.fstat(self._file.fileno()).st_size)

    def read(self, span: ByteRange) -> Iterator[bytes]:
        self._file.seek(span.first)
        left = span.length
        while left > 0:
            data = self._file.read(min(CHUNK, left))
            if not data:
                return  # the file shrank while we sent it: the client sees a short body
            left -= len(data)
            yield data

    def close(self) -> None:
        self._file.close()


class _S3Media(Media):
    def __init__(self, key: str, storage: Storage) -> None:
        self._storage = storage
        version = storage.version(key)
        if version is None:
            raise MediaRefused(404, "no such recording")
        super().__init__(key, version.size)

    def read(self, span: ByteRange) -> Iterator[bytes]:
        storage = self._storage
        response = storage.client.get_object(  # type: ignore[attr-defined]
            Bucket=storage.bucket, Key=storage.prefix + self.key,  # type: ignore[attr-defined]
            Range=f"bytes={span.first}-{span.last}")
        yield from response["Body"].iter_chunks(CHUNK)


def open_media(source: Storage, key: str, extensions: Iterable[str]) -> Media:
    """Open a recording of the source for reading, or MediaRefused (403 outside, 404 missing or
    not a recording)."""
    if not is_recording_key(key, extensions):
        raise MediaRefused(404, "not a recording")
    if not isinstance(source, LocalStorage):
        return _S3Media(key, source)
    try:
        path = source.path(key)
        # A link named like a recording is served only if what it resolves to is one too.
        target = os.path.relpath(os.path.realpath(path), os.path.realpath(source.root))
        if not is_recording_key(target.replace(os.sep, "/"), extensions):
            raise MediaRefused(404, "not a recording (a link to something else)")
        if not path.is_file():
            raise MediaRefused(404, "no such recording")
        return _LocalMedia(key, str(path))
    except UnsafeKey as error:
        raise MediaRefused(403, str(error)) from None
    except OSError as error:  # a name too long, a loop, no permission: nothing to serve
        raise MediaRefused(404, f"cannot read it: {error.strerror or error}") from None
