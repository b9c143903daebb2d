"""Word error rate, and the longest run of reference words lost, against reference transcripts
(samples/MANIFEST.tsv, tests/data/MANIFEST.tsv, or any corpus MANIFEST.tsv).

Both sides go through openai-whisper's English text normaliser (case, punctuation, numbers,
spelling variants) first, as the references come in different styles.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import jiwer

MANIFEST = Path(__file__).resolve().parents[2] / "samples" / "MANIFEST.tsv"


@cache
def _normaliser():
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def references(manifest: Path = MANIFEST) -> dict[str, str]:
    with manifest.open(encoding="utf-8", newline="") as stream:
        return {row["file"]: row["reference_text"]
                for row in csv.DictReader(stream, delimiter="\t")}


def normalise(text: str) -> str:
    return _normaliser()(text)


def word_error_rate(reference: str, hypothesis: str) -> float:
    normalise = _normaliser()
    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")


def longest_lost_run(reference: str, hypothesis: str) -> int:
    """The most consecutive reference words the hypothesis leaves out (aligned word by word):
    what WER averages away when a whole passage vanishes."""
    normalise = _normaliser()
    alignment = jiwer.process_words(normalise(reference), normalise(hypothesis) or "<empty>")
    return max((chunk.ref_end_idx - chunk.ref_start_idx for chunk in alignment.alignments[0]
                if chunk.type == "delete"), default=0)
