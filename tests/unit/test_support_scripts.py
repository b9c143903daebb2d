"""tests/support/localstack.py also runs as a script (scripts/localstack.sh start/stop/status,
with the LocalStack venv's python): its folder is then first on sys.path, so a helper named
like a standard module there (once: http.py) breaks it before it starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def test_no_support_module_is_named_like_a_standard_module() -> None:
    names = {path.stem for path in SUPPORT.glob("*.py")}
    assert names & set(sys.stdlib_module_names) == set()


def test_the_localstack_helper_runs_as_a_script() -> None:
    result = subprocess.run([sys.executable, str(SUPPORT / "localstack.py"), "status"],
                            capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.strip(), result.stderr
