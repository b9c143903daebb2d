"""The search index: built from real done records (records.write_done), queried through the
user's syntax, kept current by sync (new, changed, removed), safe when syncs run at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.done_records import finish
from whisper_automation.storage import layout
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.layout import DONE, Version
from whisper_automation.web.searchindex import (
    Filters,
    SearchIndex,
    SearchUnavailable,
    format_clock,
    index_location,
)

STORY = [(0.0, 4.2, "Once upon a time, José and Zoë walked to the École Normale."),
         (4.2, 9.5, "They asked not what the river could do for them."),
         (9.5, 14.0, "Straße by straße, the Countryside slept.")]


@pytest.fixture
def destination(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "transcripts")


@pytest.fixture
def index(destination: LocalStorage) -> SearchIndex:
    (Path(destination.root)).mkdir(parents=True, exist_ok=True)
    return SearchIndex.for_destination(destination.root)


def found(index: SearchIndex, query: str) -> list[tuple[str, float]]:
    return [(hit.key, hit.start) for hit in index.search(query)]


def test_words_phrases_and_prefixes_find_the_right_segment(destination, index) -> None:
    finish(destination, "stories/river.mp3", STORY)
    index.sync(destination)

    assert found(index, "asked them") == [("stories/river.mp3", 4.2)]
    assert found(index, '"asked not"') == [("stories/river.mp3", 4.2)]
    assert found(index, '"not asked"') == []
    assert found(index, "countr*") == [("stories/river.mp3", 9.5)]
    assert found(index, '"river cou"*') == [("stories/river.mp3", 4.2)]
    assert found(index, "countr") == []  # a whole word unless a * says otherwise
    assert found(index, "dragon") == []


def test_case_and_accents_do_not_matter_and_the_match_is_marked(destination, index) -> None:
    finish(destination, "Grand-mère/Histoires d'Élodie «1».m4a", STORY)
    index.sync(destination)

    for query in ("jose", "JOSÉ", "zoe", "ecole normale", '"École normale"', "ÉCOLE"):
        hits = index.search(query)
        assert [(h.key, h.start) for h in hits] == \
            [("Grand-mère/Histoires d'Élodie «1».m4a", 0.0)], query
    hit = index.search("jose zoe")[0]
    assert hit.marked() == "Once upon a time, **José** and **Zoë** walked to the École Normale."
    assert hit.to_dict()["matches"] == [[18, 22], [27, 30]]
    assert found(index, "straße") == [("Grand-mère/Histoires d'Élodie «1».m4a", 9.5)]


@pytest.mark.parametrize(("query", "starts"), [
    # Operators and punctuation are words to find or nothing at all: every query answers, and
    # answers what its words say ("and", "not", "once" and "river" are in the story).
    ('AND', [0.0]), ('OR ask', []), ('NOT', [4.2]), ('a AND (b', []),
    ('NEAR(river time)', []), ('text:river', []), ('^once', [0.0]), ('"', []), ('""', []),
    ('"unclosed phrase', []), ('*', []), ('**', []), ('river*)', [4.2]), ('-river', [4.2]),
    ('+river', [4.2]), ("'", []), ('col:', []), ('{text}: x', []), ('\\', []),
    ('é*', [0.0]), ('%', []), ('NEAR/2', []), ('"a" OR "b"', []), ('river"', [4.2]),
    ('x" AND "y', []), ('\x00', []), ('日本語*', []),
])
def test_no_query_is_a_syntax_error(destination, index, query: str,
                                    starts: list[float]) -> None:
    finish(destination, "a.mp3", STORY)
    index.sync(destination)
    assert found(index, query) == [("a.mp3", start) for start in starts]


def test_operators_are_searched_as_words(destination, index) -> None:
    finish(destination, "a.mp3", [(0.0, 2.0, "Cats OR dogs, and NOT birds")])
    index.sync(destination)
    assert found(index, "cats OR dogs") == [("a.mp3", 0.0)]
    assert found(index, "cats OR fish") == []  # OR is a word to find, not an operator


def test_limit_and_best_first(destination, index) -> None:
    for number in range(30):
        finish(destination, f"day{number:02d}.mp3", [(float(number), number + 1.0, "river")])
    finish(destination, "river-song.mp3", [(3.0, 4.0, "river river river")])
    index.sync(destination)
    hits = index.search("river", limit=5)
    assert len(hits) == 5
    assert hits[0].key == "river-song.mp3"  # bm25: the denser match first


def test_sync_adds_a_finished_file_and_reindexes_only_what_changed(destination, index) -> None:
    finish(destination, "a.mp3", STORY)
    finish(destination, "b/c.mp3", [(0.0, 3.0, "a lighthouse keeper")])
    first = index.sync(destination)
    assert (first.indexed, first.removed) == (2, 0)
    ids_before = segment_ids(index, "a.mp3")

    finish(destination, "b/d.mp3", [(1.5, 3.0, "the new arrival")])
    assert index.sync(destination).indexed == 1
    assert found(index, "arrival") == [("b/d.mp3", 1.5)]
    assert segment_ids(index, "a.mp3") == ids_before  # untouched, not rebuilt

    # Transcribed again (a changed recording): the new text replaces the old.
    finish(destination, "b/c.mp3", [(2.0, 5.0, "a lighthouse painter")], size=2000)
    report = index.sync(destination)
    assert (report.indexed, report.removed) == (1, 0)
    assert found(index, "keeper") == []
    assert found(index, "painter") == [("b/c.mp3", 2.0)]
    assert segment_ids(index, "a.mp3") == ids_before

    destination.delete(layout.record_key(DONE, "a.mp3", Version(size=1000, mtime_ns=1000)))
    assert index.sync(destination).removed == 1
    assert found(index, "jose") == []
    nothing = index.sync(destination)
    assert (nothing.indexed, nothing.removed) == (0, 0)


def segment_ids(index: SearchIndex, key: str) -> list[int]:
    with index.connection() as connection:
        return [row[0] for row in connection.execute(
            "SELECT id FROM segments WHERE key = ? ORDER BY position", (key,))]


def test_a_damaged_record_does_not_stop_the_others(destination, index) -> None:
    finish(destination, "good.mp3", [(0.0, 1.0, "intact words")])
    destination.write_atomic(layout.record_name(DONE, "bad.mp3", "5-5"), b"{not json")
    report = index.sync(destination)
    assert report.skipped == ["bad.mp3"]
    assert found(index, "intact") == [("good.mp3", 0.0)]


def _sync_in_another_process(root: str) -> tuple[int, int]:
    report = SearchIndex.for_destination(root).sync(LocalStorage(root))
    return report.indexed, report.removed


def test_syncs_running_at_once_index_each_record_exactly_once(destination, index) -> None:
    for number in range(400):
        finish(destination, f"f{number:03d}.mp3",
               [(0.0, 1.0, f"opening {number}"), (1.0, 2.0, "closing words")])
    with ProcessPoolExecutor(4) as processes, ThreadPoolExecutor(2) as threads:
        runs = [processes.submit(_sync_in_another_process, destination.root) for _ in range(4)]
        runs += [threads.submit(_sync_in_another_process, destination.root) for _ in range(2)]
        for run in runs:
            run.result()
    with index.connection() as connection:
        assert connection.execute("SELECT count(*) FROM recordings").fetchone()[0] == 400
        assert connection.execute("SELECT count(*) FROM segments").fetchone()[0] == 800
        assert connection.execute("SELECT count(*) FROM segments_text WHERE segments_text "
                                  "MATCH 'closing'").fetchone()[0] == 400
    assert len(index.search("closing", limit=1000)) == 400


def test_an_index_locked_for_a_moment_while_it_is_made_is_waited_for(tmp_path: Path) -> None:
    # Several processes making a new index at once: SQLite answers "database is locked" at
    # once (no wait) to the one whose switch to WAL would deadlock with another's (a CI run's
    # six syncs failed so). A connection that never waits stands in for that answer here.
    from whisper_automation.web.searchindex import _prepare

    path = tmp_path / "search.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    releasing = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    releasing.start()
    impatient = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    started = time.monotonic()
    try:
        _prepare(impatient)
        assert impatient.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert time.monotonic() - started >= 0.25
    finally:
        releasing.join()
        impatient.close()
        holder.close()


def test_folder_lists_subfolders_and_recordings(destination, index) -> None:
    for key in ("a.mp3", "week1/x.mp3", "week1/y.mp3", "week1/deep/z.mp3", "week2/q.mp3"):
        finish(destination, key, [(0.0, 1.0, "words")])
    index.sync(destination)
    root = index.folder("")
    assert [f["key"] for f in root["files"]] == ["a.mp3"]
    assert [(f["path"], f["recordings"]) for f in root["folders"]] == \
        [("week1/", 3), ("week2/", 1)]
    week1 = index.folder("week1/")
    assert [f["name"] for f in week1["files"]] == ["x.mp3", "y.mp3"]
    assert [f["path"] for f in week1["folders"]] == ["week1/deep/"]


def test_transcript_lists_segments_in_order(destination, index) -> None:
    finish(destination, "a.mp3", STORY)
    index.sync(destination)
    transcript = index.transcript("a.mp3")
    assert [s["start"] for s in transcript["segments"]] == [0.0, 4.2, 9.5]
    assert transcript["segments"][1]["text"] == "They asked not what the river could do for them."
    assert index.transcript("missing.mp3") is None


def test_index_lives_beside_the_records_for_folders_and_in_the_cache_for_s3(
        tmp_path: Path, monkeypatch) -> None:
    destination = tmp_path / "out"
    destination.mkdir()
    assert index_location(str(destination)) == destination / ".whisper-automation/search.sqlite"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = index_location("s3://bucket/transcripts")
    assert first.parent == tmp_path / "cache/whisper-automation/search"
    assert first != index_location("s3://bucket/other")
    assert first == index_location("s3://bucket/transcripts")
    # A folder that cannot hold it (here: not there yet) gets one in the cache too.
    assert index_location(str(tmp_path / "absent")).parent == first.parent


def test_the_index_file_stays_out_of_the_record_folders(destination, index) -> None:
    finish(destination, "a.mp3", STORY)
    index.sync(destination)
    names = set(destination.list_keys(".whisper-automation/"))
    assert ".whisper-automation/search.sqlite" in names
    assert not any(name.startswith((".whisper-automation/done/", ".whisper-automation/failed/"))
                   and "search" in name for name in names)


def test_an_index_of_an_older_schema_is_rebuilt(destination, index) -> None:
    finish(destination, "a.mp3", STORY)
    index.sync(destination)
    with sqlite3.connect(index.path) as connection:
        connection.execute("PRAGMA user_version = 0")
    assert found(index, "jose") == []  # emptied, and filled again by the next sync
    index.sync(destination)
    assert found(index, "jose") == [("a.mp3", 0.0)]


def test_a_damaged_index_file_gives_a_clear_error(destination, index) -> None:
    index.path.parent.mkdir(parents=True, exist_ok=True)
    index.path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SearchUnavailable, match=r"damaged.*delete it"):
        index.sync(destination)
    index.path.unlink()
    finish(destination, "a.mp3", STORY)
    index.sync(destination)
    assert found(index, "jose") == [("a.mp3", 0.0)]


def test_clock_format() -> None:
    assert (format_clock(0), format_clock(7.46), format_clock(65.0), format_clock(3725)) == \
        ("0:00.0", "0:07.5", "1:05.0", "1:02:05.0")


# --- forgiving search ------------------------------------------------------------------------
def kinds(index: SearchIndex, query: str, **options) -> list[tuple[str, str]]:
    return [(hit.key, hit.kind.value) for hit in index.search(query, **options)]


def test_a_misheard_word_is_found_by_its_sound_after_the_exact_hits(destination, index) -> None:
    finish(destination, "heard-right.mp3", [(0.0, 3.0, "we walked to the kaki tree")])
    finish(destination, "misheard.mp3", [(0.0, 3.0, "we walked to the cocky tree")])
    finish(destination, "misspelt.mp3", [(0.0, 3.0, "we walked to the khaki tree")])
    finish(destination, "other.mp3", [(0.0, 3.0, "we walked to the old oak")])
    index.sync(destination)

    assert kinds(index, "kaki tree") == [("heard-right.mp3", "exact"),
                                         ("misheard.mp3", "sounds like"),
                                         ("misspelt.mp3", "sounds like")]
    misheard = index.search("kaki tree")[1]
    assert misheard.marked() == "we walked to the **cocky** **tree**"
    assert misheard.to_dict()["kind"] == "sounds like"


def test_with_sounds_like_off_only_exact_words_are_found(destination, index) -> None:
    finish(destination, "misheard.mp3", [(0.0, 3.0, "ask knot what your country can do")])
    index.sync(destination)
    assert kinds(index, "ask not") == [("misheard.mp3", "sounds like")]
    assert kinds(index, "ask not", sounds_like=False) == []


def test_exact_hits_fill_the_limit_before_any_sound_alike_hit(destination, index) -> None:
    for number in range(5):
        finish(destination, f"exact{number}.mp3", [(0.0, 1.0, "the lantern")])
    finish(destination, "alike.mp3", [(0.0, 1.0, "the lanterns")])
    index.sync(destination)
    assert [kind for _, kind in kinds(index, "lantern", limit=5)] == ["exact"] * 5
    everything = kinds(index, "lantern", limit=10)
    assert everything[-1] == ("alike.mp3", "sounds like")
    assert [kind for _, kind in everything[:5]] == ["exact"] * 5


def test_short_words_and_prefixes_are_only_matched_exactly(destination, index) -> None:
    finish(destination, "a.mp3", [(0.0, 1.0, "an owl at night")])
    index.sync(destination)
    assert kinds(index, "on") == []  # 'an' is one letter away, but too short to guess
    assert kinds(index, "nigh*") == [("a.mp3", "exact")]
    assert kinds(index, "knight") == [("a.mp3", "sounds like")]


def test_a_finished_file_adds_its_words_without_a_rebuild(destination, index) -> None:
    finish(destination, "a.mp3", [(0.0, 1.0, "the persimmon")])
    index.sync(destination)
    assert kinds(index, "persimmons") == [("a.mp3", "sounds like")]
    ids_before = segment_ids(index, "a.mp3")
    finish(destination, "b.mp3", [(0.0, 1.0, "a persimon pie")])
    assert index.sync(destination).indexed == 1
    assert kinds(index, "persimmons") == [("a.mp3", "sounds like"), ("b.mp3", "sounds like")]
    assert segment_ids(index, "a.mp3") == ids_before


def test_search_narrows_to_a_folder_and_a_language(destination, index) -> None:
    finish(destination, "2023/a.mp3", [(0.0, 1.0, "the river")])
    finish(destination, "2024/b.mp3", [(0.0, 1.0, "the river")])
    finish(destination, "2024/deep/c.mp3", [(0.0, 1.0, "the river")], language="de")
    index.sync(destination)
    assert {key for key, _ in kinds(index, "river", filters=Filters(folder="2024/"))} == \
        {"2024/b.mp3", "2024/deep/c.mp3"}
    assert kinds(index, "river", filters=Filters(language="de")) == \
        [("2024/deep/c.mp3", "exact")]
    assert index.search("river", filters=Filters(language="de"))[0].language == "de"
    assert index.languages() == [{"language": "en", "recordings": 2},
                                 {"language": "de", "recordings": 1}]
    assert index.folders() == ["2023/", "2024/", "2024/deep/"]
    assert index.transcript("2024/deep/c.mp3")["language"] == "de"
