"""The images install the package with --no-deps and their dependencies from the pinned lists in
docker/: every package their commands import must be on those lists, or a container dies with
ModuleNotFoundError at its first use (the status page did, for jellyfish, after the search
learnt sound-alike words). Checked without a Docker engine: the commands' modules are imported
and every format rendered here, with any package outside the image's list refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# What python:3.11-slim carries besides the standard library.
BASE_IMAGE = {"pip", "setuptools", "wheel"}

# The modules each image's commands load, and the work they do without a model.
# worker image: `worker` and the status page (`status --serve`: search, audio, collections).
# director image: `director` (plans, moves, renders missing formats from done records).
PACKAGE = REPO / "src"
WORKER_MODULES = sorted(
    ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    for path in (PACKAGE / "whisper_automation").rglob("*.py")
    if path.stem not in ("__main__", "__init__", "embedded", "runner")  # `run`: the test's moto
    and "engines" not in path.parts)  # each image has its own engine
WORKER_MODULES += ["whisper_automation.transcription.engines.faster",
                   "whisper_automation.transcription.engines.models"]
DIRECTOR_MODULES = ["whisper_automation.cli", "whisper_automation.jobs.director",
                    "whisper_automation.jobs.status", "whisper_automation.jobs.reorganise",
                    "whisper_automation.transcription.writers"]

EXERCISE = """
import importlib, importlib.abc, importlib.metadata, json, re, sys

allowed, modules = set(json.loads(sys.argv[1])), json.loads(sys.argv[2])
owners = importlib.metadata.packages_distributions()

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

class OutsideTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        dists = {norm(dist) for dist in owners.get(top, ())}
        if dists and not dists & allowed and "whisper-automation" not in dists:
            raise ModuleNotFoundError(f"{top} ({', '.join(sorted(dists))}) is not installed "
                                      "in the image", name=name)
        return None

sys.meta_path.insert(0, OutsideTheImage())
for module in modules:
    importlib.import_module(module)
from whisper_automation.transcription.prose import RecordingInfo
from whisper_automation.settings import FORMATS
from whisper_automation.transcription.speech import Result
from whisper_automation.transcription.writers import render

result = Result.from_dict({"text": "Ask not.", "language": "en", "duration": 2.0,
                           "segments": [{"start": 0.0, "end": 2.0, "text": " Ask not."}]})
for fmt in FORMATS:
    assert render(result, fmt, RecordingInfo("a/talk.mp3")), fmt
print("ok")
"""


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: Path) -> dict[str, str]:
    """{distribution: version} of a requirements list, following its -r includes."""
    found: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            found |= pins(requirements.parent / line[2:].strip())
        elif line:
            name, _, version = line.partition("==")
            found[normalised(name)] = version.strip()
    return found


def exercise(requirements: str, modules: list[str]) -> subprocess.CompletedProcess[str]:
    import json

    allowed = sorted(set(pins(REPO / "docker" / requirements)) | BASE_IMAGE)
    return subprocess.run([sys.executable, "-c", EXERCISE, json.dumps(allowed),
                           json.dumps(modules)], capture_output=True, text=True, cwd=REPO)


@pytest.mark.parametrize("requirements,modules", [
    ("requirements-faster-whisper.txt", WORKER_MODULES),
    ("requirements-whispercpp.txt",
     [*WORKER_MODULES, "whisper_automation.transcription.engines.whispercpp"]),
    ("requirements-openai-whisper.txt", WORKER_MODULES),
    ("requirements-director.txt", DIRECTOR_MODULES),
], ids=["worker-faster-whisper", "worker-whispercpp", "worker-openai-whisper", "director"])
def test_every_package_an_images_commands_import_is_on_its_pinned_list(
        requirements: str, modules: list[str]) -> None:
    result = exercise(requirements, modules)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_a_package_missing_from_a_list_is_found() -> None:
    # The check itself can fail: the director's list cannot load the search (jellyfish).
    result = exercise("requirements-director.txt", ["whisper_automation.web.searchindex"])
    assert result.returncode != 0 and "jellyfish" in result.stderr


def test_the_images_pin_what_constraints_txt_pins() -> None:
    # The versions of the suite's environment for the packages added since the lists were last
    # regenerated: the images must read and write documents as the tests did.
    constraints = pins(REPO / "constraints.txt")
    for requirements in ("requirements-faster-whisper.txt", "requirements-director.txt"):
        listed = pins(REPO / "docker" / requirements)
        for name in ("python-docx", "lxml"):
            assert listed.get(name) == constraints[name], (requirements, name)
    listed = pins(REPO / "docker/requirements-faster-whisper.txt")
    for name in ("jellyfish", "rapidfuzz"):
        assert listed.get(name) == constraints[name], name
