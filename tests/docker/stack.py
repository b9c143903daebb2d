"""Driving the Docker stack the way a user does: `./build.sh build | deploy | status | down`
with a .env of the test's own (ENV_FILE), and reading what the containers did (`docker logs`)
and left (the destination folder)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.cli import REPO
from tests.support.stack import wait_for as wait_until

ENV_EXAMPLE = REPO / ".env.example"
STATE_DIR = ".whisper-automation"
FORMATS = (".txt", ".vtt", ".srt")
# The images every Docker test uses; a tag of their own, so a user's images are left alone.
IMAGE_SETTINGS = {"ENGINE": "faster-whisper", "MODEL": "tiny.en", "IMAGE_TAG": "e2e-test"}
# Non-root and not this machine's usual first user: files the containers write must carry it.
TEST_UID = 4242


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without settings a stack could pick up by mistake."""
    settings = set(re.findall(r"^(\w+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("WA_", "AWS_", "COMPOSE_")) and key not in settings
           and key not in ("ENV_FILE", "MODEL_DIR")}
    env.update(extra)
    return env


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = 600,
        cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env or clean_environment(), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run(["docker", *args], timeout=timeout)


@dataclass
class DockerStack:
    """One deployment of docker-compose.yml, configured by its own env file in `folder`."""

    folder: Path
    settings: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def env_file(self) -> Path:
        return self.folder / "stack.env"

    @property
    def project(self) -> str:
        return self.settings["COMPOSE_PROJECT_NAME"]

    @property
    def destination(self) -> Path:
        return Path(self.settings["DESTINATION_DIR"])

    def write_env(self, **changes: str) -> None:
        """.env.example with the test's values, as a user would edit it."""
        self.settings.update(changes)
        lines, seen = [], set()
        for line in ENV_EXAMPLE.read_text().splitlines():
            name = line.partition("=")[0]
            if re.fullmatch(r"\w+", name) and name in self.settings:
                line = f"{name}={self.settings[name]}"
                seen.add(name)
            lines.append(line)
        lines += [f"{name}={value}" for name, value in self.settings.items() if name not in seen]
        self.env_file.write_text("\n".join(lines) + "\n")

    def build_sh(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        result = run([str(REPO / "build.sh"), *args],
                     env=clean_environment(ENV_FILE=str(self.env_file),
                                           # several builds share the engine at once
                                           PRUNE_DANGLING_IMAGES="0"),
                     timeout=timeout)
        name = " ".join(args)
        runs = sum(1 for key in self.timings if key.split(" #")[0] == name)
        self.timings[name if not runs else f"{name} #{runs + 1}"] = time.monotonic() - started
        return result

    def containers(self, service: str) -> list[str]:
        """Names of the service's containers, running or exited, oldest first."""
        result = docker("ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}",
                        "--filter", f"label=com.docker.compose.service={service}",
                        "--format", "{{.CreatedAt}}\t{{.Names}}")
        assert result.returncode == 0, result.stderr
        return [line.split("\t")[1] for line in sorted(result.stdout.splitlines())]

    def done_keys(self) -> set[str]:
        done = self.destination / STATE_DIR / "done"
        return {path.relative_to(done).as_posix().rpartition("#")[0]
                for path in done.rglob("*.json")} if done.is_dir() else set()

    def status_page(self, path: str = "/status.json") -> str:
        url = f"http://127.0.0.1:{self.settings['STATUS_PORT']}{path}"
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read().decode("utf-8")


def logs(container: str) -> list[dict]:
    """The container's log lines (stdout and stderr), JSON lines parsed, others as text."""
    result = docker("logs", container)
    assert result.returncode == 0, result.stderr
    entries = []
    for line in (result.stdout + result.stderr).splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"message": line}
        entries.append(entry if isinstance(entry, dict) else {"message": line})
    return entries


def events(entries: list[dict], kind: str) -> list[dict]:
    return [entry for entry in entries if entry.get("event") == kind]


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
             interval: float = 1.0) -> object:
    """tests/support/stack.py's wait_for, polling once a second: a stack of containers."""
    return wait_until(predicate, timeout, interval=interval, what=what)


def compose_command() -> list[str]:
    """`docker compose` when the plugin is there, else Debian's docker-compose (as build.sh)."""
    if run(["docker", "compose", "version"], timeout=60).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def host_ids() -> tuple[int, int]:
    """The containers' uid and gid: TEST_UID as root (files are checked to carry it), else the
    user running the tests (who could not read files of another uid)."""
    return (TEST_UID, TEST_UID) if os.geteuid() == 0 else (os.getuid(), os.getgid())


def new_stack(folder: Path, **settings: str) -> DockerStack:
    """A stack with its own project name, ports and folders under `folder`; its env file
    written, nothing started."""
    uid, gid = host_ids()
    source, destination = folder / "recordings", folder / "transcripts"
    source.mkdir(exist_ok=True)
    destination.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        os.chown(destination, uid, gid)
    values = {"COMPOSE_PROJECT_NAME": f"wa-e2e-{uuid.uuid4().hex[:8]}",
              "SOURCE_DIR": str(source), "DESTINATION_DIR": str(destination),
              "HOST_UID": str(uid), "HOST_GID": str(gid), "WORKER_REPLICAS": "2",
              "WORKER_CPUS": "1", "WORKER_MEMORY": "2g", "WA_LOG_FORMAT": "json",
              "WA_IDLE_EXIT_SECONDS": "20", "LOCALSTACK_PORT": str(free_port()),
              "STATUS_PORT": str(free_port()), **IMAGE_SETTINGS}
    values.update(settings)
    stack = DockerStack(folder, values)
    stack.write_env()
    return stack


def image_sizes() -> dict[str, int]:
    result = docker("images", "--format", "{{.Repository}}:{{.Tag}}\t{{.ID}}")
    sizes = {}
    for line in result.stdout.splitlines():
        tag, image = line.split("\t")
        if tag.endswith(":" + IMAGE_SETTINGS["IMAGE_TAG"]) or tag.startswith(
                ("python:", "localstack/")):
            size = docker("image", "inspect", "--format", "{{.Size}}", image)
            sizes[tag] = int(size.stdout.strip())
    return sizes
