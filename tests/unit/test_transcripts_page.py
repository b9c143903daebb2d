"""The transcripts page's server in-process: its JSON follows the done records as files finish,
and it answers bad requests with a clear status rather than an exception."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.done_records import finish
from tests.support.http_client import request, serving_page
from whisper_automation.storage.base import LocalStorage
from whisper_automation.web import library as library_module
from whisper_automation.web.library import Library
from whisper_automation.web.searchindex import SearchIndex


@pytest.fixture
def folders(tmp_path: Path) -> tuple[LocalStorage, LocalStorage]:
    source, destination = tmp_path / "in", tmp_path / "out"
    (source / "week1").mkdir(parents=True)
    (source / "week1" / "talk.mp3").write_bytes(b"ID3" + bytes(997))
    destination.mkdir()
    return LocalStorage(source), LocalStorage(destination)


@pytest.fixture
def page(folders, monkeypatch) -> Iterator[int]:
    monkeypatch.setattr(library_module, "SYNC_SECONDS", 0.0)  # every request syncs
    source, destination = folders
    library = Library(source, destination, SearchIndex.for_destination(destination.root),
                      ("mp3",))
    with serving_page(library) as port:
        yield port


def api(port: int, path: str) -> tuple[int, object]:
    reply = request(port, path)
    return reply.status, json.loads(reply.body)


def test_a_file_that_finishes_appears_in_the_tree_and_the_search(folders, page: int) -> None:
    _, destination = folders
    assert api(page, "/api/folder?path=") == (200, {"folder": "", "files": [], "folders": []})
    finish(destination, "week1/talk.mp3", [(0.0, 2.0, "hello"), (2.0, 4.5, "a lighthouse")])

    status, folder = api(page, "/api/folder?path=week1")
    assert status == 200 and [f["key"] for f in folder["files"]] == ["week1/talk.mp3"]
    status, hits = api(page, "/api/search?q=lighthouse")
    assert [(hit["key"], hit["start"]) for hit in hits] == [("week1/talk.mp3", 2.0)]
    status, transcript = api(page, "/api/transcript?key=week1%2Ftalk.mp3")
    assert transcript["audio"] == "/audio/week1/talk.mp3"
    assert request(page, transcript["audio"], Range="bytes=0-2").body == b"ID3"


def test_bad_requests_get_a_status_not_an_exception(page: int) -> None:
    assert api(page, "/api/search?q=x&limit=many")[0] == 400
    assert api(page, "/api/nothing")[0] == 404
    assert api(page, "/api/transcript?key=missing.mp3")[0] == 404
    assert api(page, "/api/search?q=%22")[1] == []
    assert request(page, "/nothing").status == 404
    assert request(page, "/transcripts", method="POST").status == 501
    assert request(page, "/transcripts.js").headers["content-type"] == "text/javascript"
    assert request(page, "/transcripts", Host="rebound.example.com:80").status == 403
