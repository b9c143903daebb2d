"""Fixtures of the Docker tests: an engine (started here if need be), the base images (pulled or
stand-ins), and the stack's images built once with `./build.sh build`.

The tests here are marked `docker` (and `integration`); `./build.sh test` runs them, and in CI
(CI=true) a machine where no engine can run fails them instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, require
from tests.docker.engine import Engine, EngineUnavailable, start_engine
from tests.docker.stack import DockerStack, free_port
from tests.docker.standins import ensure_base_images

# The images every Docker test uses; a tag of their own, so a user's images are left alone.
IMAGE_SETTINGS = {"ENGINE": "faster-whisper", "MODEL": "tiny.en", "IMAGE_TAG": "e2e-test"}
# Non-root and not this machine's usual first user: files the containers write must carry it.
TEST_UID = 4242


@pytest.fixture(scope="session")
def docker_report() -> Iterator[dict]:
    """Durations and sizes measured on the way, written to test-output/docker-run.json."""
    report: dict = {}
    yield report
    output = REPO / "test-output"
    output.mkdir(exist_ok=True)
    (output / "docker-run.json").write_text(json.dumps(report, indent=2) + "\n")


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory, docker_report: dict
                  ) -> Iterator[Engine]:
    started = time.monotonic()
    try:
        engine = start_engine(tmp_path_factory.mktemp("dockerd"))
    except EngineUnavailable as error:
        require(False, f"no Docker engine: {error}")
    docker_report["engine"] = {"started_here": engine.pid is not None,
                               "seconds": round(time.monotonic() - started, 1)}
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def base_images(docker_engine: Engine, docker_report: dict) -> dict[str, str]:
    log: list[str] = []
    started = time.monotonic()
    try:
        images = ensure_base_images(log)
    except EngineUnavailable as error:
        require(False, f"base images: {error}")
    docker_report["base_images"] = {"images": images, "log": log,
                                    "seconds": round(time.monotonic() - started, 1)}
    return images


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder the containers' user can reach (pytest's own tmp folders are 0o700)."""
    folder = Path(tempfile.mkdtemp(prefix="wa-docker-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def host_ids() -> tuple[int, int]:
    """The containers' uid and gid: TEST_UID as root (files are checked to carry it), else the
    user running the tests (who could not read files of another uid)."""
    return (TEST_UID, TEST_UID) if os.geteuid() == 0 else (os.getuid(), os.getgid())


def new_stack(folder: Path, **settings: str) -> DockerStack:
    """A stack with its own project name, ports and folders under `folder` (not yet written)."""
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


@pytest.fixture(scope="session")
def stack_images(base_images: dict[str, str], docker_report: dict) -> dict[str, str]:
    """`./build.sh build` of the director and the tiny.en worker, once per session."""
    folder = Path(tempfile.mkdtemp(prefix="wa-docker-build-"))
    try:
        stack = new_stack(folder)
        result = stack.build_sh("build", timeout=3600)
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
        docker_report["build"] = {"seconds": round(stack.timings["build"], 1),
                                  "image_sizes": image_sizes()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"director": f"whisper-automation-director:{IMAGE_SETTINGS['IMAGE_TAG']}",
            "worker": "whisper-automation-worker-{ENGINE}-{MODEL}:{IMAGE_TAG}".format(
                **IMAGE_SETTINGS)}


def image_sizes() -> dict[str, int]:
    from tests.docker.stack import docker

    result = docker("images", "--format", "{{.Repository}}:{{.Tag}}\t{{.ID}}")
    sizes = {}
    for line in result.stdout.splitlines():
        tag, image = line.split("\t")
        if tag.endswith(":" + IMAGE_SETTINGS["IMAGE_TAG"]) or tag.startswith(
                ("python:", "localstack/")):
            size = docker("image", "inspect", "--format", "{{.Size}}", image)
            sizes[tag] = int(size.stdout.strip())
    return sizes
