"""What a person types into a search box, turned into an FTS5 query that cannot fail.

Accepted: words (all must occur, in any order), "quoted phrases" (in that order), and a trailing
`*` for a prefix (`countr*`, `"ask no"*`). Everything else is literal text: FTS5's own operators
(AND, OR, NOT, NEAR, column filters, `^`, parentheses) are never passed through, because a stray
one is a syntax error for FTS5. Each term becomes an FTS5 string, which the tokenizer splits like
the indexed text, so punctuation inside a term ("don't") matches as it was transcribed.

The forgiving form (`to_forgiving_fts_query`) lets each plain word also match the words that
sound or are spelled alike: `knot` becomes `("knot" OR "not" OR "nut" ...)`. FTS5 has no OR
inside a phrase, so there a phrase's words are matched in any order; a prefix stays a prefix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# A quoted phrase (its closing quote may be missing: then it runs to the end), or a bare word.
_TERM = re.compile(r'"([^"]*)"?(\*?)|([^\s"]+)')


@dataclass(frozen=True)
class Term:
    text: str
    prefix: bool = False

    def to_fts(self) -> str:
        return '"' + self.text.replace('"', '""') + '"' + ("*" if self.prefix else "")


def parse_terms(query: str) -> list[Term]:
    terms = []
    for match in _TERM.finditer(query):
        phrase, phrase_star, word = match.groups()
        if word is not None:
            term = Term(word.rstrip("*"), prefix=word.endswith("*"))
        else:
            term = Term(phrase, prefix=bool(phrase_star))
        if any(character.isalnum() for character in term.text):
            terms.append(term)  # a term of punctuation alone would match nothing
    return terms


def to_fts_query(query: str) -> str | None:
    """The FTS5 MATCH expression for a user's query; None when it holds nothing searchable."""
    terms = parse_terms(query)
    return " ".join(term.to_fts() for term in terms) if terms else None


def _fts_string(text: str) -> str:
    return Term(text).to_fts()


def _forgiving_word(word: str, alternatives: Callable[[str], list[str]]) -> str:
    others = alternatives(word)
    if not others:
        return _fts_string(word)
    return "(" + " OR ".join(_fts_string(choice) for choice in [word, *others]) + ")"


def to_forgiving_fts_query(query: str, alternatives: Callable[[str], list[str]]) -> str | None:
    """Like to_fts_query, each plain word OR its `alternatives(word)`; None if nothing is
    searchable. Equal to to_fts_query's answer when no word has an alternative."""
    terms = parse_terms(query)
    if not terms:
        return None
    parts = []
    for term in terms:
        words = term.text.split()
        if term.prefix or not any(alternatives(word) for word in words):
            parts.append(term.to_fts())  # nothing to widen: the exact term, phrase order kept
        else:
            parts += [_forgiving_word(word, alternatives) for word in words
                      if any(character.isalnum() for character in word)]
    return " AND ".join(parts)  # FTS5 allows no implicit AND after a parenthesised group
