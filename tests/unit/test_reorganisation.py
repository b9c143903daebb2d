"""A library that survives reorganisation, on folders: moved, renamed, copied or touched
recordings are never transcribed twice; orphans are listed and pruned on request; recordings
done with another model are queued again when asked. The director and a stand-in worker (it
writes what a worker writes, without an engine) run against real folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.reorganisation import FORMATS, CrashingStorage, DirectorRig, forget_fingerprints
from whisper_automation.jobs.director import carry_out
from whisper_automation.jobs.reorganise import read_counts
from whisper_automation.storage.base import LocalStorage, Storage, StorageError
from whisper_automation.storage.catalog import read_catalog
from whisper_automation.storage.fingerprint import fingerprint_file
from whisper_automation.storage.layout import STATE_DIR
from whisper_automation.storage.prune import find_orphans, prune
from whisper_automation.storage.records import read_records


class Library(DirectorRig):
    """A source tree and a destination folder."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__()
        self.tmp = tmp_path
        self.src = tmp_path / "src"
        self.dst = tmp_path / "dst"
        self.src.mkdir()
        self.destination: Storage = LocalStorage(self.dst)

    @property
    def source(self) -> Storage:  # follows `src`: a test may move the tree to a new root
        return LocalStorage(self.src)

    def add(self, key: str, data: bytes | None = None) -> Path:
        path = self.src / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if data is not None else f"bytes of {key}".encode())
        return path

    def transcripts(self) -> set[str]:
        return {str(path.relative_to(self.dst)) for path in self.dst.rglob("*")
                if path.is_file() and STATE_DIR not in path.parts}

    def text(self, name: str) -> str:
        return (self.dst / name).read_text()

    def done_keys(self) -> set[str]:
        return set(read_records(self.destination).done)


@pytest.fixture
def library(tmp_path: Path) -> Library:
    library = Library(tmp_path)
    for key in ("a.mp3", "b.mp3", "talks/one.mp3", "talks/two.mp3"):
        library.add(key)
    library.run()
    library.run()  # steady state: the catalog's marker written (storage/backfill.py)
    library.transcribed.clear()
    return library


def test_an_unchanged_library_reads_no_recording_and_lists_no_catalog(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_reading(self: LocalStorage, key: str) -> str:
        raise AssertionError(f"read {key}")

    listed: list[str] = []
    original = LocalStorage.list_keys
    monkeypatch.setattr(LocalStorage, "fingerprint", no_reading)
    monkeypatch.setattr(LocalStorage, "list_keys",
                        lambda self, folder="": listed.append(folder) or original(self, folder))
    plan = library.run()
    assert plan.jobs == [] and library.transcribed == []
    assert listed and not [folder for folder in listed if "catalog" in folder]


def test_done_records_hold_the_fingerprint_and_the_catalog_lists_it(library: Library) -> None:
    entries = {entry.key: entry for entry in read_catalog(library.destination)}
    assert entries["a.mp3"].fingerprint == fingerprint_file(library.src / "a.mp3")
    assert entries["a.mp3"].model == "faster-whisper tiny.en"


def test_a_touched_recording_is_taken_over_not_transcribed(library: Library) -> None:
    os.utime(library.src / "a.mp3", (1, 1))
    plan = library.run()
    assert library.transcribed == []
    assert plan.reorganised.counts["taken over"] == 1
    assert "taken over 1" in plan.summary()
    assert library.plan().jobs == []  # done for the new version; the old record swept
    assert len(read_records(library.destination).done["a.mp3"]) == 1


def test_a_renamed_folder_moves_its_transcripts_and_leaves_nothing_behind(
        library: Library) -> None:
    before = library.text("talks/one.txt")
    (library.src / "talks").rename(library.src / "lectures")
    plan = library.run()
    assert library.transcribed == []
    assert plan.reorganised.counts["moved"] == 2
    assert library.transcripts() == {"a.txt", "a.srt", "b.txt", "b.srt", "lectures/one.txt",
                                     "lectures/one.srt", "lectures/two.txt", "lectures/two.srt"}
    assert library.text("lectures/one.txt") == before
    assert library.done_keys() == {"a.mp3", "b.mp3", "lectures/one.mp3", "lectures/two.mp3"}
    assert {entry.key for entry in read_catalog(library.destination)} == library.done_keys()
    assert read_counts(library.destination)["total"]["moved"] == 2


def test_a_duplicate_gets_a_copy_of_the_transcripts(library: Library) -> None:
    shutil.copy(library.src / "a.mp3", library.src / "copy of a.mp3")
    plan = library.run()
    assert library.transcribed == []
    assert plan.reorganised.counts["copied"] == 1
    assert library.text("copy of a.txt") == library.text("a.txt")
    assert "a.txt" in library.transcripts()


def test_a_tree_copied_to_a_new_root_without_times_is_taken_over(library: Library) -> None:
    new_root = library.tmp / "new-disk"
    shutil.copytree(library.src, new_root, copy_function=shutil.copyfile)  # times not kept
    library.src = new_root
    plan = library.run()
    assert library.transcribed == []
    assert plan.reorganised.counts["taken over"] == 4


def test_changed_bytes_are_transcribed_again(library: Library) -> None:
    library.add("a.mp3", b"other bytes of the same size!")
    library.add("b.mp3", b"bytes of b.mp4")  # same size as before, other bytes
    plan = library.run()
    assert sorted(library.transcribed) == ["a.mp3", "b.mp3"]
    assert plan.reorganised.total == 0
    assert "bytes of b.mp4" in library.text("b.txt")


def test_a_new_recording_of_a_new_size_is_not_read_by_the_director(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    library.add("new.mp3", b"a recording of a size nobody has")
    read: list[str] = []
    original = LocalStorage.fingerprint
    monkeypatch.setattr(LocalStorage, "fingerprint",
                        lambda self, key: read.append(key) or original(self, key))
    plan = library.plan()
    assert [job.key for job in plan.jobs] == ["new.mp3"] and plan.jobs[0].fingerprint == ""
    assert read == []


def test_the_issue_scenario_transcribes_only_the_one_new_recording(library: Library) -> None:
    os.utime(library.src / "a.mp3", (5, 5))                        # touched
    (library.src / "talks").rename(library.src / "lectures")       # folder renamed
    library.add("new.mp3", b"a brand new story")                   # one new recording
    shutil.copy(library.src / "b.mp3", library.src / "b again.mp3")  # duplicated
    library.run()
    new_root = library.tmp / "new-disk"
    shutil.copytree(library.src, new_root, copy_function=shutil.copyfile)
    library.src = new_root
    library.run()
    assert library.transcribed == ["new.mp3"]
    stems = {"a", "b", "b again", "new", "lectures/one", "lectures/two"}
    assert library.transcripts() == {f"{stem}.{fmt}" for stem in stems for fmt in FORMATS}


def test_a_deleted_recording_is_an_orphan_until_pruned(library: Library) -> None:
    (library.src / "b.mp3").unlink()
    plan = library.run()
    assert plan.reorganised.total == 0 and "b.txt" in library.transcripts()
    orphans = find_orphans(LocalStorage(library.src), library.destination,
                           library.settings().extensions)
    assert [(orphan.key, orphan.files) for orphan in orphans.items] == \
        [("b.mp3", ("b.txt", "b.srt"))]
    assert prune(library.destination, orphans) == 1
    assert "b.txt" not in library.transcripts() and "b.mp3" not in library.done_keys()
    assert read_catalog(library.destination) and all(
        entry.key != "b.mp3" for entry in read_catalog(library.destination))


def test_a_deleted_duplicate_takes_its_transcripts_along(library: Library) -> None:
    shutil.copy(library.src / "a.mp3", library.src / "a2.mp3")
    library.run()
    (library.src / "a.mp3").unlink()  # copy, then delete: a move seen in two halves
    plan = library.run()
    assert plan.reorganised.leftovers_removed == 1
    assert "a.txt" not in library.transcripts() and "a2.txt" in library.transcripts()


def test_a_rename_that_keeps_the_stem_keeps_the_transcripts(library: Library) -> None:
    (library.src / "a.mp3").rename(library.src / "a.wav")
    plan = library.run()
    assert plan.reorganised.counts["moved"] == 1
    assert {"a.txt", "a.srt"} <= library.transcripts()
    assert library.done_keys() == {"a.wav", "b.mp3", "talks/one.mp3", "talks/two.mp3"}


@pytest.mark.parametrize("method,nth", [
    ("write_atomic", 1), ("write_atomic", 2), ("write_atomic", 3),
    ("delete", 1), ("delete", 2), ("delete", 4), ("delete", 6), ("delete", 7)])
def test_a_crash_mid_move_leaves_a_complete_place_and_the_next_run_finishes_it(
        library: Library, method: str, nth: int) -> None:
    before = library.text("b.txt")
    (library.src / "moved").mkdir()
    (library.src / "b.mp3").rename(library.src / "moved/b.mp3")
    real = library.destination
    library.destination = CrashingStorage(real, method, nth)
    with pytest.raises(StorageError):
        library.run()
    library.destination = real
    files = library.transcripts()
    old_complete = {"b.txt", "b.srt"} <= files and "b.mp3" in library.done_keys()
    new_complete = {"moved/b.txt", "moved/b.srt"} <= files and \
        "moved/b.mp3" in library.done_keys()
    assert old_complete or new_complete
    library.run()
    assert library.transcribed == []
    assert {"moved/b.txt", "moved/b.srt"} <= library.transcripts()
    assert not {"b.txt", "b.srt"} & library.transcripts()
    assert library.done_keys() == {"a.mp3", "moved/b.mp3", "talks/one.mp3", "talks/two.mp3"}
    assert library.text("moved/b.txt") == before


def test_two_directors_at_once_move_a_recording_once(library: Library) -> None:
    (library.src / "a.mp3").rename(library.src / "z.mp3")
    first, second = library.plan(), library.plan()  # both planned before either acts
    carry_out(library.destination, first)
    carry_out(library.destination, second)
    assert first.reorganised.counts["moved"] == 1
    assert second.reorganised.total == 0 and second.jobs == []
    assert read_counts(library.destination)["total"]["moved"] == 1
    assert "a.txt" not in library.transcripts() and "z.txt" in library.transcripts()


def test_recordings_done_with_another_model_are_queued_again_when_asked(
        library: Library) -> None:
    library.model = "small"
    assert library.plan().jobs == []  # not asked: nothing to do
    plan = library.plan(retranscribe_other_models=True)
    assert plan.retranscribe == 4 and all(job.redo == "faster-whisper small"
                                          for job in plan.jobs)
    assert "by tiny.en" in library.text("a.txt")
    carry_out(library.destination, plan)
    library.transcribe(next(job for job in plan.jobs if job.key == "a.mp3"))  # then interrupted
    assert "by small" in library.text("a.txt") and "by tiny.en" in library.text("b.txt")
    plan = library.plan(retranscribe_other_models=True)
    assert sorted(job.key for job in plan.jobs) == ["b.mp3", "talks/one.mp3", "talks/two.mp3"]
    models = {entry.key: entry.model for entry in read_catalog(library.destination)}
    assert models["a.mp3"] == "faster-whisper small" and len(models) == 4


def test_prune_shows_what_it_would_remove_and_removes_only_with_yes(library: Library) -> None:
    from click.testing import CliRunner

    from whisper_automation.cli import main

    (library.src / "b.mp3").unlink()
    arguments = ["prune", str(library.src), str(library.dst)]
    shown = CliRunner().invoke(main, arguments, env={"WA_LOG_LEVEL": "WARNING"})
    assert shown.exit_code == 0, shown.output
    assert "would remove b.mp3: b.txt, b.srt" in shown.output and "nothing removed" in shown.output
    assert "b.txt" in library.transcripts()
    removed = CliRunner().invoke(main, [*arguments, "--yes"], env={"WA_LOG_LEVEL": "WARNING"})
    assert "removed 1 orphan(s)" in removed.output
    assert "b.txt" not in library.transcripts() and "a.txt" in library.transcripts()


def test_status_lists_orphans_models_and_reused_counts(library: Library) -> None:
    import json

    from whisper_automation.jobs.status import build_status
    from whisper_automation.web.statuspage import render_html

    (library.src / "talks/one.mp3").rename(library.src / "one.mp3")
    (library.src / "b.mp3").unlink()
    library.run()
    source = LocalStorage(library.src)
    found = {key: version.token() for key, version in source.scan(("mp3",))}
    status = build_status(found, source, library.destination, None, "no queue here")
    assert status.orphans == ["b.mp3"]
    assert status.models == {"faster-whisper tiny.en": 3}
    assert status.reorganised["total"] == {"moved": 1, "copied": 0, "taken over": 0}
    text = status.to_text()
    assert "orphan: b.mp3" in text and "done with: faster-whisper tiny.en 3" in text
    assert "moved 1" in text
    assert json.loads(status.to_json())["orphans"] == ["b.mp3"]
    page = render_html(status)
    assert 'id="orphans"' in page and "<td>b.mp3</td>" in page and 'id="moved"' in page


def test_recordings_done_before_fingerprints_are_fingerprinted_once_then_moved_not_redone(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    assert forget_fingerprints(library.destination) == 4
    read: list[str] = []
    original = LocalStorage.fingerprint
    monkeypatch.setattr(LocalStorage, "fingerprint",
                        lambda self, key: read.append(key) or original(self, key))
    library.run()  # the first run after the upgrade: each recording read once
    assert sorted(read) == ["a.mp3", "b.mp3", "talks/one.mp3", "talks/two.mp3"]
    assert len(read_catalog(library.destination)) == 4
    read.clear()
    library.run()  # and never again
    assert read == [] and library.transcribed == []

    (library.src / "talks").rename(library.src / "lectures")
    plan = library.run()
    assert plan.reorganised.counts["moved"] == 2 and library.transcribed == []
    assert {"lectures/one.txt", "lectures/two.txt"} <= library.transcripts()
    assert not {"talks/one.txt", "talks/two.txt"} & library.transcripts()


def test_a_new_destination_gets_the_catalog_marker_without_reading_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from whisper_automation.storage.backfill import MARKER

    def no_reading(self: LocalStorage, key: str) -> str:
        raise AssertionError(f"read {key}")

    library = Library(tmp_path)
    library.add("a.mp3")
    monkeypatch.setattr(LocalStorage, "fingerprint", no_reading)
    library.run()
    assert not library.destination.exists(MARKER)  # nothing done yet: nothing written first
    assert library.transcribed == ["a.mp3"]
    library.run()
    assert library.destination.exists(MARKER)
