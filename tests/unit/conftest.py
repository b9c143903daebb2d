"""Fixtures of the unit tests: moto's SQS server on 127.0.0.1, settings that point at it, and a
worker context (tests/support/worker_rig.py) on a private queue."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.support.worker_rig import Rig
from whisper_automation.settings import Settings, load_settings
from whisper_automation.transcription import pipeline


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def settings(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for key in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return dataclasses.replace(
        load_settings(environ={}), sqs_endpoint_url=moto_endpoint,
        queue_name=f"t{uuid.uuid4().hex}.fifo", formats=("txt", "srt"), stable_seconds=0)


@pytest.fixture
def rig(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    rig = Rig(settings, tmp_path)
    monkeypatch.setattr(pipeline, "transcribe_file", rig.engine.transcribe_file)
    return rig
