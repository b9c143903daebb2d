"""What every benchmark script prints about itself: the machine, the libraries, the command."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path


def machine_description() -> str:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 ** 2:.1f} GB"
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"- machine: {cpu}, {os.cpu_count()} cores ({usable} usable), {ram} RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}\n"
            f"- load average (1/5/15 min) at start: {load}")


def versions(packages: Sequence[str]) -> str:
    found = []
    for package in packages:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return "- libraries: " + ", ".join(found)


def command_line() -> str:
    return "- command: `" + shlex.join([sys.executable, *sys.argv]) + "`"


def emit(text: str, markdown: Path | None) -> None:
    print(text, flush=True)
    if markdown:
        with markdown.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
