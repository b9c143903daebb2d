"""Find it again, on real transcripts: the real engine transcribes the bundled samples, then the
`search` command finds passages at the right second, the index follows new and re-transcribed
recordings, the transcripts page serves its JSON and the recordings (byte ranges, nothing from
outside the source), and in headless Chromium choosing a hit plays the recording from there."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import docx
import pytest

from tests.support.browser import headless_chromium, missing_browser
from tests.support.cli import REPO, SAMPLES, cli_environment, run_cli
from tests.support.http_client import answers, free_port, request
from tests.support.require import require
from tests.support.stack import wait_for
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.records import latest_done, read_done
from whisper_automation.web.searchindex import format_clock
from whisper_automation.web.statuspage import REFRESH_SECONDS

pytestmark = pytest.mark.integration

JFK = "speeches/jfk.flac"
NETHERLANDS = "lj-speech/chapter-1/LJ001-0003.wav"
ACCENTED = "Poèmes/Sonnet n° 1 – «Shakespeare».ogg"


@dataclass
class Transcribed:
    source: Path
    destination: Path
    outside: Path  # a recording next to the source, never to be served

    def segments(self, key: str) -> list[dict]:
        """The segments of a recording's done record, as the worker wrote them."""
        storage = LocalStorage(self.destination)
        record = read_done(storage, key, latest_done(storage)[key])
        return record["result"]["segments"]

    def segment_with(self, key: str, words: str) -> dict:
        return next(s for s in self.segments(key) if words in s["text"].lower())


@pytest.fixture(scope="module")
def transcribed(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Transcribed:
    """The bundled samples plus a copy under an accented name, transcribed by the real engine."""
    root = tmp_path_factory.mktemp("search")
    source, destination = root / "recordings", root / "transcripts"
    shutil.copytree(SAMPLES, source)
    (source / ACCENTED).parent.mkdir()
    shutil.copy(SAMPLES / "librivox/sonnets/sonnet-001-first9s.ogg", source / ACCENTED)
    outside = root / "outside.flac"
    shutil.copy(SAMPLES / JFK, outside)
    result = run_cli("run", str(source), str(destination), env=cli_environment())
    assert result.returncode == 0, result.stderr
    (source / "link-out.flac").symlink_to(outside)  # after the run: nothing transcribes it
    return Transcribed(source, destination, outside)


def search(destination: Path | str, *args: str, env: dict | None = None) -> list[dict]:
    result = run_cli("search", str(destination), *args, "--json",
                     env=env or cli_environment(), timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def where(hits: list[dict]) -> list[tuple[str, float]]:
    return [(hit["key"], hit["start"]) for hit in hits]


# --- the search command ---------------------------------------------------------------------
def test_ask_not_finds_jfk_at_the_second_it_is_said(transcribed: Transcribed) -> None:
    said = transcribed.segment_with(JFK, "ask not")

    hits = search(transcribed.destination, "ask not")

    assert where(hits) == [(JFK, said["start"])]
    assert hits[0]["end"] == said["end"] and hits[0]["text"] == said["text"].strip()
    assert "**ask** **not**" in hits[0]["marked"].lower()
    text = run_cli("search", str(transcribed.destination), "ask not", env=cli_environment())
    assert text.returncode == 0
    assert text.stdout.startswith(f"{JFK}  {format_clock(said['start'])}-"
                                  f"{format_clock(said['end'])}  ")


def test_phrases_prefixes_case_and_no_match(transcribed: Transcribed) -> None:
    destination = transcribed.destination
    first = transcribed.segment_with(JFK, "ask not")["start"]
    assert where(search(destination, '"ask not"')) == [(JFK, first)]
    assert search(destination, '"not ask"') == []
    assert where(search(destination, "NOT ASK")) == [(JFK, first)]
    country = {(JFK, s["start"]) for s in transcribed.segments(JFK) if "countr" in s["text"]}
    assert set(where(search(destination, "countr*"))) == country
    assert search(destination, "countr", "--sounds-like", "false") == []
    assert {hit["kind"] for hit in search(destination, "countr")} == {"sounds like"}
    late = transcribed.segment_with(NETHERLANDS, "netherlands")["start"]
    assert where(search(destination, "netherl*")) == [(NETHERLANDS, late)]

    assert search(destination, "zeppelin") == []
    none = run_cli("search", str(destination), "zeppelin", env=cli_environment())
    assert (none.returncode, none.stdout) == (0, "")
    assert "no matches" in none.stderr
    assert search(destination, 'NEAR(" AND *') == []  # FTS5 syntax is never passed through


def test_a_recording_with_an_accented_name_is_found_by_its_words(
        transcribed: Transcribed) -> None:
    hits = search(transcribed.destination, "fairest creatures")
    assert {hit["key"] for hit in hits} == {ACCENTED, "librivox/sonnets/sonnet-001-first9s.ogg"}
    text = run_cli("search", str(transcribed.destination), "fairest", env=cli_environment())
    assert f"{ACCENTED}  " in text.stdout


# --- forgiving search, documents and collections on real transcripts --------------------------
def test_a_misheard_query_finds_jfk_by_sound_after_the_exact_hits(
        transcribed: Transcribed) -> None:
    said = transcribed.segment_with(JFK, "ask not")

    hits = search(transcribed.destination, "americans ask knot")
    assert [(hit["key"], hit["start"], hit["kind"]) for hit in hits] == \
        [(JFK, said["start"], "sounds like")]
    assert "**not**" in hits[0]["marked"].lower()
    text = run_cli("search", str(transcribed.destination), "americans ask knot",
                   env=cli_environment())
    assert "~ sounds like:" in text.stdout
    assert search(transcribed.destination, "americans ask knot", "--sounds-like",
                  "false") == []

    # Exact hits first: "country" is said twice in jfk; "countries"/"county" come after.
    mixed = search(transcribed.destination, "country", "--limit", "50")
    kinds = [hit["kind"] for hit in mixed]
    assert kinds[0] == "exact" and kinds == sorted(kinds, key=lambda kind: kind != "exact")
    assert {hit["key"] for hit in mixed if hit["kind"] == "exact"} == {JFK}


def test_search_filters_by_folder_and_language(transcribed: Transcribed) -> None:
    assert {hit["key"] for hit in search(transcribed.destination, "fairest",
                                         "--folder", "librivox")} == \
        {"librivox/sonnets/sonnet-001-first9s.ogg"}
    english = search(transcribed.destination, "ask not", "--language", "en")
    assert [(hit["key"], hit["language"]) for hit in english] == [(JFK, "en")]
    assert search(transcribed.destination, "ask not", "--language", "fr") == []


def spoken_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def test_md_and_docx_are_rendered_from_the_done_records_and_hold_every_word(
        transcribed: Transcribed, tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    destination = tmp_path / "transcripts"
    shutil.copytree(transcribed.destination, destination)
    records = sorted(path.name for path in (destination / ".whisper-automation/done").rglob("*"))
    result = run_cli("run", str(transcribed.source), str(destination), "--formats", "md,docx",
                     env=cli_environment())
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in
                  (destination / ".whisper-automation/done").rglob("*")) == records

    said = " ".join(segment["text"] for segment in transcribed.segments(JFK))
    tokens = MarkdownIt().parse((destination / "speeches/jfk.md").read_text(encoding="utf-8"))
    assert tokens[0].type == "heading_open" and tokens[1].content == "jfk"
    prose = " ".join(token.content for token in tokens if token.type == "inline")
    assert spoken_words(re.sub(r"\[\d+:\d\d\]|Length \S+|\d{4}-\d\d-\d\d", " ",
                               prose.split("\n", 1)[-1]))[-len(spoken_words(said)):] == \
        spoken_words(said)

    document = docx.Document(str(destination / "speeches/jfk.docx"))
    paragraphs = [p.text for p in document.paragraphs if p.text.startswith("[")]
    assert paragraphs and paragraphs[0].startswith("[0:00] ")
    assert spoken_words(" ".join(re.sub(r"^\[[\d:]+\] ", "", p) for p in paragraphs)) == \
        spoken_words(said)


def test_a_collection_of_a_folder_reads_its_recordings_in_name_order(
        transcribed: Transcribed, tmp_path: Path) -> None:
    result = run_cli("collect", str(transcribed.destination), "lj-speech", "--output",
                     str(tmp_path / "chapter-1"), env=cli_environment())
    assert result.returncode == 0, result.stderr
    book = docx.Document(str(tmp_path / "chapter-1.docx"))
    chapters = [p.text for p in book.paragraphs if p.style.name == "Heading 1"]
    keys = sorted(key for key in latest_done(LocalStorage(transcribed.destination))
                  if key.startswith("lj-speech/"))
    assert chapters == [key.rpartition("/")[2].rpartition(".")[0] for key in keys]
    markdown = (tmp_path / "chapter-1.md").read_text(encoding="utf-8")
    assert markdown.startswith("# lj\\-speech\n") or markdown.startswith("# lj-speech\n")
    said = transcribed.segment_with(NETHERLANDS, "netherlands")["text"].strip()
    assert spoken_words(said)[0] in spoken_words(markdown)


def test_the_index_follows_new_and_retranscribed_recordings(tiny_model_dir: Path,
                                                            tmp_path: Path) -> None:
    source, destination = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    shutil.copy(SAMPLES / JFK, source / "story.flac")
    assert run_cli("run", str(source), str(destination), env=cli_environment()).returncode == 0
    assert [hit["key"] for hit in search(destination, "americans")] == ["story.flac"]
    index = destination / ".whisper-automation" / "search.sqlite"
    assert index.is_file()

    (source / "more").mkdir()
    shutil.copy(SAMPLES / "lj-speech/chapter-1/LJ001-0004.m4a", source / "more/blocks.m4a")
    assert run_cli("run", str(source), str(destination), env=cli_environment()).returncode == 0
    assert [hit["key"] for hit in search(destination, "predecessors")] == ["more/blocks.m4a"]
    assert [hit["key"] for hit in search(destination, "americans")] == ["story.flac"]

    # The same name, another recording: transcribed again, and its old words are gone.
    shutil.copy(SAMPLES / "lj-speech/chapter-1/LJ001-0001.flac", source / "story.flac")
    assert run_cli("run", str(source), str(destination), env=cli_environment()).returncode == 0
    assert search(destination, "americans") == []
    assert [hit["key"] for hit in search(destination, "printing")] == ["story.flac"]


def test_an_s3_destination_is_searched_with_the_index_in_the_local_cache(
        localstack, tiny_model_dir: Path, tmp_path: Path) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=localstack.endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    bucket = f"wa-search-{tmp_path.name[-8:].lower().replace('_', '-')}"
    s3.create_bucket(Bucket=bucket)
    source = tmp_path / "in"
    (source / "speeches").mkdir(parents=True)
    shutil.copy(SAMPLES / JFK, source / JFK)
    env = cli_environment(AWS_ENDPOINT_URL=localstack.endpoint, AWS_DEFAULT_REGION="us-east-1",
                          AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                          XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert run_cli("run", str(source), f"s3://{bucket}/out", env=env).returncode == 0

    hits = search(f"s3://{bucket}/out", "ask not", env=env)

    assert [hit["key"] for hit in hits] == [JFK]
    assert len(list((tmp_path / "cache/whisper-automation/search").glob("*.sqlite"))) == 1
    stored = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert not any("search" in key or key.endswith(".sqlite") for key in stored)

    # The page plays recordings from an S3 source too, in byte ranges.
    s3.upload_file(str(SAMPLES / JFK), bucket, f"in/{JFK}")
    with serve(f"s3://{bucket}/in", f"s3://{bucket}/out", env) as port:
        reply = request(port, f"/audio/{JFK}", Range="bytes=100-199")
    assert reply.status == 206
    assert reply.headers["content-range"] == f"bytes 100-199/{(SAMPLES / JFK).stat().st_size}"
    assert reply.body == (SAMPLES / JFK).read_bytes()[100:200]


# --- the page's server ------------------------------------------------------------------------
@contextmanager
def serve(source: str, destination: str, env: dict | None = None) -> Iterator[int]:
    """`status --serve` on a free 127.0.0.1 port (the queue is unreachable: not needed here),
    stopped by its pid."""
    port = free_port()
    env = env or cli_environment(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
                                 AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    process = subprocess.Popen(
        [sys.executable, "-m", "whisper_automation", "status", source, destination, "--serve",
         "--port", str(port)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/transcripts"
        wait_for(lambda: answers(url) or process.poll() is not None, 60, what=url)
        assert process.poll() is None, process.communicate()[0]
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=20)


@pytest.fixture(scope="module")
def page(transcribed: Transcribed) -> Iterator[int]:
    with serve(str(transcribed.source), str(transcribed.destination)) as port:
        yield port


def test_audio_answers_byte_ranges(transcribed: Transcribed, page: int) -> None:
    data = (SAMPLES / JFK).read_bytes()
    size = len(data)
    for header, status, first, last in (("bytes=0-99", 206, 0, 99),
                                        ("bytes=100-", 206, 100, size - 1),
                                        ("bytes=-100", 206, size - 100, size - 1)):
        reply = request(page, f"/audio/{JFK}", Range=header)
        assert reply.status == status, header
        assert reply.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert reply.headers["content-length"] == str(last - first + 1)
        assert reply.body == data[first:last + 1]
        assert reply.headers["content-type"] == "audio/flac"
    whole = request(page, f"/audio/{JFK}")
    assert (whole.status, whole.body, whole.headers["accept-ranges"]) == (200, data, "bytes")
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        refused = request(page, f"/audio/{JFK}", Range=header)
        assert refused.status == 416, header
        assert refused.headers["content-range"] == f"bytes */{size}"
        assert refused.body == b""
    for key, kind in (("lj-speech/chapter-1/LJ001-0002.mp3", "audio/mpeg"),
                      ("lj-speech/chapter-1/LJ001-0004.m4a", "audio/mp4"),
                      ("lj-speech/chapter-1/LJ001-0006.opus", "audio/ogg"),
                      (NETHERLANDS, "audio/wav")):
        assert request(page, f"/audio/{key}", Range="bytes=0-9").headers["content-type"] == kind
    accented = request(page, "/audio/Po%C3%A8mes/Sonnet%20n%C2%B0%201%20%E2%80%93%20"
                             "%C2%ABShakespeare%C2%BB.ogg", Range="bytes=0-3")
    assert (accented.status, accented.body) == (206, b"OggS")


def test_audio_refuses_anything_outside_the_source(transcribed: Transcribed,
                                                    page: int) -> None:
    secret = transcribed.outside.read_bytes()[:100]
    outside = transcribed.outside
    for path in ("/audio/../outside.flac", "/audio/speeches/../../outside.flac",
                 "/audio/%2e%2e/outside.flac", "/audio/%2E%2E/outside.flac",
                 "/audio/speeches%2F..%2F..%2Foutside.flac", "/audio/..%2Foutside.flac",
                 f"/audio/{outside}", f"/audio//{outside}", "/audio/%2F" + str(outside)[1:],
                 "/audio/link-out.flac", "/audio/speeches%2Fjfk.flac",
                 "/audio/.whisper-automation/done/x.flac", "/audio/MANIFEST.tsv",
                 "/audio/speeches/jfk.flac%00.txt", "/audio/speeches/missing.flac"):
        reply = request(page, path, Range="bytes=0-99")
        assert reply.status in (400, 403, 404), path
        assert secret not in reply.body and reply.body[:4] != b"fLaC", path
    assert request(page, "/audio/link-out.flac").status == 403
    assert request(page, "/audio/speeches%2Fjfk.flac").status == 400


def test_the_server_answers_get_and_head_only_and_only_to_its_own_names(page: int) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert request(page, f"/audio/{JFK}", method=method).status in (405, 501), method
    # HEAD: GET's headers without a body (issue 19: players and link checkers ask it first).
    head, get = request(page, f"/audio/{JFK}", method="HEAD"), request(page, f"/audio/{JFK}")
    assert (head.status, head.body) == (200, b"") and get.status == 200
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.body))
    assert request(page, "/transcripts", Host="evil.example").status == 403
    assert request(page, "/transcripts", Host=f"localhost:{page}").status == 200
    assert request(page, "/api/search?q=ask", Host=f"127.0.0.1:{page}").status == 200


def test_the_page_api_lists_folders_transcripts_and_hits(transcribed: Transcribed,
                                                         page: int) -> None:
    root = json.loads(request(page, "/api/folder?path=").body)
    assert [f["path"] for f in root["folders"]] == \
        ["Poèmes/", "librivox/", "lj-speech/", "speeches/"]
    transcript = json.loads(request(page, "/api/transcript?key=speeches%2Fjfk.flac").body)
    assert [s["start"] for s in transcript["segments"]] == \
        [s["start"] for s in transcribed.segments(JFK)]
    assert transcript["audio"] == "/audio/speeches/jfk.flac"
    hits = json.loads(request(page, "/api/search?q=%22ask+not%22").body)
    assert hits[0]["key"] == JFK
    assert request(page, "/api/transcript?key=nothing.mp3").status == 404


# --- in a real browser ---------------------------------------------------------------------------
PLAYER = "document.getElementById('player')"


def test_in_chromium_a_chosen_hit_plays_the_recording_from_its_segment(
        transcribed: Transcribed, page: int, tmp_path: Path) -> None:
    reason = missing_browser()
    require(reason is None, str(reason))
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    passage = transcribed.segment_with(NETHERLANDS, "netherlands")
    assert passage["start"] > 1.0, "pick a passage that does not start the recording"

    with headless_chromium(tmp_path / "profile",
                           "--autoplay-policy=no-user-gesture-required") as browser:
        browser.get(f"http://127.0.0.1:{page}/transcripts")
        loaded = time.monotonic()
        browser.execute_script("window.sameDocument = true;"  # gone if the page ever reloads
                               f"window.seeks = []; {PLAYER}.addEventListener('seeked',"
                               " event => seeks.push(event.target.currentTime));")

        def seeks() -> list[float]:
            return browser.execute_script("return window.seeks")

        def player(field: str):
            return browser.execute_script(f"return {PLAYER}.{field}")

        box = browser.find_element(By.ID, "query")
        box.send_keys("netherlands", Keys.ENTER)
        hit = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#hits .hit"), 30,
                       what="a hit")[0]
        assert hit.get_attribute("data-key") == NETHERLANDS
        assert hit.find_element(By.TAG_NAME, "mark").text == "Netherlands"
        hit.click()

        wait_for(seeks, 30, what="the audio element to seek")
        assert abs(seeks()[0] - passage["start"]) < 0.25
        wait_for(lambda: not player("paused") and player("currentTime") > passage["start"] + 0.3,
                 30, what="the recording to play on from the passage")
        assert abs(player("duration") - 9.67) < 0.1  # the whole file came through
        chosen = browser.find_element(By.CSS_SELECTOR, "#lines .line.chosen")
        assert float(chosen.get_attribute("data-start")) == passage["start"]

        # A line of the transcript: the recording plays from that line's start.
        first_line = browser.find_elements(By.CSS_SELECTOR, "#lines .line")[0]
        first_line.click()
        wait_for(lambda: len(seeks()) >= 2, 30, what="a second seek")
        assert abs(seeks()[1] - float(first_line.get_attribute("data-start"))) < 0.25

        # The folder tree: open a folder, choose a recording, then a phrase search in it.
        browser.find_element(By.XPATH, "//summary[starts-with(., 'speeches')]").click()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".file[data-key='speeches/"
                                                               "jfk.flac']"), 30,
                 what="the folder's recordings")[0].click()
        wait_for(lambda: browser.find_element(By.ID, "transcript-title").text == JFK, 30,
                 what="the transcript of the chosen recording")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#lines .line")) == \
            len(transcribed.segments(JFK))
        box.clear()
        box.send_keys('"your country"', Keys.ENTER)
        wait_for(lambda: "your country" in browser.find_element(By.ID, "results-title").text,
                 30, what="the phrase's hits")
        latest = max(browser.find_elements(By.CSS_SELECTOR, "#hits .hit"),
                     key=lambda hit: float(hit.get_attribute("data-start")))
        target = float(latest.get_attribute("data-start"))
        assert target > 1.0
        latest.click()
        wait_for(lambda: len(seeks()) >= 3, 30, what="a third seek")
        assert abs(seeks()[2] - target) < 0.25

        wait_for(lambda: player("currentTime") > target + 0.5, 30, what="it to play")
        browser.execute_script(f"{PLAYER}.pause()")
        output = REPO / "test-output"
        output.mkdir(exist_ok=True)
        browser.save_screenshot(str(output / "transcripts-page.png"))

        # Listening is never interrupted by a reload (the status page refreshes; this one not).
        wait_for(lambda: time.monotonic() - loaded > REFRESH_SECONDS + 1, 30, what="time")
        assert browser.execute_script("return window.sameDocument") is True
        assert not browser.find_elements(By.CSS_SELECTOR, "meta[http-equiv=refresh]")


def test_in_chromium_a_link_to_a_hit_opens_at_that_moment_and_back_returns_to_the_search(
        transcribed: Transcribed, page: int, tmp_path: Path) -> None:
    reason = missing_browser()
    require(reason is None, str(reason))
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    said = transcribed.segment_with(JFK, "ask not")
    moment = round(said["start"] + 0.8, 2)  # inside the passage, not at its start
    link = (f"http://127.0.0.1:{page}/transcripts?"
            + urlencode({"q": "americans ask knot", "key": JFK, "t": moment}))

    def player(field: str):
        return browser.execute_script(f"return {PLAYER}.{field}")

    def restored() -> bool:
        return browser.execute_script("return document.body.dataset.restored === '1'")

    def hit_keys() -> list[str]:
        # Read in one script, in the page's own thread: back/forward re-render the hits when
        # their search answers, so elements found first may be gone by the time each one is
        # asked for its key (StaleElementReferenceException under load).
        return browser.execute_script(
            "return Array.from(document.querySelectorAll('#hits .hit'), h => h.dataset.key)")

    with headless_chromium(tmp_path / "profile") as browser:
        browser.get(link)
        wait_for(restored, 30, what="the link's state")
        hits = browser.find_elements(By.CSS_SELECTOR, "#hits .hit")
        assert [(hit.get_attribute("data-key"), hit.get_attribute("data-kind"))
                for hit in hits] == [(JFK, "sounds like")]
        assert "sounds like" in hits[0].find_element(By.CLASS_NAME, "kind").text
        assert browser.find_element(By.ID, "query").get_attribute("value") == \
            "americans ask knot"
        wait_for(lambda: player("readyState") >= 1 and abs(player("currentTime") - moment)
                 < 0.05, 30, what="the audio element ready at the linked moment")
        assert player("paused") is True  # ready there, not playing by itself
        chosen = browser.find_element(By.CSS_SELECTOR, "#lines .line.chosen")
        assert float(chosen.get_attribute("data-start")) == said["start"]
        assert "ask not" in chosen.text.lower()
        assert browser.find_element(By.ID, "transcript-title").text == JFK
        assert browser.find_element(By.ID, "transcript-language").text == "en"
        output = REPO / "test-output"  # the README's picture: docs/images/transcripts-link.png
        output.mkdir(exist_ok=True)
        browser.save_screenshot(str(output / "transcripts-link.png"))

        box = browser.find_element(By.ID, "query")
        box.clear()
        box.send_keys("netherlands", Keys.ENTER)
        wait_for(lambda: "q=netherlands" in browser.current_url, 30, what="a new address")
        assert "key=" not in browser.current_url
        browser.back()
        wait_for(lambda: box.get_attribute("value") == "americans ask knot", 30,
                 what="back to the first search")
        wait_for(lambda: hit_keys() == [JFK], 30, what="the first search's hits")
        assert abs(player("currentTime") - moment) < 0.05
        browser.forward()
        wait_for(lambda: box.get_attribute("value") == "netherlands", 30,
                 what="forward to the second search")
        wait_for(lambda: hit_keys() == [NETHERLANDS], 30, what="the second search's hits")
