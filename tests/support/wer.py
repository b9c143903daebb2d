"""Word error rate against the reference transcripts in samples/MANIFEST.tsv.

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


def word_error_rate(reference: str, hypothesis: str) -> float:
    normalise = _normaliser()
    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")
