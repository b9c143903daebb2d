"""Queue message bodies: encoded as ASCII JSON, validated before any use."""

from __future__ import annotations

import json

import pytest

from whisper_automation.jobs.messages import BadMessage, Job, decode, encode
from whisper_automation.storage.layout import Version

VERSION = Version(size=2048, mtime_ns=1_700_000_000_000_000_001)


@pytest.mark.parametrize(("key", "stem"), [
    ("week1/lesson1/video0.mp4", "week1/lesson1/video0"),
    ("a/a.mp3", "a/a.mp3"),  # a collision keeps the extension
    ("élève/日本語 «talk».mp3", "élève/日本語 «talk»"),
    ("line\nbreak/\"q\" 'q'.wav", "line\nbreak/\"q\" 'q'"),
    ("bad\udcff.mp3", "bad\udcff"),  # an undecodable byte, as os.fsdecode gives it
])
def test_encode_decode_round_trip_and_body_is_ascii(key: str, stem: str) -> None:
    job = Job(key=key, version=VERSION, output_stem=stem, retry=3)
    body = encode(job)
    assert body.isascii()
    body.encode("utf-8")  # a lone surrogate would raise here; SQS needs valid text
    assert decode(body) == job


def test_etag_versions_round_trip() -> None:
    job = Job(key="a.mp3", version=Version(size=1, etag='"abc-2"'), output_stem="a")
    assert decode(encode(job)) == job


def _body(**changes: object) -> str:
    data = json.loads(encode(Job("dir/a.mp3", VERSION, "dir/a")))
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize("body", [
    "not json",
    "",
    "[1, 2]",
    '"a string"',
    "null",
    json.dumps({"key": "a.mp3", "output_stem": "a"}),  # no version
    json.dumps({"version": {"size": 1}, "output_stem": "a"}),  # no key
    json.dumps({"key": "a.mp3", "version": {"size": 1}}),  # no output_stem
    json.dumps({"key": "a.mp3", "version": {"size": "big"}, "output_stem": "a"}),
    json.dumps({"key": "a.mp3", "version": "1-2", "output_stem": "a"}),
    json.dumps({"key": "a.mp3", "version": {"size": 1}, "output_stem": "a", "retry": "x"}),
])
def test_decode_rejects_unreadable_bodies(body: str) -> None:
    with pytest.raises(BadMessage, match="unreadable message"):
        decode(body)


@pytest.mark.parametrize("key", ["../../etc/passwd", "/etc/passwd", "a/../../b.mp3", "", 7])
def test_decode_rejects_unsafe_keys(key: object) -> None:
    with pytest.raises(BadMessage, match="unsafe key"):
        decode(_body(key=key, output_stem="x"))


@pytest.mark.parametrize("stem", ["../../etc/cron.d/x", "other/a", "dir/b", "/dir/a", "dir/a.m"])
def test_decode_rejects_an_output_stem_that_does_not_belong_to_the_key(stem: str) -> None:
    with pytest.raises(BadMessage, match="does not belong"):
        decode(_body(output_stem=stem))


def test_decode_accepts_both_stem_forms() -> None:
    assert decode(_body(output_stem="dir/a")).output_stem == "dir/a"
    assert decode(_body(output_stem="dir/a.mp3")).output_stem == "dir/a.mp3"


def test_missing_retry_means_zero() -> None:
    data = json.loads(_body())
    del data["retry"]
    assert decode(json.dumps(data)).retry == 0


def test_deduplication_id_is_equal_for_equal_jobs() -> None:
    first = Job("a.mp3", VERSION, "a")
    second = Job("a.mp3", Version(VERSION.size, VERSION.mtime_ns), "a")
    assert first.deduplication_id() == second.deduplication_id()


def test_deduplication_id_changes_with_version_retry_and_key() -> None:
    base = Job("a.mp3", VERSION, "a")
    others = [
        Job("a.mp3", Version(VERSION.size + 1, VERSION.mtime_ns), "a"),
        Job("a.mp3", Version(VERSION.size, VERSION.mtime_ns + 1), "a"),
        Job("a.mp3", VERSION, "a", retry=1),
        Job("b.mp3", VERSION, "b"),
    ]
    ids = {job.deduplication_id() for job in [base, *others]}
    assert len(ids) == 5
    assert all(len(item) <= 128 and item.isalnum() for item in ids)


def test_group_id_is_per_key_and_short() -> None:
    a = Job("a.mp3", VERSION, "a")
    a_later = Job("a.mp3", Version(1, 1), "a", retry=9)
    b = Job("b.mp3", VERSION, "b")
    assert a.group_id() == a_later.group_id()
    assert a.group_id() != b.group_id()
    long_key = "/".join(["folder" * 20] * 10) + "/x.mp3"
    for job in (a, b, Job(long_key, VERSION, long_key[:-4]), Job("bad\udcff.mp3", VERSION, "x")):
        assert 1 <= len(job.group_id()) <= 128
        assert job.group_id().isalnum()
