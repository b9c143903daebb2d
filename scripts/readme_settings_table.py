"""Rewrite README.md's configuration table from the settings table (tests/test_docs.py checks it).

    .venv/bin/python scripts/readme_settings_table.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
from whisper_automation.settings import markdown_table  # noqa: E402

PATTERN = re.compile(r"(<!-- settings-table:start -->\n).*?(<!-- settings-table:end -->)", re.S)


def main() -> int:
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    updated = PATTERN.sub(lambda match: match.group(1) + markdown_table() + match.group(2), text)
    readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
