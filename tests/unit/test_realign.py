"""Word times set again in the clips a retry was spliced into (realign.py)."""

from __future__ import annotations

import numpy as np
import pytest

from whisper_automation.transcription.realign import clips_to_realign, realigned
from whisper_automation.transcription.speech import SAMPLE_RATE, Segment, Speech, Word
from whisper_automation.transcription.windows import TimeMap


def word(text: str, start: float, end: float) -> Word:
    return Word(start=start, end=end, word=" " + text, probability=0.9)


def segment(*words: Word) -> Segment:
    return Segment(start=words[0].start, end=words[-1].end,
                   text="".join(w.word for w in words), words=list(words))


# Two clips of joined speech, 0-20 s and 20-40 s, cut from a recording at 100-120 s and
# 130-150 s (a 10 s silence between them left out).
SPEECH = Speech(np.zeros(40 * SAMPLE_RATE, dtype=np.float32), clips=[(0.0, 20.0), (20.0, 40.0)])
CLOCK = TimeMap(joined=[0.0, 20.0], original=[100.0, 130.0])


def shifted_by(seconds: float, calls: list):
    def align(audio: np.ndarray, groups: list[list[Word]], language: str):
        calls.append((len(audio) / SAMPLE_RATE, [[w.word for w in g] for g in groups],
                      [[(w.start, w.end) for w in g] for g in groups], language))
        return [[Word(start=w.start + seconds, end=w.end + seconds, word=w.word,
                      probability=w.probability) for w in g] for g in groups]
    return align


def test_only_the_clips_holding_a_spliced_stretch_are_aligned_again() -> None:
    assert clips_to_realign(SPEECH, CLOCK, [(135.0, 138.0)]) == [(20.0, 40.0)]
    assert clips_to_realign(SPEECH, CLOCK, [(118.0, 132.0)]) == [(0.0, 20.0), (20.0, 40.0)]
    assert clips_to_realign(SPEECH, CLOCK, []) == []


def test_the_clips_words_are_aligned_together_and_moved_back_onto_the_recording() -> None:
    first = segment(word("before", 104.0, 104.5))  # the other clip: untouched
    retried = segment(word("heard", 131.0, 131.5), word("again", 131.5, 132.0))
    late = segment(word("then", 134.0, 134.4), word("on", 134.4, 134.8))
    calls: list = []

    out = realigned([first, retried, late], SPEECH, CLOCK, (20.0, 40.0), "en",
                    shifted_by(-0.5, calls))

    # One alignment of the whole clip's text, on the clip's clock, one group per segment.
    assert calls == [(20.0, [[" heard", " again"], [" then", " on"]],
                      [[(1.0, 1.5), (1.5, 2.0)], [(4.0, 4.4), (4.4, 4.8)]], "en")]
    assert out[0] == first
    assert [(w.start, w.end) for w in out[2].words] == [(133.5, 133.9), (133.9, 134.3)]
    assert (out[2].start, out[2].end) == (133.5, 134.3)
    assert [w.word for s in out for w in s.words] == [" before", " heard", " again", " then",
                                                      " on"]


def test_a_segment_across_the_clips_edge_has_only_its_words_in_the_clip_moved() -> None:
    across = segment(word("end", 119.0, 119.6), word("start", 130.2, 130.8))
    out = realigned([across], SPEECH, CLOCK, (20.0, 40.0), "en", shifted_by(0.25, []))
    assert [(w.start, w.end) for w in out[0].words] == [(119.0, 119.6), (130.45, 131.05)]
    assert out[0].start == pytest.approx(119.0)


def test_the_first_passs_times_stay_where_the_aligner_declines() -> None:
    words = [segment(word("one", 131.0, 131.5), word("two", 132.0, 132.5))]
    assert realigned(words, SPEECH, CLOCK, (20.0, 40.0), "en", lambda *_: None) == words
    short = realigned(words, SPEECH, CLOCK, (20.0, 40.0), "en", lambda audio, groups, _: [[]])
    assert short == words
