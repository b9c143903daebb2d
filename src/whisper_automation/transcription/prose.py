"""A transcript as prose to read: a title, the recording's length and date, and paragraphs.

Subtitle formats keep one short line per segment; a reader wants paragraphs. A paragraph ends
where the speaker paused (TUNING.paragraph_pause_seconds between two segments) or, when a
reader goes on without pausing, at the first sentence end after TUNING.paragraph_max_words.
Each paragraph keeps its start time, so a passage of the book can be found in the recording.
Built from a done record's result alone: md and docx need no second transcription.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from whisper_automation.settings import TUNING
from whisper_automation.transcription.speech import Result, Segment

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


@dataclass(frozen=True)
class RecordingInfo:
    """What a document says about its recording besides the words."""

    key: str
    date: datetime.date | None = None  # when it was recorded (file time), else transcribed

    @property
    def title(self) -> str:
        name = self.key.rpartition("/")[2]
        stem = name.rpartition(".")[0] or name
        return re.sub(r"[_]+", " ", stem).strip() or name

    @classmethod
    def from_record(cls, record: dict) -> RecordingInfo:
        """From a done record: the file's modification time where the source has one (folders),
        else when it was transcribed (S3 gives no recording time)."""
        mtime_ns = int((record.get("version") or {}).get("mtime_ns") or 0)
        seconds = mtime_ns / 1e9 if mtime_ns else record.get("finished_at")
        return cls(key=str(record.get("key", "")), date=_date(seconds))


@dataclass(frozen=True)
class Paragraph:
    start: float
    text: str


@dataclass(frozen=True)
class Prose:
    info: RecordingInfo
    duration: float
    language: str  # "" where not known
    paragraphs: tuple[Paragraph, ...]

    @property
    def details(self) -> str:
        """'Length 5:12 · 2024-05-01 · en': the line under the title."""
        parts = [f"Length {clock(self.duration)}"]
        if self.info.date is not None:
            parts.append(self.info.date.isoformat())
        if self.language:
            parts.append(self.language)
        return " · ".join(parts)


def to_prose(result: Result, info: RecordingInfo) -> Prose:
    return Prose(info, result.duration, result.language, tuple(paragraphs(result.segments)))


def paragraphs(segments: list[Segment]) -> list[Paragraph]:
    found: list[Paragraph] = []
    texts: list[str] = []
    start = last_end = 0.0
    for segment in segments:
        text = segment.text.strip()
        if not text:
            continue
        if texts and _breaks(texts, segment.start - last_end):
            found.append(Paragraph(start, " ".join(texts)))
            texts = []
        if not texts:
            start = segment.start
        texts.append(text)
        last_end = segment.end
    if texts:
        found.append(Paragraph(start, " ".join(texts)))
    return found


def _breaks(texts: list[str], pause: float) -> bool:
    if pause >= TUNING.paragraph_pause_seconds:
        return True
    long_enough = sum(len(text.split()) for text in texts) >= TUNING.paragraph_max_words
    return long_enough and bool(_SENTENCE_END.search(texts[-1]))


def clock(seconds: float) -> str:
    """65 -> '1:05', 3725 -> '1:02:05': a reader's time, whole seconds."""
    minutes, secs = divmod(int(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _date(seconds: object) -> datetime.date | None:
    try:
        return datetime.datetime.fromtimestamp(float(seconds)).date()  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None
