"""A batched clip that fails Whisper's own test (a repetition loop, a low-confidence guess) is
decoded again by the sequential decoder, which has the temperature fallback the batched one
lacks; a clip of silence or decoded to nothing is not."""

from __future__ import annotations

from faster_whisper.transcribe import Segment as FasterSegment
from faster_whisper.transcribe import Word as FasterWord

from whisper_automation.transcription.engines.faster import (
    _fails_whisper_test,
    _pieces_by_clip,
    _shifted,
)


def piece(text: str, seek: int = 0, logprob: float = -0.2, no_speech: float = 0.01,
          start: float = 0.0, end: float = 1.0) -> FasterSegment:
    return FasterSegment(id=1, seek=seek, start=start, end=end, text=text, tokens=[],
                         avg_logprob=logprob, compression_ratio=1.0, no_speech_prob=no_speech,
                         words=[FasterWord(start=start, end=end, word=text, probability=0.9)],
                         temperature=0.0)


def test_a_confident_varied_clip_passes() -> None:
    assert not _fails_whisper_test([piece(" The curate brewed the tea, and we sat down.")])


def test_a_repetition_loop_fails() -> None:
    assert _fails_whisper_test([piece(" and then we went home," * 12)])


def test_a_low_confidence_guess_fails() -> None:
    assert _fails_whisper_test([piece(" Three men in a boat.", logprob=-1.3)])


def test_silence_and_nothing_are_left_alone() -> None:
    assert not _fails_whisper_test([piece(" Thank you.", logprob=-1.3, no_speech=0.8)])
    assert not _fails_whisper_test([])
    assert not _fails_whisper_test([piece(" ")])


def test_segments_are_grouped_by_the_clip_they_came_from() -> None:
    clips = [(0.0, 28.5), (28.5, 55.25), (55.25, 80.0)]
    pieces = [piece("a", seek=0), piece("b", seek=2850), piece("c", seek=2850),
              piece("d", seek=5525)]
    assert [[p.text for p in group] for group in _pieces_by_clip(pieces, clips, 100)] == [
        ["a"], ["b", "c"], ["d"]]


def test_a_clip_decoded_alone_is_moved_onto_the_windows_clock() -> None:
    moved = _shifted(piece("word", start=1.5, end=2.0), 28.5)
    assert (moved.start, moved.end) == (30.0, 30.5)
    assert (moved.words[0].start, moved.words[0].end) == (30.0, 30.5)


def test_a_clip_start_between_samples_finds_its_segments() -> None:
    # 12.35 s is 197,599.99... samples: faster-whisper cuts it to 197,599 before the seek.
    clips = [(0.0, 12.35), (12.35, 40.0)]
    pieces = [piece("a", seek=0), piece("b", seek=1234)]
    assert [[p.text for p in group] for group in _pieces_by_clip(pieces, clips, 100)] == [
        ["a"], ["b"]]
