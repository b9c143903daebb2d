"""Recordings for the browser: which URL paths name a recording inside the source, byte ranges,
content types."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from whisper_automation.storage.base import LocalStorage
from whisper_automation.web.media import (
    ByteRange,
    MediaRefused,
    RangeNotSatisfiable,
    content_type,
    key_from_url_path,
    open_media,
    parse_range,
    url_path,
)

EXTENSIONS = ("mp3", "flac", "m4a", "ogg")


@pytest.mark.parametrize(("header", "size", "expected"), [
    ("bytes=0-99", 1000, ByteRange(0, 99)),
    ("bytes=100-", 1000, ByteRange(100, 999)),
    ("bytes=-100", 1000, ByteRange(900, 999)),
    ("bytes=0-0", 1000, ByteRange(0, 0)),
    ("bytes=990-5000", 1000, ByteRange(990, 999)),  # the end is clipped to the file
    ("bytes=-5000", 1000, ByteRange(0, 999)),
    ("BYTES=5-6", 1000, ByteRange(5, 6)),
    (None, 1000, None),
    ("bytes=0-9,20-29", 1000, None),  # several ranges: the whole file (allowed by RFC 9110)
    ("items=0-9", 1000, None),
    ("bytes=9-1", 1000, None),
    ("bytes=-", 1000, None),
    ("bytes=a-b", 1000, None),
])
def test_range_header(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [
    ("bytes=1000-", 1000), ("bytes=1000-1001", 1000), ("bytes=-0", 1000), ("bytes=0-", 0),
    ("bytes=-5", 0),
])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_url_paths_round_trip_odd_names() -> None:
    for key in ("Grand-mère/Élodie «1».mp3", "a b/c#d?.mp3", "100%/x.flac", "日本/話.m4a"):
        assert key_from_url_path(url_path(key)) == key


@pytest.mark.parametrize(("raw", "status"), [
    ("../secret.mp3", 403), ("%2e%2e/secret.mp3", 403), ("%2E%2E/secret.mp3", 403),
    ("a/./b.mp3", 403), ("/etc/secret.mp3", 403), ("a//b.mp3", 403), ("", 403),
    ("a%2Fb.mp3", 400), ("..%2Fsecret.mp3", 400), ("%ff.mp3", 400),
    ("a%00.mp3", 403),
])
def test_paths_that_could_leave_the_source_are_refused(raw: str, status: int) -> None:
    with pytest.raises(MediaRefused) as refused:
        key_from_url_path(raw)
    assert refused.value.status == status


@pytest.fixture
def source(tmp_path: Path) -> LocalStorage:
    root = tmp_path / "source"
    (root / "week1").mkdir(parents=True)
    (root / "week1" / "talk.mp3").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "outside.mp3").write_bytes(b"secret")
    (root / "link-out.mp3").symlink_to(tmp_path / "outside.mp3")
    (root / "link-in.mp3").symlink_to(root / "week1" / "talk.mp3")
    (root / "folder-out").symlink_to(tmp_path)
    (root / ".hidden.mp3").write_bytes(b"x")
    (root / "notes.txt").write_bytes(b"x")
    (root / "album.mp3").mkdir()
    return LocalStorage(root)


def test_a_recording_is_read_in_ranges(source: LocalStorage) -> None:
    media = open_media(source, "week1/talk.mp3", EXTENSIONS)
    try:
        assert (media.size, media.content_type) == (1024, "audio/mpeg")
        assert b"".join(media.read(ByteRange(250, 259))) == bytes([250, 251, 252, 253, 254,
                                                                    255, 0, 1, 2, 3])
        assert b"".join(media.read(ByteRange(0, 1023))) == bytes(range(256)) * 4
    finally:
        media.close()
    inside = open_media(source, "link-in.mp3", EXTENSIONS)  # a link within the source is fine
    inside.close()


@pytest.mark.parametrize(("key", "status"), [
    ("link-out.mp3", 403), ("folder-out/outside.mp3", 403), (".hidden.mp3", 404),
    ("notes.txt", 404), ("week1/missing.mp3", 404), ("week1", 404), ("album.mp3", 404),
])
def test_only_recordings_inside_the_source_are_opened(source: LocalStorage, key: str,
                                                      status: int) -> None:
    with pytest.raises(MediaRefused) as refused:
        open_media(source, key, EXTENSIONS)
    assert refused.value.status == status


def test_a_recording_replaced_while_served_is_read_from_the_file_first_opened(
        source: LocalStorage) -> None:
    media = open_media(source, "week1/talk.mp3", EXTENSIONS)
    try:
        path = Path(source.root) / "week1" / "talk.mp3"
        os.replace(source.root + "/notes.txt", path)
        assert b"".join(media.read(ByteRange(0, 3))) == bytes([0, 1, 2, 3])
    finally:
        media.close()


def test_content_types_by_extension() -> None:
    assert [content_type(name) for name in ("a.MP3", "b.m4a", "c.opus", "d.flac", "e.wav",
                                            "f.webm", "g.unknown")] == \
        ["audio/mpeg", "audio/mp4", "audio/ogg", "audio/flac", "audio/wav", "video/webm",
         "application/octet-stream"]
