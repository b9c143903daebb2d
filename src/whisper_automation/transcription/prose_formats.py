"""Prose written out: Markdown and DOCX, for one recording or a collection of them (a book).

One recording: its title as the document's heading. A collection: the folder's name as the
heading, then each recording as a chapter (its own heading, length and date, paragraphs), in
the order given. DOCX through python-docx; each chapter of a collection starts on a new page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

from whisper_automation.transcription.prose import Prose, clock

# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that could
# otherwise start emphasis, a link, code, HTML or an entity inside transcribed words.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&~|#!])")


def escape_markdown(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _markdown_chapter(prose: Prose, level: int) -> list[str]:
    lines = [f"{'#' * level} {escape_markdown(prose.info.title)}", ""]
    if prose.details:
        lines += [f"*{escape_markdown(prose.details)}*", ""]
    for paragraph in prose.paragraphs:
        lines += [f"**[{clock(paragraph.start)}]** {escape_markdown(paragraph.text)}", ""]
    return lines


def render_markdown(prose: Prose) -> str:
    return "\n".join(_markdown_chapter(prose, 1))


def render_markdown_collection(title: str, chapters: Sequence[Prose]) -> str:
    lines = [f"# {escape_markdown(title)}", ""]
    for chapter in chapters:
        lines += _markdown_chapter(chapter, 2)
    return "\n".join(lines)


def _docx_chapter(document, prose: Prose, level: int) -> None:
    document.add_heading(prose.info.title, level)
    if prose.details:
        document.add_paragraph().add_run(prose.details).italic = True
    for paragraph in prose.paragraphs:
        written = document.add_paragraph()
        written.add_run(f"[{clock(paragraph.start)}]").bold = True
        written.add_run(" " + paragraph.text)


def _docx_bytes(document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def render_docx(prose: Prose) -> bytes:
    import docx  # imported here: only docx output pays for loading it

    document = docx.Document()
    document.core_properties.title = prose.info.title
    _docx_chapter(document, prose, 0)
    return _docx_bytes(document)


def render_docx_collection(title: str, chapters: Sequence[Prose]) -> bytes:
    import docx
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, 0)
    for number, chapter in enumerate(chapters):
        if number:
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        _docx_chapter(document, chapter, 1)
    return _docx_bytes(document)
