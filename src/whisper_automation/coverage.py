"""Speech the transcript does not cover: the VAD heard someone speak, and no word is there.

Whisper sometimes skips a passage outright (measured: the first 20 s of a story reading came out
as just "CHAPTER VI", and the batched pipeline dropped 40 words in another), and nothing in its
output says so. Word timestamps tell where every transcribed word was spoken; the VAD's regions
tell where speech was. Speech with no word near it for WA_RECOVER_SECONDS or more is a gap: the
pipeline transcribes it again on its own, and whatever stays uncovered is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .windows import Region

WORD_SLACK_SECONDS = 0.5  # word timings are approximate: a word covers this much either side
# An alignment gone astray can stretch one word over many seconds of speech it does not
# contain; a spoken word rarely lasts longer than this, so that is all it covers.
MAX_WORD_SECONDS = 2.0


@dataclass
class Gap:
    """Consecutive speech with no word: its pieces (inside speech regions) and their total."""

    pieces: list[Region] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.pieces[0][0]

    @property
    def end(self) -> float:
        return self.pieces[-1][1]

    @property
    def speech_seconds(self) -> float:
        return sum(end - start for start, end in self.pieces)


def covered_spans(segments: list[dict]) -> list[Region]:
    """Where the transcript has words, merged and sorted. A segment without word timings
    covers its whole span."""
    spans: list[Region] = []
    for segment in segments:
        words = segment.get("words") or []
        if not words:
            spans.append((segment["start"], segment["end"]))
        for word in words:
            end = min(word["end"], word["start"] + MAX_WORD_SECONDS)
            spans.append((word["start"] - WORD_SLACK_SECONDS, end + WORD_SLACK_SECONDS))
    return merge(spans)


def merge(spans: list[Region]) -> list[Region]:
    merged: list[Region] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def find_gaps(regions: list[Region], covered: list[Region], min_seconds: float) -> list[Gap]:
    """Speech in `regions` outside `covered`, grouped into gaps (pieces with no covered span
    between them), keeping those with at least `min_seconds` of speech."""
    gaps: list[Gap] = []
    current = Gap()
    covered = merge(covered)
    for piece in _subtract(regions, covered):
        if current.pieces and _any_between(covered, current.end, piece[0]):
            gaps.append(current)
            current = Gap()
        current.pieces.append(piece)
    if current.pieces:
        gaps.append(current)
    return [gap for gap in gaps if gap.speech_seconds >= min_seconds]


def _subtract(regions: list[Region], covered: list[Region]) -> list[Region]:
    pieces: list[Region] = []
    for start, end in sorted(regions):
        cursor = start
        for covered_start, covered_end in covered:
            if covered_end <= cursor or covered_start >= end:
                continue
            if covered_start > cursor:
                pieces.append((cursor, covered_start))
            cursor = max(cursor, covered_end)
        if cursor < end:
            pieces.append((cursor, end))
    return pieces


def _any_between(covered: list[Region], start: float, end: float) -> bool:
    return any(span_start < end and span_end > start for span_start, span_end in covered)


def words_inside(segments: list[dict], start: float, end: float) -> list[dict]:
    """The segments cut down to the words whose middle lies in [start, end) (segments without
    word timings by their own middle): what a recovery pass adds, nothing it repeats."""
    kept: list[dict] = []
    for segment in segments:
        words = segment.get("words")
        if not words:
            if start <= (segment["start"] + segment["end"]) / 2 < end:
                kept.append(segment)
            continue
        inside = [word for word in words if start <= (word["start"] + word["end"]) / 2 < end]
        if inside:
            kept.append(dict(segment, start=inside[0]["start"], end=inside[-1]["end"],
                             text="".join(word["word"] for word in inside), words=inside))
    return kept
