"""Rewrite the README's configuration table from the settings table (settings.markdown_table)."""

import re
from pathlib import Path

from whisper_automation.settings import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"
text = README.read_text(encoding="utf-8")
text = re.sub(r"(<!-- settings-table:start -->\n).*?(<!-- settings-table:end -->)",
              lambda match: match.group(1) + markdown_table() + match.group(2), text,
              flags=re.DOTALL)
README.write_text(text, encoding="utf-8")
