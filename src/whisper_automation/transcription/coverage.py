"""Speech the transcript does not cover: the VAD heard someone speak, and no word is there.

Whisper sometimes skips a passage outright (measured: the first 20 s of a story reading came out
as just "CHAPTER VI", and the batched pipeline dropped 40 words in another), and nothing in its
output says so. Word timestamps tell where every transcribed word was spoken; the VAD's regions
tell where speech was. Speech with no word near it for WA_RECOVER_SECONDS or more is a gap: the
pipeline transcribes it again on its own, and whatever stays uncovered is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import groupby, pairwise

from whisper_automation.transcription.speech import Segment, Word
from whisper_automation.transcription.windows import Region

WORD_SLACK_SECONDS = 0.3  # word timings are approximate: a word covers this much either side
# An alignment gone astray stretches a word over seconds of speech it does not contain (seen:
# "a" lasting 3.2 s over the 7 words Whisper skipped after it). A spoken word rarely lasts
# longer than about this, so that is all it covers, from where it starts.
WORD_BASE_SECONDS = 0.35
WORD_SECONDS_PER_LETTER = 0.12
# Whisper sometimes writes on past the speech it was given: at the end of its 30 s input it
# repeats the text before it or finishes the sentence it was cut in (openai-whisper on Jerome's
# reading: 29 words of the passage before, written again after "And then we all"). The word
# alignment finds no audio for such words and gives each of them no time at all. A spoken word
# gets at least one 20 ms frame; a lone word at a clip's edge may be squeezed to nothing, and
# two in a row were seen, never three (about 25,000 words of faster-whisper's on the corpus).
UNHEARD_RUN_WORDS = 3
# Shorter than this, a "word" is an anomaly in openai-whisper's test for hallucinations.
SHORTEST_WORD_SECONDS = 0.133
# Speech regions this far apart are two utterances (the VAD parts regions at silences of 2 s;
# a region it split at 30 s follows its neighbour at once).
UTTERANCE_PAUSE_SECONDS = 1.0
# Where the VAD split continuous speech at 30 s, the split often falls inside a phrase, and
# Whisper, for whom the end of its input is the end of the recording, may drop the words on
# both sides of it (measured on the benchmark's harder Jerome: "all except the curate that is",
# 1.5 s of speech, lost across such a cut, below WA_RECOVER_SECONDS; with base, "and..." at the
# cut and the next 1.9 s skipped). Skipped speech across a cut, or beginning or ending within
# CUT_REACH_SECONDS of one, is retried from CUT_GAP_SECONDS.
CUT_GAP_SECONDS = 1.0
CUT_REACH_SECONDS = 1.0
# A retry of skipped speech may hear, in the gap, words the first pass wrote beside it: the
# alignment had put them over the speech next to the gap (measured: the evening's "Chapter 26
# of the Crimson Fairy Book.", heard by the batched first pass at the clip's start, aligned
# over the 11 words of the story's opening 20 s later). A run of this many of the retry's
# words, starting within COPY_SEARCH_WORDS of the gap, marks such a copy.
COPY_RUN_WORDS = 3
COPY_SEARCH_WORDS = 3


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


def covered_spans(segments: list[Segment]) -> list[Region]:
    """Where the transcript has words, merged and sorted. A segment without word timings
    covers its whole span."""
    spans: list[Region] = []
    for segment in segments:
        if not segment.words:
            spans.append((segment.start, segment.end))
        for word in segment.words:
            end = min(word.end, word.start + plausible_seconds(word.word))
            spans.append((word.start - WORD_SLACK_SECONDS, end + WORD_SLACK_SECONDS))
    return merge(spans)


def plausible_seconds(word: str) -> float:
    """About the longest a reader takes to say this word."""
    letters = sum(character.isalnum() for character in word)
    return WORD_BASE_SECONDS + WORD_SECONDS_PER_LETTER * max(1, letters)


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


def speech_cuts(regions: list[Region]) -> list[float]:
    """Where the VAD parted continuous speech (its 30 s split): the middle between two regions
    less than UTTERANCE_PAUSE_SECONDS apart."""
    ordered = sorted(regions)
    return [(end + start) / 2 for (_, end), (start, _) in pairwise(ordered)
            if start - end < UTTERANCE_PAUSE_SECONDS]


def spans_cut(gap: Gap, cuts: list[float]) -> bool:
    """Whether the gap lies across a cut or begins or ends within CUT_REACH_SECONDS of one (the
    word Whisper wrote at the cut may be a guess, "and...", covering the cut itself)."""
    return any(gap.start - CUT_REACH_SECONDS <= cut <= gap.end + CUT_REACH_SECONDS
               for cut in cuts)


def utterances(gap: Gap, min_seconds: float) -> list[Gap]:
    """A gap parted where its speech pauses for UTTERANCE_PAUSE_SECONDS or more, each part with
    at least `min_seconds` of speech (a shorter part stays joined to its neighbour).

    Joined, two utterances lose the pause between them (the speech is joined end to end): the
    end of one chapter runs into the LibriVox preamble of the next, and Whisper, retrying
    both at once, heard a few words of them ("CHAPTER 26 Once.") or, sampling after that,
    words nobody said ("CHAPTER XXIX"). Alone, each is heard as the preamble at the start of a
    recording is: whole."""
    parts = [Gap([gap.pieces[0]])]
    for piece in gap.pieces[1:]:
        last = parts[-1]
        if piece[0] - last.end >= UTTERANCE_PAUSE_SECONDS and last.speech_seconds >= min_seconds:
            parts.append(Gap([piece]))
        else:
            last.pieces.append(piece)
    if len(parts) > 1 and parts[-1].speech_seconds < min_seconds:
        parts[-2].pieces.extend(parts.pop().pieces)
    return parts


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


def is_stretched(word: Word) -> bool:
    return word.end - word.start > plausible_seconds(word.word)


def widen(start: float, end: float, segments: list[Segment]) -> Region:
    """A gap grown over the stretched words that border it: such a word's timing is wrong, and
    the speech Whisper skipped usually lies under it as much as in the gap itself."""
    words = sorted((word for segment in segments for word in segment.words),
                   key=lambda word: word.start)
    before = [word for word in words if word.start < start]
    while before and is_stretched(before[-1]):
        start = min(start, before.pop().start)
    after = [word for word in words if word.end > end and word.start >= start]
    for word in after:
        if not is_stretched(word):
            break
        end = max(end, word.end)
    return start, end


def words_inside(segments: list[Segment], start: float, end: float, keep: bool = True
                 ) -> list[Segment]:
    """The segments cut down to the words that sit in [start, end) (segments without word
    timings by their own middle); with keep=False, to the words outside instead, a segment
    with words on both sides split in two, so that words put into the stretch sort between
    the two parts by time."""
    def part(position: float, _: Word | None) -> int | None:
        side = -1 if position < start else (1 if position >= end else 0)
        return side if (side == 0) == keep else None

    return words_where(segments, part)


def retried_words(retry: list[Segment], first: list[Segment], start: float, end: float
                  ) -> list[Segment]:
    """The words a retry of the skipped stretch [start, end) adds: those that sit inside it,
    and those within WORD_SLACK_SECONDS of it that no word of the first pass outside it says.

    A gap begins WORD_SLACK_SECONDS after the last word written before it and ends as long
    before the next one, and the retry hears that slack too. A word said right after the last
    written one sits in the slack ("book" after "printed", the first word of a phrase the VAD
    parted at 30 s): kept by the gap alone, it was dropped although the first pass had not
    written it either. A word given no time there is not taken: Whisper wrote it on past the
    speech it was given (" clips." after a LibriVox credit, on the harder Dickinson)."""
    written = [word for segment in first for word in segment.words
               if not start <= word_position(word) < end]

    def adds(position: float, word: Word | None) -> int | None:
        if start <= position < end:
            return 0
        near = start - WORD_SLACK_SECONDS <= position < end + WORD_SLACK_SECONDS
        if (near and word is not None and word.end > word.start
                and not any(says_again(word, other) for other in written)):
            return 0
        return None

    return words_where(retry, adds)


def misplaced_copies(segments: list[Segment], heard: list[Segment], start: float, end: float
                     ) -> list[Region]:
    """Where the words just after (before) the retried stretch [start, end) repeat a run of
    the words its retry heard (`heard`, spliced into `segments`): from the stretch's edge to
    the far end of the repeated run. Such words may be the very words the retry found in the
    gap, put beside it by the alignment, over speech of their own; or a reader's repetition
    (a poem's title, then its first line), though then the alignment has seldom gone astray.
    Transcribing the span again tells them apart."""
    said = [_spelled(word) for segment in heard for word in segment.words]
    own = {id(word) for segment in heard for word in segment.words}
    words = sorted((word for segment in segments for word in segment.words
                    if id(word) not in own), key=lambda word: word.start)
    after = [word for word in words if word_position(word) >= end]
    before = [word for word in reversed(words) if word_position(word) < start]
    spans = []
    run = _repeated_run(after, said)
    if run:
        spans.append((end, run[-1].end))
    run = _repeated_run(before, said[::-1])
    if run:
        spans.append((run[-1].start, start))
    return spans


def orphaned_neighbours(segments: list[Segment], heard: list[Segment], start: float,
                        end: float) -> list[Word]:
    """The first pass's words just before (after) the retried stretch [start, end) that begin
    (end) a phrase whose other words the first pass put inside the stretch, where the retry
    (`heard`) wrote that phrase only further off: the words belong with the rest of their
    phrase, which the retry has written. They run from the stretch's edge for as long as they go
    on with the phrase as the retry wrote it.

    Seen on an AMD Zen 2 (docs/benchmarks.md, "The same words again"): a batched clip whose
    prompt ended on its two opening sentences skipped them; its first words after them,
    "printing in the", were aligned back over the skipped speech, "printing" just before it
    and "in the" stretched across it. The retry heard the two sentences, then "printing in
    the" 7 s on, where it was said, and the first pass's "printing" stayed too: written twice.
    With base, on the evening: "End of" stretched to a stretch's end, then "chapter 26",
    30 s after the retry heard "end of Chapter 26." where it was said. A phrase said twice is
    not taken for this: the retry then hears its words inside the stretch too, where the
    first pass put them."""
    inside = _sorted_words(words_inside(segments, start, end))
    outside = _sorted_words(words_inside(segments, start, end, keep=False))
    rest = COPY_RUN_WORDS - 1
    if len(inside) < rest:
        return []
    retried = _sorted_words(heard)
    said = [_spelled(word) for word in retried]
    before = [word for word in outside if word_position(word) < start][::-1]
    after = [word for word in outside if word_position(word) >= end]
    tail = [_spelled(word) for word in inside[:rest]]
    head = [_spelled(word) for word in inside[-rest:]]
    # Each place the retry wrote the phrase's inside words must be the phrase, away from the
    # stretch; the shortest run any of them allows is taken.
    orphans_before = [_went_on(before, retried[:index][::-1]) for index in _occurrences(said, tail)]
    orphans_after = [_went_on(after, retried[index + rest:]) for index in _occurrences(said, head)]
    return [*min(orphans_before, key=len, default=[]), *min(orphans_after, key=len, default=[])]


def _went_on(words: list[Word], retried: list[Word]) -> list[Word]:
    """The leading words of `words` (outward from the stretch) that `retried` (outward from
    the phrase's inside words, as the retry wrote them) says in the same order, each at least
    WORD_SLACK_SECONDS away from where the first pass put it."""
    run: list[Word] = []
    for word, other in zip(words, retried, strict=False):
        apart = max(other.start - word.end, word.start - other.end)
        if _spelled(word) != _spelled(other) or apart <= WORD_SLACK_SECONDS:
            break
        run.append(word)
    return run


def without_words(segments: list[Segment], words: list[Word]) -> list[Segment]:
    """The segments without these words (by identity)."""
    dropped = {id(word) for word in words}
    return words_where(segments, lambda _, word: None if id(word) in dropped else 0)


def _sorted_words(segments: list[Segment]) -> list[Word]:
    return sorted((word for segment in segments for word in segment.words),
                  key=lambda word: word.start)


def _occurrences(sequence: list[str], run: list[str]) -> list[int]:
    return [index for index in range(len(sequence) - len(run) + 1)
            if sequence[index:index + len(run)] == run]


def _repeated_run(words: list[Word], said: list[str]) -> list[Word]:
    """The words up to the end of the first run of COPY_RUN_WORDS or more of them, starting
    within the first COPY_SEARCH_WORDS, that `said` holds in the same order, and in which the
    alignment went astray (a word stretched, or given no time: it found no place for it where
    it was put); [] if none."""
    for first in range(min(COPY_SEARCH_WORDS, len(words))):
        length = 0
        while first + length < len(words) and _holds(
                said, [_spelled(word) for word in words[first:first + length + 1]]):
            length += 1
        run = words[first:first + length]
        if length >= COPY_RUN_WORDS and any(is_stretched(word) or word.end <= word.start
                                            for word in run):
            return words[:first + length]
    return []


def _holds(sequence: list[str], run: list[str]) -> bool:
    return any(sequence[index:index + len(run)] == run
               for index in range(len(sequence) - len(run) + 1))


def says_again(word: Word, other: Word) -> bool:
    """Whether `word` (a retry's) is `other` (the first pass's) written again: spelled alike
    (the same, or beginning with the same three letters: "predecessor" and "predecessors")
    within WORD_SLACK_SECONDS of where `other` was said. Not by time alone: two decodes' times
    for neighbouring words overlap ("hut." and "which", both at 822.8 s, on the evening)."""
    spelled, other_spelled = _spelled(word), _spelled(other)
    alike = spelled == other_spelled or (
        min(len(spelled), len(other_spelled)) >= 3 and spelled[:3] == other_spelled[:3])
    return alike and (other.start - WORD_SLACK_SECONDS <= word_position(word)
                      <= other.end + WORD_SLACK_SECONDS)


def _spelled(word: Word) -> str:
    return "".join(character for character in word.word.lower() if character.isalnum())


def words_where(segments: list[Segment], part: Callable[[float, Word | None], int | None]
                 ) -> list[Segment]:
    """The segments cut into runs of consecutive words that `part(word_position(word), word)`
    puts in the same part, the runs it puts in none (None) dropped (a segment without word
    timings goes by `part(its middle, None)`)."""
    kept: list[Segment] = []
    for segment in segments:
        words = segment.words
        if not words:
            if part((segment.start + segment.end) / 2, None) is not None:
                kept.append(segment)
            continue
        runs = [list(run) for label, run in groupby(
            words, key=lambda word: part(word_position(word), word)) if label is not None]
        if len(runs) == 1 and len(runs[0]) == len(words):
            kept.append(segment)
            continue
        kept += [replace(segment, start=run[0].start, end=run[-1].end,
                         text="".join(word.word for word in run), words=run) for run in runs]
    return kept


def word_position(word: Word) -> float:
    """Where a word sits: the middle of the time a reader takes to say it from its start. A
    stretched word (its alignment gone astray over speech it does not contain) sits near its
    start, not in the middle of that speech, which is what a retry of the gap hears."""
    return word.start + min(word.end - word.start, plausible_seconds(word.word)) / 2


def without_unheard_words(segments: list[Segment]) -> tuple[list[Segment], int]:
    """The segments without the runs of UNHEARD_RUN_WORDS or more consecutive words that the
    alignment gave no time (text Whisper wrote with no audio under it), and how many words were
    dropped. Speech they may have stood for is left without words, so the retry of skipped
    speech hears it again: nothing is lost by dropping them."""
    words = [word for segment in segments for word in segment.words]
    unheard = {id(word) for run in _runs_without_time(words)
               if len(run) >= UNHEARD_RUN_WORDS for word in run}
    if not unheard:
        return segments, 0
    kept: list[Segment] = []
    for segment in segments:
        heard = [word for word in segment.words if id(word) not in unheard]
        if len(heard) == len(segment.words):
            kept.append(segment)
        elif heard:
            kept.append(replace(segment, start=heard[0].start, end=heard[-1].end,
                                text="".join(word.word for word in heard), words=heard))
    return kept, len(unheard)


def without_end_filler(segments: list[Segment]) -> tuple[list[Segment], int]:
    """The segments without those at their end squeezed into less time than their words could
    be said in, and how many words were dropped: at the end of its input Whisper may add a
    filler it was trained on, "Thank you.", timed into the last 40 ms (measured: the suite's
    seam test, at the recording's end), or a lone full stop. A window's end inside a recording
    is handed back to the next window (resume_point); this is for the recording's own end."""
    kept = list(segments)
    dropped = 0
    while kept and kept[-1].words and is_squeezed(kept[-1]):
        dropped += len(kept.pop().words)
    return kept, dropped


def is_squeezed(segment: Segment) -> bool:
    """Whether the segment's words (punctuation aside) last under SHORTEST_WORD_SECONDS each
    on average: no one says a word that fast. Not Whisper's own hallucination score (its
    probabilities and short words), which on the noisy Jerome called the last 113 words of a
    real reading hallucinated."""
    spoken = [word for word in segment.words if _spelled(word)]
    seconds = sum(word.end - word.start for word in spoken)
    return seconds < SHORTEST_WORD_SECONDS * len(spoken) or not spoken


def _runs_without_time(words: list[Word]) -> list[list[Word]]:
    return [list(run) for untimed, run in groupby(words, key=lambda word: word.end <= word.start)
            if untimed]


def count_words(segments: list[Segment]) -> int:
    return sum(len(segment.words or segment.text.split()) for segment in segments)
