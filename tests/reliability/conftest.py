"""The reliability report: each fault test reports one row of docs/reliability.md.

The tests drive real workers and directors (subprocesses) against a real LocalStack through the
Stack and make_stack of tests/support/stack.py; `scripts/reliability_report.py` runs this suite
with WA_RELIABILITY_REPORT set and turns the rows into docs/reliability.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest


@pytest.fixture
def record_row(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Report one row of docs/reliability.md (only when WA_RELIABILITY_REPORT is set)."""
    def record(fault: str, injection: str, files: int, lost: int, duplicated: int,
               partial: int) -> None:
        target = os.environ.get("WA_RELIABILITY_REPORT")
        if not target:
            return
        row = {"test": request.node.nodeid, "fault": fault, "injection": injection,
               "files": files, "lost": lost, "duplicated": duplicated, "partial": partial}
        with open(target, "a", encoding="utf-8") as report:
            report.write(json.dumps(row) + "\n")

    return record
