"""Words of the index that sound like, or are spelled nearly like, a searched word.

A recognizer mishears exactly the words people search for (names, unusual words): "kaki tree"
comes out as "cocky tree" or "khaki". Two signals find such words among the words the
transcripts hold (the `words` table of the search index, filled as each record is indexed):
  - the same phonetic key: Metaphone from jellyfish (maintained, compiled). Double Metaphone's
    only Python package (`metaphone` 0.6) has had no release since 2016; Metaphone's one key per
    word is what the table's index needs anyway;
  - a small edit distance (rapidfuzz's Levenshtein over the words of a similar length): catches
    what Metaphone misses ("khaki" is KHK, "kaki" KK).
Words are folded the way the full-text tokenizer folds them (case, accents), so a candidate
found here is a word FTS5 finds.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable

import jellyfish
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from whisper_automation.settings import TUNING

_WORD = re.compile(r"\w+")

WORDS_SCHEMA = (
    """CREATE TABLE words (word TEXT PRIMARY KEY, sound TEXT NOT NULL,
        length INTEGER NOT NULL) WITHOUT ROWID""",
    "CREATE INDEX words_by_sound ON words(sound)",
    "CREATE INDEX words_by_length ON words(length)",
)


def fold(text: str) -> str:
    """Lower case without accents, like FTS5's unicode61 tokenizer with remove_diacritics 2."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words_of(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def sound_key(word: str) -> str:
    # Metaphone knows letters only; a number or a word of other scripts is its own key.
    return jellyfish.metaphone(word) or word


def max_edits(word: str) -> int:
    """Spelling slack by length: none for short words (every 3-letter word is 1 edit from
    dozens of others), 1 up to 7 letters, 2 from 8."""
    if len(word) < 4:
        return 0
    return 1 if len(word) < 8 else 2


def remember_words(connection: sqlite3.Connection, texts: Iterable[str]) -> None:
    """Add the words of newly indexed text (a finished file adds its words, no rebuild).
    Words of removed transcripts stay: a word found here but in no segment matches nothing."""
    distinct = {word for text in texts for word in words_of(text)}
    connection.executemany(
        "INSERT OR IGNORE INTO words(word, sound, length) VALUES (?, ?, ?)",
        [(word, sound_key(word), len(word)) for word in distinct])


def alternatives(connection: sqlite3.Connection, word: str) -> list[str]:
    """Words of the index that sound or are spelled like `word` (itself excluded), the nearest
    spelling first, at most TUNING.sounds_like_alternatives of them."""
    word = fold(word)
    if len(word) < TUNING.sounds_like_min_letters or not word.isalpha():
        return []
    found = {row[0] for row in connection.execute(
        "SELECT word FROM words WHERE sound = ?", (sound_key(word),))}
    edits = max_edits(word)
    if edits:
        similar = [row[0] for row in connection.execute(
            "SELECT word FROM words WHERE length BETWEEN ? AND ?",
            (len(word) - edits, len(word) + edits))]
        found.update(match for match, _, _ in process.extract(
            word, similar, scorer=Levenshtein.distance, score_cutoff=edits, limit=None))
    found.discard(word)
    ranked = sorted(found, key=lambda other: (Levenshtein.distance(word, other), other))
    return ranked[:TUNING.sounds_like_alternatives]
