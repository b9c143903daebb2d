"""What a person types into a search box, turned into an FTS5 query that cannot fail.

Accepted: words (all must occur, in any order), "quoted phrases" (in that order), and a trailing
`*` for a prefix (`countr*`, `"ask no"*`). Everything else is literal text: FTS5's own operators
(AND, OR, NOT, NEAR, column filters, `^`, parentheses) are never passed through, because a stray
one is a syntax error for FTS5. Each term becomes an FTS5 string, which the tokenizer splits like
the indexed text, so punctuation inside a term ("don't") matches as it was transcribed.
"""

from __future__ import annotations

import re
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
