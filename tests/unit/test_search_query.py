"""The user's search syntax, translated to FTS5: words, "phrases", prefix*, the rest literal."""

from __future__ import annotations

from whisper_automation.web.searchquery import Term, parse_terms, to_fts_query


def test_words_phrases_and_prefixes() -> None:
    assert parse_terms('ask not') == [Term("ask"), Term("not")]
    assert parse_terms('"ask not" countr*') == [Term("ask not"), Term("countr", prefix=True)]
    assert parse_terms('"ask no"* what') == [Term("ask no", prefix=True), Term("what")]


def test_an_unclosed_quote_runs_to_the_end() -> None:
    assert parse_terms('river "ask not what') == [Term("river"), Term("ask not what")]


def test_fts_operators_and_quotes_become_literal_strings() -> None:
    assert to_fts_query('cats OR dogs') == '"cats" "OR" "dogs"'
    assert to_fts_query('text:river NEAR(a b)') == '"text:river" "NEAR(a" "b)"'
    assert to_fts_query("it's") == '"it\'s"'
    assert to_fts_query('say"what') == '"say" "what"'


def test_nothing_searchable_gives_no_query() -> None:
    for query in ("", "   ", '"', '""', "*", "...", "- + ^", '" "*'):
        assert to_fts_query(query) is None, query
