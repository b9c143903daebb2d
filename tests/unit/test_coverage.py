"""Coverage: speech the VAD heard that no transcribed word covers."""

from __future__ import annotations

import pytest

from whisper_automation.coverage import covered_spans, find_gaps, words_inside


def word(text: str, start: float, end: float) -> dict:
    return {"word": " " + text, "start": start, "end": end, "probability": 0.9}


def segment(*words: dict) -> dict:
    return {"start": words[0]["start"], "end": words[-1]["end"],
            "text": "".join(w["word"] for w in words), "words": list(words)}


def test_speech_before_the_first_word_is_a_gap() -> None:
    covered = covered_spans([segment(word("chapter", 20.5, 21.0), word("six", 21.0, 21.5))])
    gaps = find_gaps([(0.0, 26.0)], covered, min_seconds=5.0)
    assert len(gaps) == 1
    assert gaps[0].start == 0.0
    assert gaps[0].end == pytest.approx(20.0)  # half a second of slack before the word
    assert gaps[0].speech_seconds == pytest.approx(20.0)


def test_a_word_stretched_over_many_seconds_covers_only_a_spoken_words_length() -> None:
    # The alignment put one word over 0-20 s: that is not 20 s of transcribed speech.
    covered = covered_spans([segment(word("chapter", 0.0, 20.0), word("six", 20.0, 20.4))])
    gaps = find_gaps([(0.0, 21.0)], covered, min_seconds=5.0)
    assert [(round(g.start, 1), round(g.end, 1)) for g in gaps] == [(2.5, 19.5)]


def test_short_uncovered_stretches_are_not_gaps() -> None:
    covered = covered_spans([segment(word("a", 0.0, 1.0)), segment(word("b", 4.0, 5.0))])
    assert find_gaps([(0.0, 5.0)], covered, min_seconds=5.0) == []


def test_uncovered_speech_on_both_sides_of_a_pause_is_one_gap() -> None:
    covered = covered_spans([segment(word("end", 30.0, 30.5))])
    gaps = find_gaps([(0.0, 4.0), (7.0, 10.0)], covered, min_seconds=5.0)
    assert len(gaps) == 1
    assert gaps[0].pieces == [(0.0, 4.0), (7.0, 10.0)]
    assert gaps[0].speech_seconds == pytest.approx(7.0)


def test_a_covered_word_between_two_stretches_splits_them() -> None:
    covered = covered_spans([segment(word("middle", 10.0, 10.5))])
    gaps = find_gaps([(0.0, 20.0)], covered, min_seconds=5.0)
    assert [(g.start, g.end) for g in gaps] == [(0.0, 9.5), (11.0, 20.0)]


def test_segments_without_word_timings_cover_their_whole_span() -> None:
    covered = covered_spans([{"start": 0.0, "end": 30.0, "text": " all of it"}])
    assert find_gaps([(0.0, 30.0)], covered, min_seconds=1.0) == []


def test_words_inside_keeps_only_words_whose_middle_is_in_the_stretch() -> None:
    recovered = [segment(word("before", 1.0, 2.0), word("inside", 3.0, 4.0),
                         word("edge", 7.5, 8.5))]
    kept = words_inside(recovered, 2.5, 8.0)
    assert [w["word"] for w in kept[0]["words"]] == [" inside"]
    assert kept[0]["text"] == " inside"
    assert (kept[0]["start"], kept[0]["end"]) == (3.0, 4.0)
