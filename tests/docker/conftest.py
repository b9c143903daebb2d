"""Fixtures of the Docker tests: an engine (started here if need be), the base images (pulled or
stand-ins) and the stack's images built with `./build.sh build`, prepared once per session
(tests/docker/preparation.py: in the background while the other tests run).

The tests here are marked `docker` (and `integration`); `./build.sh test` runs them, last, and
in CI (CI=true) a machine where no engine can run fails them instead of skipping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.engine import EngineUnavailable
from tests.docker.preparation import Preparation
from tests.support.cli import REPO
from tests.support.require import require

HERE = Path(__file__).resolve().parent
PREPARATION = Preparation()


def is_docker_test(item: pytest.Item) -> bool:
    return HERE in Path(str(item.fspath)).resolve().parents


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only the tests that will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    docker_tests = [item for item in items if is_docker_test(item)]
    others = [item for item in items if not is_docker_test(item)]
    if docker_tests and others:
        items[:] = others + docker_tests
        if not config.option.collectonly:
            PREPARATION.start()


def pytest_sessionfinish() -> None:
    PREPARATION.finish()


@pytest.fixture(scope="session")
def docker_report() -> Iterator[dict]:
    """Durations and sizes measured on the way, written to test-output/docker-run.json."""
    report: dict = {}
    yield report
    output = REPO / "test-output"
    output.mkdir(exist_ok=True)
    (output / "docker-run.json").write_text(json.dumps(report, indent=2) + "\n")


@pytest.fixture(scope="session")
def stack_images(docker_report: dict) -> dict[str, str]:
    """The engine up, the base images there, `./build.sh build` of the director and the tiny.en
    worker done: {"director": image, "worker": image}."""
    try:
        PREPARATION.result()
    except EngineUnavailable as error:
        require(False, f"no Docker engine or base images: {error}")
    docker_report["preparation"] = PREPARATION.report
    return PREPARATION.images
