"""Keys, transcript names in the mirrored tree, record names."""

from __future__ import annotations

import pytest

from whisper_automation.storage.layout import (
    DONE,
    FAILED,
    STATE_DIR,
    UnsafeKey,
    Version,
    assign_output_stems,
    check_key,
    is_candidate_name,
    output_key,
    parse_record_key,
    record_key,
)


def test_transcripts_mirror_the_source_tree() -> None:
    stems = assign_output_stems(["week1/lesson1/video0.mp4", "week2/intro.mp3"])
    assert stems == {"week1/lesson1/video0.mp4": "week1/lesson1/video0",
                     "week2/intro.mp3": "week2/intro"}
    assert output_key(stems["week1/lesson1/video0.mp4"], "txt") == "week1/lesson1/video0.txt"


def test_same_stem_in_one_folder_keeps_the_extensions() -> None:
    stems = assign_output_stems(["talks/a.mp3", "talks/a.wav", "talks/b.mp3"])
    assert stems == {"talks/a.mp3": "talks/a.mp3", "talks/a.wav": "talks/a.wav",
                     "talks/b.mp3": "talks/b"}


def test_same_stem_in_different_folders_is_no_collision() -> None:
    stems = assign_output_stems(["x/a.mp3", "y/a.wav", "a.ogg"])
    assert stems == {"x/a.mp3": "x/a", "y/a.wav": "y/a", "a.ogg": "a"}


def test_stems_differing_only_in_case_collide() -> None:
    stems = assign_output_stems(["A.mp3", "a.wav"])
    assert stems == {"A.mp3": "A.mp3", "a.wav": "a.wav"}


def test_output_stems_do_not_depend_on_key_order() -> None:
    keys = ["d/a.mp3", "d/a.wav", "d/b.ogg", "e/a.mp3"]
    assert assign_output_stems(keys) == assign_output_stems(list(reversed(keys)))


def test_distinct_recordings_never_share_an_output_stem() -> None:
    keys = ["d/a.mp3", "d/a.wav", "d/a.mp3.wav"]
    stems = assign_output_stems(keys)
    assert len(set(stems.values())) == len(keys), stems


def test_output_stems_differ_case_insensitively_across_folder_case() -> None:
    keys = ["Week1/a.mp3", "week1/a.wav"]
    stems = assign_output_stems(keys)
    assert len({stem.lower() for stem in stems.values()}) == len(keys), stems


@pytest.mark.parametrize("key", [
    "cours/élève 1.mp3",
    "it's \"quoted\".mp3",
    "line\nbreak.mp3",
    "tab\there/日本語.wav",
    "emoji 🎙️/#1 take.m4a",
])
def test_unusual_names_are_valid_keys_and_keep_their_stem(key: str) -> None:
    assert check_key(key) == key
    stem = assign_output_stems([key])[key]
    assert stem == key.rsplit(".", 1)[0]


@pytest.mark.parametrize("key", [
    "", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/./b", "a/", "..", "a\x00b.mp3",
])
def test_check_key_rejects_keys_that_could_leave_the_root(key: str) -> None:
    with pytest.raises(UnsafeKey):
        check_key(key)


def test_check_key_rejects_non_strings() -> None:
    with pytest.raises(UnsafeKey):
        check_key(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [DONE, FAILED])
@pytest.mark.parametrize("key", [
    "a.mp3", "week1/lesson 1/video0.mp4", "take#2.mp3", "a#b/c.d#e.f.mp3", "x.y.z/..a.b.mp3",
])
def test_record_key_round_trips(kind: str, key: str) -> None:
    version = Version(size=1234, mtime_ns=1_700_000_000_123_456_789)
    name = record_key(kind, key, version)
    assert name.startswith(f"{STATE_DIR}/{kind}/")
    assert name.endswith(".json")
    assert parse_record_key(kind, name) == (key, version.token())


def test_parse_record_key_ignores_other_names() -> None:
    name = record_key(DONE, "a.mp3", Version(size=1, mtime_ns=2))
    assert parse_record_key(FAILED, name) is None  # another kind
    assert parse_record_key(DONE, name[:-len(".json")] + ".tmp") is None
    assert parse_record_key(DONE, f"{STATE_DIR}/{DONE}/a.mp3.json") is None  # no version
    assert parse_record_key(DONE, f"{STATE_DIR}/{DONE}/#1-2.json") is None  # no key
    assert parse_record_key(DONE, "a.mp3#1-2.json") is None


def test_version_token_uses_mtime_for_folders_and_etag_for_s3() -> None:
    assert Version(size=10, mtime_ns=123).token() == "10-123"
    assert Version(size=10, mtime_ns=123, etag='"0a1b2c"').token() == "10-0a1b2c"
    assert Version(size=7, etag='"9f-3"').token() == "7-9f-3"


def test_version_token_changes_with_size_and_mtime() -> None:
    base = Version(size=10, mtime_ns=123)
    assert base.token() != Version(size=11, mtime_ns=123).token()
    assert base.token() != Version(size=10, mtime_ns=124).token()


def test_version_dict_round_trip() -> None:
    for version in (Version(size=5, mtime_ns=99), Version(size=5, etag="abc")):
        assert Version.from_dict(version.to_dict()) == version


@pytest.mark.parametrize(("name", "expected"), [
    ("a.mp3", True),
    ("A.MP3", True),
    ("talk.Wav", True),
    ("archive.tar.mp3", True),
    (".hidden.mp3", False),
    ("a.mp3.part", False),
    ("a.mp3.PART", False),
    ("a.tmp", False),
    ("a.mp3.crdownload", False),
    ("a.mp3.swp", False),
    ("notes.txt", False),
    ("mp3", False),
    ("a.", False),
])
def test_is_candidate_name(name: str, expected: bool) -> None:
    assert is_candidate_name(name, ("mp3", "wav")) is expected
