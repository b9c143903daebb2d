"""Fault-injection fixtures: real workers and directors (subprocesses) against a real LocalStack
(the Stack and make_stack of tests/support/stack.py).

Each test measures what the fault did (files lost, transcribed twice, partial transcripts) and
reports a row with `record_row`; `scripts/reliability_report.py` runs this suite with
WA_RELIABILITY_REPORT set and turns the rows into docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.stack import (  # noqa: F401 (re-exported for the fault tests)
    LAYOUT_DIR,
    SHORT_CLIPS,
    Stack,
    outcome,
    wait_for,
)

pytestmark = pytest.mark.integration


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




@pytest.fixture
def open_root() -> Iterator[Path]:
    """A folder that an unprivileged worker can reach. Not under tmp_path: pytest keeps its base
    folder 0o700 and resets it to that whenever another pytest session starts, so loosening it
    would race with any other session on the machine."""
    root = Path(tempfile.mkdtemp(prefix="wa-reliability-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def relocated(stack: Stack, root: Path) -> Stack:
    """The same stack (queue, settings, processes) with its folders and log moved into root."""
    source, destination, log = root / "in", root / "out", root / "engine.log"
    shutil.move(stack.source, source)
    shutil.move(stack.destination, destination)
    return replace(stack, source=source, destination=destination, engine_log=log,
                   env=stack.with_env(WA_SOURCE=str(source), WA_DESTINATION=str(destination),
                                      WA_TEST_ENGINE_LOG=str(log)))
