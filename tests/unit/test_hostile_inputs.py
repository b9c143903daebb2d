"""Source trees as people have them, and as a hostile one would make them (issue 19): every
case here once stopped a run, lost or overwrote something, or dropped a connection. What each
now gets is listed in docs/reliability.md."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.http_client import request, serving_page
from whisper_automation.jobs.director import carry_out, make_plan
from whisper_automation.jobs.lifecycle import Shutdown, ShutdownGuard
from whisper_automation.jobs.messages import BadMessage, Job, decode, encode
from whisper_automation.jobs.status import Status, build_status
from whisper_automation.logs import TextFormatter
from whisper_automation.settings import TUNING, Settings
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.layout import Version, printable, record_name_problem
from whisper_automation.storage.records import read_records
from whisper_automation.transcription.audio import NOT_MEDIA, declared_duration
from whisper_automation.transcription.speech import AudioError
from whisper_automation.web import statuspage
from whisper_automation.web.library import Library
from whisper_automation.web.media import (
    ByteRange,
    MediaRefused,
    RangeNotSatisfiable,
    key_from_url_path,
    open_media,
    parse_range,
)
from whisper_automation.web.searchindex import SearchIndex
from whisper_automation.web.statuspage import render_html

CLIP = Path(__file__).resolve().parents[1] / "data" / "cfb_06-first30s.mp3"
EXTENSIONS = ("mp3", "flac")


def settings(formats: tuple[str, ...] = ("txt", "srt")) -> Settings:
    return replace(Settings(), formats=formats, extensions=EXTENSIONS, stable_seconds=0.0)


# --- a bad entry in the tree is skipped and reported, never fatal -------------------------

def test_a_symlink_loop_and_a_link_through_a_file_are_skipped_and_reported(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source, destination = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "good.mp3").write_bytes(b"x")
    (source / "loop.mp3").symlink_to("loop.mp3")
    (source / "plain").write_bytes(b"x")
    (source / "through.mp3").symlink_to("plain/inside.mp3")  # ENOTDIR on the way
    with caplog.at_level(logging.WARNING):
        plan = make_plan(LocalStorage(source), LocalStorage(destination), settings())
    assert [job.key for job in plan.jobs] == ["good.mp3"]
    assert "skipped loop.mp3" in caplog.text


def test_the_director_survives_a_bad_entry_in_the_tree(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "loop.mp3").symlink_to("loop.mp3")
    (source / "ok.mp3").write_bytes(b"x")
    found = dict(LocalStorage(source).scan(EXTENSIONS))  # raised OSError (ELOOP) before
    assert list(found) == ["ok.mp3"]


# --- a name the destination cannot hold -----------------------------------------------------

def test_a_name_too_long_for_its_record_is_a_failure_with_the_reason(tmp_path: Path) -> None:
    source, destination = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    long_name = "x" * 240 + ".mp3"  # fits the file system; its record name would not
    (source / long_name).write_bytes(b"x")
    (source / "short.mp3").write_bytes(b"x")
    plan = make_plan(LocalStorage(source), LocalStorage(destination), settings())
    carry_out(LocalStorage(destination), plan)  # writes nothing under the long name
    assert [job.key for job in plan.jobs] == ["short.mp3"]
    assert "too long" in plan.unrecordable[long_name]
    found = {key: version.token() for key, version in plan.found.items()}
    status = build_status(found, LocalStorage(source), LocalStorage(destination), None)
    assert (status.failed, status.to_do) == (1, 1)
    assert status.failures[0]["key"] == long_name and "rename" in status.failures[0]["reason"]


def test_a_record_name_that_fits_is_accepted() -> None:
    assert record_name_problem("a/" + "x" * 200 + ".mp3", "1000-1733390000000000000") is None


# --- source = destination -------------------------------------------------------------------

def test_a_users_own_file_where_a_transcript_would_go_is_never_overwritten(
        tmp_path: Path) -> None:
    tree = LocalStorage(tmp_path)  # source and destination at once (subtitles beside videos)
    (tmp_path / "talk.flac").write_bytes(b"x")
    (tmp_path / "talk.txt").write_text("my own notes")
    (tmp_path / "other.mp3").write_bytes(b"x")
    plan = make_plan(tree, tree, settings())
    carry_out(tree, plan)
    assert [job.key for job in plan.jobs] == ["other.mp3"]
    assert "talk.txt" in plan.conflicts["talk.flac"]
    assert (tmp_path / "talk.txt").read_text() == "my own notes"
    # Recorded as a final failure: status shows it, the next run does not queue it again.
    records = read_records(tree)
    assert "talk.flac" in records.failed
    assert [job.key for job in make_plan(tree, tree, settings()).jobs] == ["other.mp3"]


def test_transcripts_of_this_tool_are_replaced_when_their_recording_changes(
        tmp_path: Path) -> None:
    from whisper_automation.storage.records import Transcription, write_done
    from whisper_automation.transcription.speech import Result

    tree = LocalStorage(tmp_path)
    (tmp_path / "talk.flac").write_bytes(b"x")
    version = dict(tree.scan(EXTENSIONS))["talk.flac"]
    write_done(tree, Transcription("talk.flac", version, "talk", Result("old", [], "en", 1.0),
                                   "e", "m", {}, 1.0, "w", 0.0), ("txt", "srt"))
    (tmp_path / "talk.flac").write_bytes(b"changed")
    plan = make_plan(tree, tree, settings())
    assert [job.key for job in plan.jobs] == ["talk.flac"] and not plan.conflicts


class FinishedByAWorkerMeanwhile(LocalStorage):
    """A destination where a worker commits `talk.flac` just before the director's listing of
    the whole tree, after the director has read the records (`watch` rescans while workers
    run)."""

    def __init__(self, root: Path, source: LocalStorage) -> None:
        super().__init__(root)
        self.source, self.committed = source, False

    def list_keys(self, folder: str = "") -> Iterator[str]:
        if not folder and not self.committed:
            from whisper_automation.storage.records import Transcription, write_done
            from whisper_automation.transcription.speech import Result

            self.committed = True
            version = dict(self.source.scan(EXTENSIONS))["talk.flac"]
            write_done(self, Transcription("talk.flac", version, "talk",
                                           Result("words", [], "en", 1.0), "e", "m", {}, 1.0,
                                           "w", 0.0), ("txt", "srt"))
        return super().list_keys(folder)


def test_a_transcript_a_worker_finished_while_the_director_planned_is_not_someone_elses(
        tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "talk.flac").write_bytes(b"x")
    source = LocalStorage(tmp_path / "in")
    destination = FinishedByAWorkerMeanwhile(tmp_path / "out", source)
    plan = make_plan(source, destination, settings())
    carry_out(destination, plan)
    assert destination.committed and [job.key for job in plan.jobs] == ["talk.flac"]
    assert not plan.conflicts
    assert not read_records(destination).failed


# --- names escaped in logs and on the terminal -------------------------------------------------

def test_control_characters_in_names_are_escaped() -> None:
    assert printable("a\nb\x1b[31m\u202e ü 日本") == "a\\nb\\x1b[31m\\u202e ü 日本"


def test_a_newline_in_a_logged_name_cannot_forge_a_line() -> None:
    record = logging.makeLogRecord({"msg": "done %s", "args": ("x.mp3\n12:00:00 ERROR forged",),
                                    "levelname": "INFO"})
    line = TextFormatter("%(levelname)s %(message)s").format(record)
    assert "\n" not in line and "x.mp3\\n12:00:00" in line


# --- the audio endpoint ---------------------------------------------------------------------

@pytest.fixture
def source(tmp_path: Path) -> LocalStorage:
    root = tmp_path / "source"
    root.mkdir()
    (root / "talk.mp3").write_bytes(bytes(range(256)) * 4)
    (root / "back\\slash.mp3").write_bytes(b"ID3" + bytes(97))
    (root / "notes.txt").write_text("private")
    (root / "x.mp3").symlink_to("notes.txt")
    return LocalStorage(root)


def test_a_link_named_like_a_recording_to_something_else_is_not_served(
        source: LocalStorage) -> None:
    with pytest.raises(MediaRefused) as refused:
        open_media(source, "x.mp3", EXTENSIONS)
    assert refused.value.status == 404


def test_a_name_with_a_backslash_plays() -> None:
    assert key_from_url_path("back%5Cslash.mp3") == "back\\slash.mp3"


def test_a_path_segment_too_long_for_the_system_is_a_404(source: LocalStorage) -> None:
    with pytest.raises(MediaRefused) as refused:
        open_media(source, "y" * 300 + ".mp3", EXTENSIONS)
    assert refused.value.status == 404


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=" + "9" * 5000 + "-", RangeNotSatisfiable),
    ("bytes=0-" + "9" * 5000, ByteRange(0, 1023)),
    ("bytes=-" + "9" * 5000, ByteRange(0, 1023)),
])
def test_a_range_with_thousands_of_digits_is_answered(header: str, expected: object) -> None:
    if expected is RangeNotSatisfiable:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, 1024)
    else:
        assert parse_range(header, 1024) == expected


@pytest.fixture
def page(source: LocalStorage, tmp_path: Path, monkeypatch) -> Iterator[int]:
    monkeypatch.setattr(statuspage, "TUNING", replace(TUNING, status_idle_timeout_seconds=1.0))
    destination = LocalStorage(tmp_path / "out")
    library = Library(source, destination, SearchIndex.for_destination(destination.root),
                      EXTENSIONS)
    with serving_page(library) as port:
        yield port


def test_the_audio_endpoint_answers_instead_of_dropping(page: int) -> None:
    assert request(page, "/audio/" + "z" * 300 + ".mp3").status == 404
    huge = request(page, "/audio/talk.mp3", Range="bytes=" + "9" * 5000 + "-")
    assert huge.status == 416 and huge.headers["content-range"] == "bytes */1024"
    assert request(page, "/audio/x.mp3").status == 404
    assert request(page, "/audio/back%5Cslash.mp3").status == 200


def test_head_answers_the_headers_of_get_without_a_body(page: int) -> None:
    reply = request(page, "/audio/talk.mp3", method="HEAD")
    assert (reply.status, reply.headers["content-length"], reply.body) == (200, "1024", b"")
    assert request(page, "/", method="HEAD").status == 200


def test_an_idle_connection_is_closed(page: int) -> None:
    with socket.create_connection(("127.0.0.1", page), timeout=60) as idle:
        # The server closes it (after its 1 s here); without a timeout this waits 60 s and
        # fails with a timeout instead.
        assert idle.recv(1) == b""


# --- only audio/video demuxers -----------------------------------------------------------------

def test_an_ffconcat_script_named_like_a_recording_is_a_permanent_failure(
        tmp_path: Path) -> None:
    (tmp_path / "real.mp3").write_bytes(CLIP.read_bytes())
    for target in ("real.mp3", "/etc/passwd"):  # one it could read, one its safe mode refuses
        script = tmp_path / "script.mp3"
        script.write_text(f"ffconcat version 1.0\nfile '{target}'\n")
        with pytest.raises(AudioError) as failure:  # AudioError: final, never retried
            declared_duration(str(script))
        assert str(failure.value) == NOT_MEDIA


# --- files follow the umask ---------------------------------------------------------------------

def test_transcripts_follow_the_umask(tmp_path: Path) -> None:
    program = ("from whisper_automation.storage.base import LocalStorage; import sys; "
               "LocalStorage(sys.argv[1]).write_atomic('a/t.txt', b'x')")
    subprocess.run([sys.executable, "-c", program, str(tmp_path)], check=True,
                   preexec_fn=lambda: os.umask(0o027), env=os.environ | {
                       "PYTHONPATH": os.pathsep.join(sys.path)})
    assert (tmp_path / "a" / "t.txt").stat().st_mode & 0o777 == 0o640


# --- queue messages checked with the scanner's rules ----------------------------------------

@pytest.mark.parametrize("key", [
    ".hidden.mp3", "a/.hidden/b.mp3", ".whisper-automation/done/a.mp3", "notes.txt",
    "talk.mp3.part", "x" * 240 + ".mp3"])
def test_a_message_for_a_key_the_scanner_never_queues_is_refused(key: str) -> None:
    body = encode(Job(key, Version(size=10, mtime_ns=1733390000000000000), key))
    with pytest.raises(BadMessage):
        decode(body, EXTENSIONS)


def test_a_message_for_an_ordinary_recording_is_accepted() -> None:
    job = Job("week 1/talk.mp3", Version(size=10, mtime_ns=1), "week 1/talk")
    assert decode(encode(job), EXTENSIONS) == job


# --- a finished one-machine run reads as finished ----------------------------------------

def test_a_finished_run_without_a_queue_reads_as_finished() -> None:
    finished = Status(recordings=2, done=1, failed=1, to_do=0,
                      queue_error="Unable to locate credentials")
    page = render_html(finished)
    assert 'class="note" id="queue_error"' in page and "not reachable" not in page
    assert "finished" in finished.to_text() and "not reachable" not in finished.to_text()
    working = replace(finished, to_do=1)
    assert 'class="warn" id="queue_error"' in render_html(working)
    assert "queue not reachable: Unable to locate credentials" in working.to_text()


def test_stopping_an_idle_worker_is_not_logged_as_finishing_up(
        caplog: pytest.LogCaptureFixture) -> None:
    guard = ShutdownGuard()
    with caplog.at_level(logging.INFO), pytest.raises(Shutdown), guard.waiting():
        guard._on_signal(signal.SIGTERM, None)
    assert "finishing up" not in caplog.text and guard.requested.is_set()
