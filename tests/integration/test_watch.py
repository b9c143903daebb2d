"""`director --watch`: new recordings are picked up while the stack runs; a file still being
written is not taken before it is complete."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.support.cli import SAMPLES, cli_environment
from tests.support.counting_engine import read_calls
from tests.support.stack import wait_for

pytestmark = pytest.mark.integration


def start(command: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "whisper_automation", command, *args],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def slow_copy(source: Path, target: Path, seconds: float, pieces: int = 12) -> None:
    """Write a recording the way a slow download or a copy over the network does."""
    data = source.read_bytes()
    step = len(data) // pieces + 1
    with target.open("wb") as stream:
        for start_at in range(0, len(data), step):
            stream.write(data[start_at:start_at + step])
            stream.flush()
            time.sleep(seconds / pieces)


def test_watch_picks_up_new_recordings_and_waits_for_files_being_written(
        localstack, tmp_path: Path, engine_log: Path, tiny_model_dir: Path) -> None:
    source, destination = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    shutil.copy(SAMPLES / "lj-speech/chapter-1/LJ001-0002.mp3", source / "first.mp3")
    env = cli_environment(
        engine_log, WA_SOURCE=str(source), WA_DESTINATION=str(destination),
        WA_QUEUE_NAME=f"watch-{uuid.uuid4().hex[:10]}.fifo", AWS_ENDPOINT_URL=localstack.endpoint,
        AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
        # A write every 0.5 s against 5 s of stability: a loaded machine may stall the
        # writer, not ten times over.
        WA_WATCH_SECONDS="1", WA_STABLE_SECONDS="5", WA_IDLE_EXIT_SECONDS="0",
        WA_THREADS="1")
    director = start("director", env, "--watch")
    worker = start("worker", env)
    try:
        done = lambda name: (destination / name).is_file()  # noqa: E731
        wait_for(lambda: done("first.txt"), 300, what="the first recording")

        shutil.copy(SAMPLES / "lj-speech/chapter-1/LJ001-0004.m4a", source / "added.m4a")
        wait_for(lambda: done("added.txt"), 300, what="a recording added while running")

        writer = threading.Thread(target=slow_copy, args=(
            SAMPLES / "speeches/jfk.flac", source / "growing.flac", 6.0))
        writer.start()
        while writer.is_alive():  # never taken while it is still growing
            assert not any(Path(c).name == "growing.flac" for c in read_calls(engine_log))
            time.sleep(0.2)
        writer.join()
        wait_for(lambda: done("growing.txt"), 300, what="the finished recording")

        calls = sorted(Path(call).name for call in read_calls(engine_log))
        assert calls == ["added.m4a", "first.mp3", "growing.flac"]
        assert "ask what you can do for your country" in (destination / "growing.txt") \
            .read_text().lower().replace(",", "")
        failures = list((destination / ".whisper-automation/failed").rglob("*.json")) \
            if (destination / ".whisper-automation/failed").exists() else []
        assert failures == []
    finally:
        director.send_signal(signal.SIGTERM)
        worker.send_signal(signal.SIGTERM)
        director_output, _ = director.communicate(timeout=120)
        worker.communicate(timeout=120)
    assert director.returncode == 0, director_output
    assert "watching every 1 s" in director_output
