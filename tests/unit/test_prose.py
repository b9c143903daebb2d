"""md and docx: prose rendered from a done record (paragraphs at pauses, each with its start
time, a title from the recording's name, its length and date), read back with their own
readers (markdown-it-py, python-docx); a collection of a folder in name order."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import docx
from click.testing import CliRunner
from markdown_it import MarkdownIt

from tests.support.done_records import finish
from whisper_automation.cli import main
from whisper_automation.transcription.prose import RecordingInfo, paragraphs, to_prose
from whisper_automation.transcription.speech import Result, Segment
from whisper_automation.transcription.writers import render

# Punctuation Markdown would take for syntax, and a pause of 3 s before the third segment.
STORY = [(0.0, 2.0, "Once upon a time *three* bears_lived in [a] house <by> the #woods."),
         (2.1, 4.0, "They ate porridge & honey, 2 bowls `each`."),
         (7.0, 9.5, "Then Goldilocks came!"),
         (9.6, 12.0, "She sat down.")]
SEGMENTS = [Segment(start=s, end=e, text=" " + t, words=[]) for s, e, t in STORY]
RESULT = Result(text="".join(segment.text for segment in SEGMENTS), segments=SEGMENTS,
                language="en", duration=12.0)
INFO = RecordingInfo("stories/2024/goldilocks_and_the_bears.mp3")


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def test_paragraphs_break_at_long_pauses_and_keep_their_start() -> None:
    found = paragraphs(RESULT.segments)
    assert [(p.start, words(p.text)) for p in found] == [
        (0.0, words(STORY[0][2] + " " + STORY[1][2])), (7.0, words(STORY[2][2] + STORY[3][2]))]


def test_a_long_unbroken_reading_breaks_at_a_sentence_end() -> None:
    sentence = "word " * 30 + "ends here."
    segments = [Segment(start=float(n), end=n + 1.0, text=sentence, words=[])
                for n in range(12)]
    found = paragraphs(segments)
    assert 1 < len(found) < 12
    assert all(p.text.endswith("ends here.") for p in found)


def markdown_text(source: str) -> tuple[list[str], list[str]]:
    """(headings, paragraphs) as a Markdown reader sees them, inline markup removed."""
    tokens = MarkdownIt().parse(source)
    headings, texts = [], []
    for opening, inline in itertools.pairwise(tokens):
        if inline.type != "inline":
            continue
        plain = "".join(child.content for child in inline.children
                        if child.type in ("text", "code_inline"))
        (headings if opening.type == "heading_open" else texts).append(plain)
    return headings, texts


def test_markdown_reads_back_as_title_details_and_every_word_in_order() -> None:
    source = render(RESULT, "md", INFO).decode("utf-8")
    headings, texts = markdown_text(source)
    assert headings == ["goldilocks and the bears"]
    assert texts[0] == "Length 0:12 · en"
    assert texts[1].startswith("[0:00] Once upon a time *three* bears_lived in [a] house <by>")
    assert texts[2].startswith("[0:07] Then Goldilocks")
    spoken = [re.sub(r"^\[\d+:\d\d\] ", "", text) for text in texts[1:]]
    assert words(" ".join(spoken)) == words(" ".join(text for _, _, text in STORY))


def test_docx_reads_back_with_python_docx_holding_every_word_in_order() -> None:
    document = docx.Document(io.BytesIO(render(RESULT, "docx", INFO)))
    texts = [p.text for p in document.paragraphs if p.text]
    assert texts[0] == "goldilocks and the bears"
    assert document.paragraphs[0].style.name == "Title"
    assert texts[1] == "Length 0:12 · en"
    assert [t.split("]")[0] + "]" for t in texts[2:]] == ["[0:00]", "[0:07]"]
    spoken = [re.sub(r"^\[\d+:\d\d\] ", "", text) for text in texts[2:]]
    assert words(" ".join(spoken)) == words(" ".join(text for _, _, text in STORY))
    assert document.core_properties.title == "goldilocks and the bears"


def test_the_date_is_the_recordings_file_time_else_when_it_was_transcribed() -> None:
    recorded = RecordingInfo.from_record({"key": "a.mp3", "version": {"mtime_ns": 1.7e18}})
    assert recorded.date.isoformat() == "2023-11-14"
    transcribed = RecordingInfo.from_record({"key": "a.mp3", "version": {"etag": "x"},
                                             "finished_at": 1.6e9})
    assert transcribed.date.isoformat() == "2020-09-13"
    assert "2023-11-14" in to_prose(RESULT, recorded).details


def test_a_collection_gathers_a_folders_recordings_in_name_order(tmp_path: Path) -> None:
    destination = tmp_path / "transcripts"
    from whisper_automation.storage.base import LocalStorage

    storage = LocalStorage(destination)
    for name, line in (("story 10.mp3", "the tenth tale"), ("story 2.mp3", "the second tale"),
                       ("deep/story 1.mp3", "the first tale")):
        finish(storage, f"2024/{name}", [(0.0, 2.0, line)])
    finish(storage, "2023/other.mp3", [(0.0, 2.0, "not in this year")])

    result = CliRunner().invoke(main, ["collect", str(destination), "2024",
                                       "--output", str(tmp_path / "book")])
    assert result.exit_code == 0, result.output

    headings, texts = markdown_text((tmp_path / "book.md").read_text(encoding="utf-8"))
    assert headings == ["2024", "story 1", "story 2", "story 10"]
    assert [t for t in texts if "tale" in t or "year" in t] == \
        ["[0:00] the first tale", "[0:00] the second tale", "[0:00] the tenth tale"]
    book = docx.Document(str(tmp_path / "book.docx"))
    chapters = [p.text for p in book.paragraphs if p.style.name == "Heading 1"]
    assert chapters == ["story 1", "story 2", "story 10"]
    assert book.paragraphs[0].text == "2024"


def test_collecting_an_empty_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "transcripts").mkdir()
    result = CliRunner().invoke(main, ["collect", str(tmp_path / "transcripts"), "none"])
    assert result.exit_code != 0
    assert "no transcribed recordings" in result.output
