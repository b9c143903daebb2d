"""How the whisper.cpp engine turns tokens into words, and picks its alignment heads."""

from __future__ import annotations

import importlib.util

import pytest

from tests.support.require import require

require(importlib.util.find_spec("_pywhispercpp") is not None,
        "pywhispercpp is not installed (the whispercpp extra)")

from whisper_automation.transcription.engines.whispercpp import (  # noqa: E402
    Token,
    _context_parameters,
    group_words,
    whisper_cpp,
)


def test_a_space_starts_a_word_and_pieces_and_punctuation_join_the_word_before() -> None:
    tokens = [Token(b" And", 0.7, 0.9), Token(b" Amer", 1.2, 0.8), Token(b"icans", 1.5, 0.6),
              Token(b",", 1.6, 0.5), Token(b" ask", 2.0, 1.0)]
    words = group_words(tokens, 0.0, 2.0)
    assert [word.word for word in words] == [" And", " Americans,", " ask"]
    assert [(word.start, word.end) for word in words][1:] == [(0.7, 1.6), (1.6, 2.0)]
    assert words[1].probability == pytest.approx((0.8 + 0.6 + 0.5) / 3, abs=1e-3)


def test_a_character_split_over_two_tokens_is_decoded_whole() -> None:
    euro = "€".encode()
    words = group_words([Token(b" 5" + euro[:1], 0.5, 1.0), Token(euro[1:], 0.8, 1.0)], 0, 1)
    assert [word.word for word in words] == [" 5€"]


def test_the_first_word_after_silence_starts_near_its_end_not_at_the_segment_start() -> None:
    # Speech starts at 5 s in a segment that starts at 0 s (whisper's first timestamp).
    tokens = [Token(b" And", 5.7, 1.0), Token(b" so", 6.0, 1.0), Token(b" my", 6.4, 1.0),
              Token(b" fellow", 6.8, 1.0)]
    first = group_words(tokens, 0.0, 7.0)[0]
    assert 4.5 <= first.start < first.end == 5.7


def test_word_times_stay_inside_the_segment_and_in_order() -> None:
    tokens = [Token(b" a", 1.5, 1.0), Token(b" b", 1.2, 1.0), Token(b" c", 9.0, 1.0)]
    words = group_words(tokens, 1.0, 3.0)
    times = [time for word in words for time in (word.start, word.end)]
    assert times == sorted(times)
    assert times[0] >= 1.0 and times[-1] == 3.0


def test_tokens_that_are_only_spaces_make_no_word() -> None:
    words = group_words([Token(b" hi", 0.5, 1.0), Token(b" ", 0.6, 1.0)], 0.0, 1.0)
    assert [word.word for word in words] == [" hi"]


@pytest.mark.parametrize(("header", "preset"), [
    ({"n_vocab": 51864, "n_audio_layer": 4, "n_text_layer": 4}, "WHISPER_AHEADS_TINY_EN"),
    ({"n_vocab": 51865, "n_audio_layer": 6, "n_text_layer": 6}, "WHISPER_AHEADS_BASE"),
    ({"n_vocab": 51865, "n_audio_layer": 32, "n_text_layer": 32}, "WHISPER_AHEADS_LARGE_V2"),
    ({"n_vocab": 51866, "n_audio_layer": 32, "n_text_layer": 32}, "WHISPER_AHEADS_LARGE_V3"),
    ({"n_vocab": 51866, "n_audio_layer": 32, "n_text_layer": 4},
     "WHISPER_AHEADS_LARGE_V3_TURBO"),
    ({"n_vocab": 51866, "n_audio_layer": 8, "n_text_layer": 2}, "WHISPER_AHEADS_N_TOP_MOST"),
])
def test_alignment_heads_follow_the_model_size(header: dict[str, int], preset: str) -> None:
    parameters = _context_parameters(header)
    assert parameters.dtw_token_timestamps and not parameters.flash_attn
    assert parameters.dtw_aheads_preset == getattr(whisper_cpp.whisper_alignment_heads_preset,
                                                   preset)
