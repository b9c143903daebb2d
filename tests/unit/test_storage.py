"""LocalStorage: scanning, path safety, atomic writes, listing and settling."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.privileges import obeying_file_modes
from whisper_automation.storage import base as storage_module
from whisper_automation.storage.base import LocalStorage, StorageError, open_storage, settle
from whisper_automation.storage.layout import UnsafeKey, Version

EXTENSIONS = ("mp3", "mp4", "wav", "m4a")


def touch(path: Path, data: bytes = b"audio") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "source"


def scanned(storage: LocalStorage) -> dict[str, Version]:
    return dict(storage.scan(EXTENSIONS))


def test_scan_finds_nested_files_with_any_extension_case(root: Path) -> None:
    touch(root / "a.mp3", b"12345")
    touch(root / "week1" / "Lesson 1" / "Video0.MP4")
    touch(root / "week1" / "x.Wav")
    found = scanned(LocalStorage(root))
    assert set(found) == {"a.mp3", "week1/Lesson 1/Video0.MP4", "week1/x.Wav"}
    stat = (root / "a.mp3").stat()
    assert found["a.mp3"] == Version(size=5, mtime_ns=stat.st_mtime_ns)


def test_scan_skips_hidden_partial_and_unknown_files(root: Path) -> None:
    touch(root / "keep.mp3")
    touch(root / ".hidden.mp3")
    touch(root / ".cache" / "inside.mp3")
    touch(root / "sub" / ".whisper-automation" / "x.mp3")
    touch(root / "download.mp3.part")
    touch(root / "upload.tmp")
    touch(root / "browser.mp3.crdownload")
    touch(root / "notes.txt")
    touch(root / "noextension")
    (root / "folder.mp3").mkdir()
    assert set(scanned(LocalStorage(root))) == {"keep.mp3"}


def test_scan_handles_unusual_names(root: Path) -> None:
    names = ["élève «1».mp3", "it's \"q\".wav", "line\nbreak.mp3", "#1 take.m4a"]
    for name in names:
        touch(root / "dir with space" / name)
    assert set(scanned(LocalStorage(root))) == {f"dir with space/{name}" for name in names}


def test_scan_does_not_follow_folder_symlinks(tmp_path: Path, root: Path) -> None:
    touch(root / "real" / "a.mp3")
    touch(tmp_path / "elsewhere" / "b.mp3")
    (root / "outside-link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "inside-link").symlink_to(root / "real", target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    assert set(scanned(LocalStorage(root))) == {"real/a.mp3"}


def test_scan_skips_file_symlinks_leaving_the_root_but_keeps_inside_ones(
        tmp_path: Path, root: Path) -> None:
    touch(root / "real.mp3", b"123")
    touch(tmp_path / "secret.mp3")
    (root / "escape.mp3").symlink_to(tmp_path / "secret.mp3")
    (root / "alias.mp3").symlink_to(root / "real.mp3")
    (root / "dangling.mp3").symlink_to(root / "missing.mp3")
    found = scanned(LocalStorage(root))
    assert set(found) == {"real.mp3", "alias.mp3"}
    assert found["alias.mp3"].size == 3


def test_path_refuses_symlinks_that_escape_the_root(tmp_path: Path, root: Path) -> None:
    touch(tmp_path / "secret.mp3")
    touch(tmp_path / "elsewhere" / "b.mp3")
    root.mkdir()
    (root / "escape.mp3").symlink_to(tmp_path / "secret.mp3")
    (root / "dir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    storage = LocalStorage(root)
    with pytest.raises(UnsafeKey):
        storage.path("escape.mp3")
    with pytest.raises(UnsafeKey):
        storage.path("dir/b.mp3")
    with pytest.raises(UnsafeKey):
        storage.version("escape.mp3")
    assert storage.exists("escape.mp3") is False


@pytest.mark.parametrize("key", ["../x.mp3", "/etc/passwd", "a//b", ""])
def test_path_refuses_unsafe_keys(root: Path, key: str) -> None:
    root.mkdir()
    with pytest.raises(UnsafeKey):
        LocalStorage(root).path(key)


def test_path_and_version_for_safe_keys(root: Path) -> None:
    touch(root / "a" / "b.mp3", b"xy")
    storage = LocalStorage(root)
    assert storage.path("a/b.mp3").read_bytes() == b"xy"
    assert storage.version("a/b.mp3").size == 2
    assert storage.version("a/missing.mp3") is None
    assert storage.version("a/b.mp3/below") is None  # a file used as a folder
    with storage.local_file("a/b.mp3") as path:
        assert Path(path).read_bytes() == b"xy"


def test_storage_through_a_symlinked_root_works(tmp_path: Path, root: Path) -> None:
    touch(root / "a.mp3")
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    storage = LocalStorage(tmp_path / "alias")
    assert set(scanned(storage)) == {"a.mp3"}
    assert storage.version("a.mp3") is not None
    storage.write_atomic("out/a.txt", b"t")
    assert (root / "out" / "a.txt").read_bytes() == b"t"


def test_write_atomic_creates_parents_and_replaces_content(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "out")
    storage.write_atomic("deep/er/a.txt", b"first")
    storage.write_atomic("deep/er/a.txt", b"second")
    target = tmp_path / "out" / "deep" / "er" / "a.txt"
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["a.txt"]  # no temporary file left behind
    assert target.stat().st_mode & 0o777 == 0o644
    assert storage.read_bytes("deep/er/a.txt") == b"second"
    assert storage.read_bytes("deep/er/missing.txt") is None
    assert storage.exists("deep/er/a.txt") and not storage.exists("deep/er")


def test_failed_write_keeps_old_file_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path / "out")
    storage.write_atomic("a.txt", b"old")

    def broken_replace(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(storage_module.os, "replace", broken_replace)
    with pytest.raises(StorageError, match=r"cannot write a\.txt: disk full"):
        storage.write_atomic("a.txt", b"new content")
    monkeypatch.undo()
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"old"
    assert os.listdir(tmp_path / "out") == ["a.txt"]


@pytest.mark.parametrize(("code", "retryable"), [
    (errno.EACCES, False), (errno.EROFS, False), (errno.ENOSPC, False), (errno.EFBIG, False),
    (errno.EIO, True), (errno.ESTALE, True), (errno.ETIMEDOUT, True)])
def test_os_errors_leave_as_storage_errors_that_say_whether_a_retry_may_help(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, retryable: bool) -> None:
    storage = LocalStorage(tmp_path / "out")
    storage.write_atomic("a.txt", b"old")

    def failing(*_: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(storage_module.os, "replace", failing)
    with pytest.raises(StorageError) as raised:
        storage.write_atomic("a.txt", b"new")
    assert raised.value.retryable is retryable
    assert os.strerror(code) in str(raised.value)


UNREADABLE_PROGRAM = """
import json, sys
from whisper_automation.storage.base import LocalStorage, StorageError
storage = LocalStorage(sys.argv[1])
results = []
for call in (lambda: storage.read_bytes("locked/a.txt"), lambda: storage.version("locked/a.txt"),
             lambda: storage.exists("locked/a.txt"), lambda: list(storage.list_keys("locked"))):
    try:
        results.append(["returned", repr(call())])
    except StorageError as error:
        results.append([error.retryable, str(error)])
print(json.dumps(results))
"""


def test_unreadable_folder_is_a_permanent_storage_error_and_missing_files_are_answers(
        tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "out")
    storage.write_atomic("locked/a.txt", b"x")
    assert storage.read_bytes("missing.txt") is None
    assert storage.version("missing.txt") is None
    assert storage.version("locked/a.txt/below") is None  # a file used as a folder
    assert storage.exists("missing.txt") is False
    storage.delete("missing.txt")
    (tmp_path / "out" / "locked").chmod(0)
    try:
        # In a process that file modes stop (as root: without CAP_DAC_OVERRIDE).
        result = subprocess.run([*obeying_file_modes(), sys.executable, "-c",
                                 UNREADABLE_PROGRAM, str(tmp_path / "out")],
                                capture_output=True, text=True, timeout=120)
    finally:
        (tmp_path / "out" / "locked").chmod(0o755)
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert [retryable for retryable, _ in outcomes] == [False] * 4, outcomes
    assert all("Permission denied" in message for _, message in outcomes), outcomes


def test_write_atomic_refuses_unsafe_keys(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "out")
    with pytest.raises(UnsafeKey):
        storage.write_atomic("../escaped.txt", b"x")
    assert not (tmp_path / "escaped.txt").exists()


def test_delete_removes_and_ignores_missing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.write_atomic("a.txt", b"x")
    storage.delete("a.txt")
    storage.delete("a.txt")
    assert not (tmp_path / "a.txt").exists()


def test_list_keys_lists_every_file_under_a_prefix(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "out")
    for key in ("a.txt", "x/b.txt", "x/y/c.txt", "xy/d.txt", ".state/e.json"):
        storage.write_atomic(key, b".")
    assert set(storage.list_keys()) == {"a.txt", "x/b.txt", "x/y/c.txt", "xy/d.txt",
                                        ".state/e.json"}
    assert set(storage.list_keys("x/")) == {"x/b.txt", "x/y/c.txt"}
    assert set(storage.list_keys("x")) == {"x/b.txt", "x/y/c.txt"}
    assert list(storage.list_keys("nothing/")) == []
    assert list(storage.list_keys("a.txt/")) == []
    assert list(LocalStorage(tmp_path / "missing").list_keys()) == []


def test_open_storage_gives_local_storage_for_folders_and_s3_storage_for_urls(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from whisper_automation.storage.s3 import S3Storage, split_url

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert isinstance(open_storage(str(tmp_path)), LocalStorage)
    storage = open_storage("s3://bucket/some/prefix/")
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("bucket", "some/prefix/")
    assert split_url("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError, match="not an S3 location"):
        split_url("s3:///prefix")


# --- settle ---


def test_settle_returns_at_once_when_nothing_is_young(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = time.time() - 3600
    os.utime(touch(root / "a.mp3"), (old, old))
    storage = LocalStorage(root)
    found = scanned(storage)
    sleeps: list[float] = []
    monkeypatch.setattr(storage_module.time, "sleep", sleeps.append)
    settled, busy = settle(storage, found, stable_seconds=5)
    assert sleeps == []
    assert settled == found and busy == []


def test_settle_keeps_a_stable_young_file_and_drops_one_still_growing(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(root / "stable.mp3")
    growing = touch(root / "growing.mp3")
    storage = LocalStorage(root)
    found = scanned(storage)
    waits: list[float] = []

    def grow_while_waiting(seconds: float) -> None:  # the wait, without a clock to race
        waits.append(seconds)
        with growing.open("ab") as stream:
            stream.write(b"more")

    monkeypatch.setattr(storage_module.time, "sleep", grow_while_waiting)
    settled, busy = settle(storage, found, stable_seconds=30)
    assert len(waits) == 1 and 0 < waits[0] <= 30  # it did wait for the young files, once
    assert set(settled) == {"stable.mp3"}
    assert busy == ["growing.mp3"]


def test_settle_drops_a_young_file_deleted_during_the_wait(root: Path) -> None:
    touch(root / "a.mp3")
    storage = LocalStorage(root)
    found = scanned(storage)
    (root / "a.mp3").unlink()
    settled, busy = settle(storage, found, stable_seconds=0.05)
    assert settled == {} and busy == ["a.mp3"]


@pytest.mark.parametrize("stable_seconds", [0, 2])
def test_settle_never_waits_longer_than_stable_seconds(
        root: Path, monkeypatch: pytest.MonkeyPatch, stable_seconds: float) -> None:
    future = time.time() + 3600
    os.utime(touch(root / "a.mp3"), (future, future))
    storage = LocalStorage(root)
    found = scanned(storage)
    sleeps: list[float] = []
    monkeypatch.setattr(storage_module.time, "sleep", sleeps.append)
    settle(storage, found, stable_seconds=stable_seconds)
    assert sleeps == [stable_seconds]  # one wait, of stable_seconds, not the hour of skew
