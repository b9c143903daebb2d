"""Transcript writers: txt, vtt, srt, tsv and json, byte for byte as openai-whisper's CLI writes
them (segment level; json is the Result's dict); md and docx, prose to read (prose.py,
prose_formats.py).
The subtitle formats are written here rather than imported because `whisper.utils` imports torch
through `whisper/__init__.py`, and a faster-whisper worker must stay free of torch.
A unit test compares every format with openai-whisper's own writers.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from whisper_automation.transcription.prose import RecordingInfo, to_prose
from whisper_automation.transcription.prose_formats import render_docx, render_markdown
from whisper_automation.transcription.speech import Result, Segment


def format_timestamp(seconds: float, always_include_hours: bool = False,
                     decimal_marker: str = ".") -> str:
    milliseconds = round(max(seconds, 0.0) * 1000.0)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    whole_seconds, milliseconds = divmod(milliseconds, 1_000)
    hours_marker = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_marker}{minutes:02d}:{whole_seconds:02d}{decimal_marker}{milliseconds:03d}"


def _cue_text(segment: Segment) -> str:
    return segment.text.strip().replace("-->", "->")


def render_txt(result: Result) -> str:
    return "".join(segment.text.strip() + "\n" for segment in result.segments)


def render_vtt(result: Result) -> str:
    cues = [f"{format_timestamp(s.start)} --> {format_timestamp(s.end)}\n{_cue_text(s)}\n\n"
            for s in result.segments]
    return "WEBVTT\n\n" + "".join(cues)


def render_srt(result: Result) -> str:
    def stamp(seconds: float) -> str:
        return format_timestamp(seconds, always_include_hours=True, decimal_marker=",")

    return "".join(f"{index}\n{stamp(s.start)} --> {stamp(s.end)}\n{_cue_text(s)}\n\n"
                   for index, s in enumerate(result.segments, start=1))


def render_tsv(result: Result) -> str:
    lines = ["start\tend\ttext\n"]
    for segment in result.segments:
        text = segment.text.strip().replace("\t", " ")
        lines.append(f"{round(1000 * segment.start)}\t{round(1000 * segment.end)}\t{text}\n")
    return "".join(lines)


def render_json(result: Result) -> str:
    return json.dumps(result.to_dict())


RENDERERS: dict[str, Callable[[Result], str]] = {
    "txt": render_txt,
    "vtt": render_vtt,
    "srt": render_srt,
    "tsv": render_tsv,
    "json": render_json,
}


def render(result: Result, fmt: str, info: RecordingInfo | None = None) -> bytes:
    """One format of a transcript. md and docx also say what the recording is (`info`: its
    name and date); without it they are titled 'transcript'."""
    if fmt == "md":
        return render_markdown(to_prose(result, info or RecordingInfo("transcript"))) \
            .encode("utf-8")
    if fmt == "docx":
        return render_docx(to_prose(result, info or RecordingInfo("transcript")))
    return RENDERERS[fmt](result).encode("utf-8")
