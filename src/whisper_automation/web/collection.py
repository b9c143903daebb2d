"""A collection: every transcribed recording of a folder (and its subfolders) as one document,
in name order, e.g. all the stories of one year as the draft of a book.

Read from the done records alone (nothing is transcribed). Name order is natural order
("story 2" before "story 10"): that is how a person numbers chapters, and how a file manager
sorts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from whisper_automation.storage.base import Storage
from whisper_automation.storage.records import latest_done, read_done, record_result
from whisper_automation.transcription.prose import Prose, RecordingInfo, to_prose
from whisper_automation.transcription.prose_formats import (
    render_docx_collection,
    render_markdown_collection,
)
from whisper_automation.web.searchindex import folder_prefix

COLLECTION_FORMATS = ("md", "docx")


def natural_order(key: str) -> list[tuple[int, int | str]]:
    """Sort key: digits compare as numbers, the rest case-insensitively."""
    return [(0, int(part)) if part.isdigit() else (1, part.casefold())
            for part in re.split(r"(\d+)", key) if part]


def gather(destination: Storage, folder: str) -> list[Prose]:
    """The prose of every done recording under `folder` ("" = all), in name order."""
    prefix = folder_prefix(folder)
    listing = latest_done(destination)
    chapters = []
    for key in sorted((key for key in listing if key.startswith(prefix)), key=natural_order):
        record = read_done(destination, key, listing[key])
        if record and record.get("result"):
            chapters.append(to_prose(record_result(record), RecordingInfo.from_record(record)))
    return chapters


def collection_title(folder: str) -> str:
    return folder.strip("/").rpartition("/")[2] or "Transcripts"


def write_collection(chapters: list[Prose], title: str, output: Path,
                     formats: Iterable[str]) -> list[Path]:
    """Write `output`.md and/or `output`.docx; the paths written."""
    written = []
    for fmt in formats:
        path = output.with_name(f"{output.name}.{fmt}")
        if fmt == "md":
            path.write_text(render_markdown_collection(title, chapters), encoding="utf-8")
        else:
            path.write_bytes(render_docx_collection(title, chapters))
        written.append(path)
    return written
