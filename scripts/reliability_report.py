"""Run the fault-injection suite and write docs/reliability.md from what the tests measured.

    .venv/bin/python scripts/reliability_report.py [--runs N] [--output docs/reliability.md]

Each test in tests/reliability injects one fault into real workers and directors (subprocesses)
against a real LocalStack and reports files, lost, duplicated and partial; this script repeats
the suite N times and adds the rows up. It needs what `./build.sh test` installs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_suite(report: Path) -> int:
    env = dict(os.environ, WA_RELIABILITY_REPORT=str(report))
    return subprocess.call([sys.executable, "-m", "pytest", "tests/reliability", "-q",
                            "-p", "no:cacheprovider"], cwd=REPO, env=env)


def table(rows: list[dict]) -> str:
    merged: dict[tuple[str, str], dict] = defaultdict(
        lambda: {"runs": 0, "files": 0, "lost": 0, "duplicated": 0, "partial": 0})
    for row in rows:
        total = merged[(row["fault"], row["injection"])]
        total["runs"] += 1
        for column in ("files", "lost", "duplicated", "partial"):
            total[column] += row[column]
    lines = ["| Fault | How it is injected | Runs | Files | Lost | Duplicated | Partial |",
             "|---|---|---|---|---|---|---|"]
    for (fault, injection), total in merged.items():
        lines.append(f"| {fault} | {injection} | {total['runs']} | {total['files']} | "
                     f"{total['lost']} | {total['duplicated']} | {total['partial']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "reliability.md")
    options = parser.parse_args()
    rows: list[dict] = []
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "rows.jsonl"
        for _ in range(options.runs):
            failures += run_suite(report) != 0
        if report.exists():
            rows = [json.loads(line) for line in report.read_text().splitlines() if line]
    rows.sort(key=lambda row: row["test"])
    header = (REPO / "docs" / "reliability.head.md").read_text()
    machine = (f"{platform.node()}: {os.cpu_count()} CPUs, {platform.system()} "
               f"{platform.release()}, Python {platform.python_version()}")
    options.output.write_text(
        header
        + f"\nGenerated {datetime.date.today()} on {machine} by\n"
        + f"`python scripts/reliability_report.py --runs {options.runs}`"
        + f" ({failures} of {options.runs} suite runs had a failing test).\n\n"
        + table(rows))
    print(options.output.read_text())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
