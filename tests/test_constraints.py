"""What a fresh machine installs is what the suite passed with: every dependency pyproject.toml
names is pinned in constraints.txt, and build.sh installs with it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_declared_dependency_is_pinned_in_constraints() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(item) for item in project["dependencies"]}
    declared |= {_name(item) for items in project.get("optional-dependencies", {}).values()
                 for item in items if not item.startswith("whisper-automation")}
    pins = dict(line.lower().replace("_", "-").split("==", 1)
                for line in (REPO / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert declared - set(pins) == set()


def test_build_sh_installs_with_the_constraints() -> None:
    script = (REPO / "build.sh").read_text()
    assert "lock=(-c constraints.txt)" in script and '"${lock[@]}" -e ".[$extras]"' in script
