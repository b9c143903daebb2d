"""Coverage: speech the VAD heard that no transcribed word covers."""

from __future__ import annotations

import pytest

from whisper_automation.transcription.coverage import (
    Gap,
    covered_spans,
    find_gaps,
    misplaced_copies,
    orphaned_neighbours,
    retried_words,
    spans_cut,
    speech_cuts,
    utterances,
    widen,
    without_end_filler,
    without_unheard_words,
    words_inside,
)
from whisper_automation.transcription.speech import Segment, Word


def word(text: str, start: float, end: float) -> Word:
    return Word(start=start, end=end, word=" " + text, probability=0.9)


def segment(*words: Word) -> Segment:
    return Segment(start=words[0].start, end=words[-1].end,
                   text="".join(w.word for w in words), words=list(words))


def test_speech_before_the_first_word_is_a_gap() -> None:
    covered = covered_spans([segment(word("chapter", 20.5, 21.0), word("six", 21.0, 21.5))])
    gaps = find_gaps([(0.0, 26.0)], covered, min_seconds=5.0)
    assert len(gaps) == 1
    assert gaps[0].start == 0.0
    assert gaps[0].end == pytest.approx(20.2)  # a little slack before the word
    assert gaps[0].speech_seconds == pytest.approx(20.2)


def test_a_word_stretched_over_many_seconds_covers_only_a_spoken_words_length() -> None:
    # The alignment put one word over 0-20 s: that is not 20 s of transcribed speech.
    covered = covered_spans([segment(word("chapter", 0.0, 20.0), word("six", 20.0, 20.4))])
    gaps = find_gaps([(0.0, 21.0)], covered, min_seconds=5.0)
    # "chapter" covers what saying it takes (0.35 s + 0.12 s a letter) plus 0.3 s of slack.
    assert [(round(g.start, 2), round(g.end, 2)) for g in gaps] == [(1.49, 19.7)]


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
    assert [(g.start, g.end) for g in gaps] == [(0.0, 9.7), (10.8, 20.0)]


def test_segments_without_word_timings_cover_their_whole_span() -> None:
    covered = covered_spans([Segment(start=0.0, end=30.0, text=" all of it", words=[])])
    assert find_gaps([(0.0, 30.0)], covered, min_seconds=1.0) == []


def test_words_inside_keeps_only_words_whose_middle_is_in_the_stretch() -> None:
    recovered = [segment(word("before", 1.0, 2.0), word("inside", 3.0, 4.0),
                         word("edge", 7.8, 8.6))]
    kept = words_inside(recovered, 2.5, 8.0)
    assert [w.word for w in kept[0].words] == [" inside"]
    assert kept[0].text == " inside"
    assert (kept[0].start, kept[0].end) == (3.0, 4.0)


def test_words_inside_with_keep_false_leaves_the_words_outside() -> None:
    first = [segment(word("one", 1.0, 1.5), word("two", 5.0, 5.5), word("three", 9.0, 9.5))]
    outside = words_inside(first, 4.0, 6.0, keep=False)
    assert [w.word for s in outside for w in s.words] == [" one", " three"]


def test_words_inside_with_keep_false_splits_a_segment_around_the_stretch() -> None:
    # Words put into the stretch then sort between the two parts, not after the whole segment.
    first = [segment(word("one", 1.0, 1.5), word("two", 5.0, 5.5), word("three", 9.0, 9.5))]
    outside = words_inside(first, 4.0, 6.0, keep=False)
    assert [[w.word for w in s.words] for s in outside] == [[" one"], [" three"]]
    assert [(s.start, s.end, s.text) for s in outside] == [(1.0, 1.5, " one"),
                                                                    (9.0, 9.5, " three")]


def test_a_retried_word_in_the_slack_beside_a_gap_is_kept_unless_the_first_pass_wrote_it() -> None:
    # The first pass wrote "printed" and then nothing until "in": the gap runs from 0.3 s after
    # "printed" to 0.3 s before "in". The retry heard "printed" again, then "book" right after
    # it (in that slack), "and it is worth", and "mention" in the slack before "in".
    first = [segment(word("printed", 25.5, 25.9), word("in", 28.1, 28.3))]
    gap, = find_gaps([(25.5, 28.3)], covered_spans(first), 1.0)
    assert (gap.start, gap.end) == pytest.approx((26.2, 27.8))
    retry = [segment(word("printed", 25.55, 25.92), word("book,", 25.92, 26.4),
                     word("and", 26.5, 27.0), word("it", 27.0, 27.2), word("is", 27.2, 27.4),
                     word("worth", 27.4, 27.6), word("mention", 27.6, 28.05))]

    added = retried_words(retry, first, gap.start, gap.end)

    assert [w.word for s in added for w in s.words] == [
        " book,", " and", " it", " is", " worth", " mention"]
    assert words_inside(retry, gap.start, gap.end)[0].words[0].word == " and"  # by the gap alone


def test_a_retried_word_said_again_near_the_gap_is_not_added_twice() -> None:
    # The retry wrote the word before the gap a little later than the first pass did.
    first = [segment(word("printed", 25.5, 25.9), word("in", 28.1, 28.3))]
    retry = [segment(word("Printed", 25.95, 26.3), word("and", 26.5, 27.0))]

    added = retried_words(retry, first, 26.2, 27.8)

    assert [w.word for s in added for w in s.words] == [" and"]


def test_a_retried_word_given_no_time_beside_the_gap_is_not_added() -> None:
    # Written on past the speech the retry was given: the alignment found no audio for it.
    first = [segment(word("printed", 25.5, 25.9), word("in", 28.1, 28.3))]
    retry = [segment(word("and", 26.5, 27.0), word("clips.", 27.9, 27.9))]

    added = retried_words(retry, first, 26.2, 27.8)

    assert [w.word for s in added for w in s.words] == [" and"]


def evening_after_the_retry() -> tuple[list[Segment], list[Segment]]:
    """The evening's first pass had "Chapter 26 of the Crimson Fairy Book." (heard at its
    clip's start) aligned over the story's opening, 20 s later, "the" stretched and "26" and
    "Crimson" given no time. The retry of the skipped preamble heard the title where it was
    said and the preamble after it, up to "Once"."""
    heard = segment(word("Chapter", 797.4, 798.0), word("26", 798.0, 798.7),
                    word("of", 798.7, 798.9), word("the", 798.9, 799.4),
                    word("Crimson", 799.4, 799.4), word("Fairy", 799.4, 799.7),
                    word("Book.", 799.7, 800.1), word("This", 801.0, 801.3),
                    word("is", 801.3, 801.4), word("Motika", 816.9, 817.2),
                    word("Tika.", 817.2, 817.9), word("Once", 817.9, 819.0))
    after = segment(word("26", 819.3, 819.3), word("of", 819.3, 820.1),
                    word("the", 820.1, 821.8), word("Crimson", 821.8, 821.8),
                    word("Fairy", 821.8, 822.2), word("Book.", 822.2, 822.8),
                    word("which", 822.8, 823.3), word("was", 823.3, 823.6))
    before = segment(word("laughed.", 783.5, 784.1))
    return [before, heard, after], [heard]


def test_words_beside_a_retried_gap_that_repeat_what_the_retry_heard_there_are_a_copy() -> None:
    segments, heard = evening_after_the_retry()

    assert misplaced_copies(segments, heard, 797.4, 819.1) == [(819.1, 822.8)]


def test_a_repeated_run_aligned_where_it_was_said_is_no_copy() -> None:
    # A poem's title, then its first line: the same words twice, each with a plausible time.
    heard = [segment(word("Because", 10.0, 10.4), word("I", 10.4, 10.5),
                     word("could", 10.5, 10.8), word("not", 10.8, 11.0),
                     word("stop", 11.0, 11.3))]
    after = segment(word("Because", 12.0, 12.4), word("I", 12.4, 12.5),
                    word("could", 12.5, 12.8), word("not", 12.8, 13.0))
    assert misplaced_copies([heard[0], after], heard, 9.0, 11.5) == []


def test_words_beside_a_retried_gap_that_the_retry_did_not_hear_are_no_copy() -> None:
    segments, heard = evening_after_the_retry()
    segments[2] = segment(word("upon", 819.3, 819.3), word("a", 819.3, 820.1),
                          word("time", 820.1, 821.8))

    assert misplaced_copies(segments, heard, 797.4, 819.1) == []


def skipped_sentences_retried() -> tuple[list[Segment], list[Segment]]:
    """A batched clip's first pass (an AMD Zen 2, the sentences said again): it skipped two
    sentences its prompt ended on, put "printing" before the skipped speech and stretched
    "in the" over it; the retry of 111.57-119.85 s heard them and "printing in the" after."""
    first = [segment(word("book.", 109.52, 109.88)),
             segment(word("printing", 110.89, 111.57), word("in", 111.57, 112.25),
                     word("the", 112.25, 119.85), word("only", 119.85, 120.11),
                     word("sense", 120.11, 120.69))]
    heard = [segment(word("And", 111.27, 111.97), word("it", 111.97, 112.31),
                     word("is", 112.31, 112.51), word("worth", 112.51, 112.75),
                     word("typography,", 116.29, 118.03), word("printing", 118.73, 119.17),
                     word("in", 119.17, 119.77), word("the", 119.77, 119.95))]
    return first, heard


def test_a_word_beside_the_stretch_whose_phrase_the_retry_heard_further_on_is_an_orphan() -> None:
    first, heard = skipped_sentences_retried()

    orphans = orphaned_neighbours(first, heard, 111.57, 119.85)

    assert [(w.word, w.start) for w in orphans] == [(" printing", 110.89)]


def test_a_phrase_said_twice_keeps_the_word_before_the_stretch() -> None:
    # The reader said "printing in the" at 110.9 s and again at 118.7 s: the retry hears the
    # first "in the" inside the stretch too, so "printing" there is no orphan.
    first, heard = skipped_sentences_retried()
    heard[0] = segment(word("in", 111.6, 111.8), word("the", 111.8, 112.0),
                       *heard[0].words[1:])

    assert orphaned_neighbours(first, heard, 111.57, 119.85) == []


def test_a_word_after_the_stretch_whose_phrase_the_retry_heard_earlier_is_an_orphan() -> None:
    # The mirror image: "in the" stretched back over skipped speech, "end" after it, and the
    # retry heard "in the end" at the stretch's start.
    first = [segment(word("was", 9.5, 9.8), word("in", 10.0, 14.0), word("the", 14.0, 18.0),
                     word("end", 18.2, 18.5))]
    heard = [segment(word("in", 10.1, 10.3), word("the", 10.3, 10.4), word("end", 10.4, 10.8),
                     word("they", 11.0, 11.3), word("slept", 11.3, 11.9))]

    orphans = orphaned_neighbours(first, heard, 10.0, 18.0)

    assert [(w.word, w.start) for w in orphans] == [(" end", 18.2)]


def test_the_orphans_run_on_as_long_as_they_go_on_with_the_retrys_phrase() -> None:
    # Whisper base on the evening: "End of" stretched up to the stretch's end, "chapter 26"
    # after it, 30 s from where the retry heard "end of Chapter 26.".
    first = [segment(word("Janad.", 2412.39, 2412.71)),
             segment(word("End", 2444.91, 2446.31), word("of", 2446.31, 2447.71),
                     word("chapter", 2447.71, 2447.71), word("26", 2447.71, 2448.25)),
             segment(word("Each", 2452.07, 2452.61), word("fairy", 2452.61, 2452.87))]
    heard = [segment(word("end", 2412.71, 2414.42), word("of", 2414.42, 2414.62),
                     word("Chapter", 2414.62, 2414.88), word("26.", 2414.88, 2415.68))]

    orphans = orphaned_neighbours(first, heard, 2413.01, 2447.71)

    assert [w.word for w in orphans] == [" chapter", " 26"]


def test_a_stretched_word_sits_where_it_starts_not_over_the_speech_it_stretches_across() -> None:
    # "laughed." aligned over 3 s, the last 2 of which hold a sentence Whisper skipped: the
    # skipped sentence's stretch does not contain it, the stretch from its start does.
    words = [segment(word("had", 465.7, 466.0), word("laughed.", 466.0, 469.1))]
    assert words_inside(words, 467.5, 471.5) == []
    assert [w.word for s in words_inside(words, 466.0, 471.5) for w in s.words] == [
        " laughed."]


def test_a_gap_grows_over_the_stretched_words_that_border_it() -> None:
    # "a" lasting 3.2 s and "little" 1.6 s hide the words Whisper skipped after "a".
    words = segment(word("in", 25.2, 25.35), word("a", 25.35, 28.5), word("little", 28.5, 30.2),
                    word("by", 30.2, 30.6))
    assert widen(26.0, 28.2, [words]) == (25.35, 30.2)


def test_a_gap_between_plausible_words_stays_as_it_is() -> None:
    words = segment(word("in", 25.2, 25.35), word("the", 28.5, 28.7))
    assert widen(25.65, 28.2, [words]) == (25.65, 28.2)


def test_a_gap_over_two_utterances_is_retried_as_two() -> None:
    # The end of one chapter, 8 s of silence, then the next chapter's LibriVox preamble.
    gap = Gap([(784.3, 789.0), (797.4, 817.2)])
    assert [part.pieces for part in utterances(gap, min_seconds=2.0)] == [
        [(784.3, 789.0)], [(797.4, 817.2)]]


def test_regions_split_at_thirty_seconds_stay_one_utterance() -> None:
    gap = Gap([(0.0, 30.0), (30.1, 42.0)])
    assert [part.pieces for part in utterances(gap, min_seconds=2.0)] == [
        [(0.0, 30.0), (30.1, 42.0)]]


def test_regions_parted_by_the_thirty_second_split_are_a_cut_and_a_pause_is_not() -> None:
    regions = [(0.0, 30.0), (30.1, 42.0), (44.5, 60.0)]  # split at 30 s; a 2.5 s pause
    cuts = speech_cuts(regions)
    assert cuts == [pytest.approx(30.05)]
    assert spans_cut(Gap([(29.0, 30.0), (30.1, 30.5)]), cuts)
    # Whisper's guess at the cut ("and...") covers it, and the skip begins just after it.
    assert spans_cut(Gap([(30.4, 32.2)]), cuts)
    assert not spans_cut(Gap([(31.5, 33.0)]), cuts)
    assert not spans_cut(Gap([(42.0, 42.0), (44.5, 45.5)]), cuts)


def test_a_part_too_short_to_retry_alone_stays_with_its_neighbour() -> None:
    first_short = Gap([(10.0, 11.0), (14.0, 20.0)])
    last_short = Gap([(10.0, 16.0), (19.0, 20.5)])
    assert [part.pieces for part in utterances(first_short, min_seconds=2.0)] == [
        [(10.0, 11.0), (14.0, 20.0)]]
    assert [part.pieces for part in utterances(last_short, min_seconds=2.0)] == [
        [(10.0, 16.0), (19.0, 20.5)]]


def test_words_the_alignment_gave_no_time_are_dropped() -> None:
    # openai-whisper on Jerome's reading: after "And then we all" it wrote the passage before
    # again, every word of it at the window's last instant, where no audio is left.
    spoken = segment(word("And", 571.96, 572.26), word("then", 572.26, 572.46),
                     word("we", 572.46, 572.56), word("all", 572.56, 573.08))
    again = ("put", "the", "card", "next", "to", "Cole's", "scuttle,", "and", "turned", "it", "up.")
    repeated = [word(text, 573.08, 573.08) for text in again]
    written = [segment(*spoken.words, *repeated), segment(word("And", 573.08, 573.3))]
    kept, dropped = without_unheard_words(written)
    assert dropped == len(repeated)
    assert [w.word for s in kept for w in s.words] == [" And", " then", " we", " all", " And"]
    assert kept[0].text == " And then we all" and kept[0].end == 573.08


def test_one_or_two_words_squeezed_at_a_clips_edge_are_kept() -> None:
    written = [segment(word("the", 29.5, 29.9), word("king", 30.0, 30.0),
                       word("spat", 30.0, 30.0)),
               segment(word("and", 30.0, 30.3))]
    assert without_unheard_words(written) == (written, 0)


def test_a_segment_of_nothing_but_unheard_words_is_dropped_whole() -> None:
    written = [segment(word("Once", 1.0, 1.4)),
               segment(*[word("again", 2.0, 2.0) for _ in range(5)])]
    assert without_unheard_words(written) == ([written[0]], 5)


def test_a_thank_you_squeezed_into_the_end_of_the_input_is_dropped_as_whisper_would() -> None:
    # The suite's seam test, at the recording's end: "Thank" given no time at 3 % probability,
    # "you." 40 ms, then a lone full stop.
    last = segment(word("fine", 155.5, 155.9), word("typography.", 155.9, 156.5))
    thanks = [Word(start=156.54, end=156.54, word=" Thank", probability=0.03),
              Word(start=156.54, end=156.58, word=" you.", probability=0.98)]
    stop = [Word(start=156.58, end=156.72, word=" .", probability=0.08)]
    segments = [last, Segment(156.54, 156.58, " Thank you.", thanks),
                Segment(156.58, 156.72, " .", stop)]

    assert without_end_filler(segments) == ([last], 3)


def test_a_thank_you_said_at_the_end_is_kept() -> None:
    said = [Word(start=156.5, end=156.8, word=" Thank", probability=0.9),
            Word(start=156.8, end=157.1, word=" you.", probability=0.95)]
    segments = [segment(word("typography.", 155.9, 156.5)), Segment(156.5, 157.1, " Thank you.",
                                                                      said)]
    assert without_end_filler(segments) == (segments, 0)
