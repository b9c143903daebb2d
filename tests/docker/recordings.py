"""The recordings the Docker tests transcribe: a nested tree of real long recordings, then short
clips.

The long ones are the corpus's bedtime stories (5-8 minutes each) when ../shared/corpus/bedtime
sits beside the clone (this machine, CI); elsewhere, 3-minute recordings joined from the bundled
samples with ffmpeg. They sort before the clips, so the director queues them first: the
workers are mid-way through a long file while short ones still wait, which is when the test
kills one and stops the stack.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.cli import REPO, SAMPLES

BEDTIME = REPO.parent / "shared" / "corpus" / "bedtime"
LONG_FOLDER = "bedtime/crimson fairy book"
CLIPS_FOLDER = "clips"
JOINED_SECONDS = 180


def build_tree(target: Path) -> dict[str, float | None]:
    """Fill `target`; return {key: audio seconds if known} with the long recordings first."""
    keys: dict[str, float | None] = {}
    long_folder = target / LONG_FOLDER
    long_folder.mkdir(parents=True)
    stories = sorted(BEDTIME.glob("*.mp3")) if BEDTIME.is_dir() else []
    if stories:
        for story in stories:
            shutil.copy(story, long_folder / story.name)
            keys[f"{LONG_FOLDER}/{story.name}"] = None
    else:
        for index, sample in enumerate(["speeches/jfk.flac", "lj-speech/chapter-1/LJ001-0001.flac",
                                        "librivox/sonnets/sonnet-001-first9s.ogg"]):
            name = f"joined-{index}.flac"
            join(SAMPLES / sample, long_folder / name, JOINED_SECONDS)
            keys[f"{LONG_FOLDER}/{name}"] = float(JOINED_SECONDS)
    for sample in sorted(SAMPLES.rglob("*")):
        if sample.is_file() and sample.suffix not in (".md", ".tsv"):
            key = f"{CLIPS_FOLDER}/{sample.relative_to(SAMPLES).as_posix()}"
            (target / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(sample, target / key)
            keys[key] = None
    for path in [target, *target.rglob("*")]:  # readable by the containers' user, whoever it is
        path.chmod(0o755 if path.is_dir() else 0o644)
    return keys


def join(sample: Path, output: Path, seconds: int) -> None:
    """`sample` played over and over for `seconds` (real speech, one long recording)."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-stream_loop", "-1", "-i",
                    str(sample), "-t", str(seconds), "-ac", "1", "-ar", "16000", str(output)],
                   check=True, timeout=300)


def is_long(key: str) -> bool:
    return key.startswith(LONG_FOLDER + "/")
