"""What earlier test sessions left on the engine: containers and networks of the test stacks
(every name starts with `wa-e2e-`), and the untagged images their rebuilds left, removed before
this session deploys or builds any.

Why: a session that was interrupted (a hang, Ctrl-C, a killed CI run) leaves its stacks, and each
compose project holds a network. The engine hands out at most ~30 networks from its default
address pools; once they are taken, `docker-compose up` fails with "could not find an available,
non-overlapping IPv4 address pool" (a CI run failed so on an engine that kept earlier runs' test
networks). Only what was created before this session started is removed: the other test
processes of this session create their stacks later, after the images are built.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import datetime

PREFIX = "wa-e2e-"


@dataclass(frozen=True)
class Leftover:
    kind: str  # "container" | "network": the `docker` subcommand that removes it
    name: str
    created: float  # seconds since the epoch


def docker_created(text: str) -> float:
    """`{{json .Created}}`: an RFC 3339 time in quotes, with nanoseconds, in seconds."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip().strip('"')).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def stale(found: list[Leftover], session_started: float) -> list[Leftover]:
    """The test stacks' containers and networks created before this session began, containers
    first (a network with a container on it cannot be removed)."""
    chosen = [item for item in found
              if item.name.lstrip("/").startswith(PREFIX) and item.created < session_started]
    return sorted(chosen, key=lambda item: (item.kind != "container", item.name))


def inspect(kind: str) -> list[Leftover]:
    """The engine's containers (running or not) or networks whose names contain the prefix."""
    every = ["--all"] if kind == "container" else []
    listed = subprocess.run(["docker", kind, "ls", *every, "--quiet", "--filter",
                             f"name={PREFIX}"], capture_output=True, text=True, timeout=120)
    ids = listed.stdout.split()
    if not ids:
        return []
    shown = subprocess.run(["docker", kind, "inspect", "--format", "{{.Name}} {{json .Created}}",
                            *ids], capture_output=True, text=True, timeout=120)
    found = []
    for line in shown.stdout.splitlines():
        name, _, created = line.partition(" ")
        found.append(Leftover(kind, name.lstrip("/"), docker_created(created)))
    return found


def remove_leftover_stacks(session_started: float) -> list[str]:
    """Remove what `stale` picks; the names removed."""
    removed = []
    for item in stale(inspect("container") + inspect("network"), session_started):
        args = ["rm", "-f"] if item.kind == "container" else ["rm"]
        result = subprocess.run(["docker", item.kind, *args, item.name], capture_output=True,
                                text=True, timeout=120)
        if result.returncode == 0:
            removed.append(f"{item.kind} {item.name}")
    return removed


def prune_dangling_images(session_started: float) -> str:
    """Untagged images made before this session (each rebuild of a test image leaves the one
    it replaced: GBs after a few runs). Only older ones: a build of this session running now
    keeps its newest untagged layers, and a prune of those would fail it."""
    result = subprocess.run(["docker", "image", "prune", "--force", "--filter",
                             f"until={int(session_started)}"], capture_output=True, text=True,
                            timeout=600)
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[-1] if lines else ""
