"""The README is generated from, or checked against, the code it describes."""

from __future__ import annotations

import re
from pathlib import Path

from whisper_automation.settings import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_configuration_table_matches_the_settings_table() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- settings-table:start -->\n(.*?)<!-- settings-table:end -->", text,
                      re.DOTALL)
    assert match, "README lost its settings-table markers"
    assert match.group(1) == markdown_table(), (
        "README's table is stale: paste `whisper-automation settings --markdown`")


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "./build.sh local" in text and "./build.sh test" in text
    assert text.index("./build.sh local") < text.index("## Configuration")
