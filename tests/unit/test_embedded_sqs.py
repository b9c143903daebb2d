"""The one-machine run's embedded queue server answers SQS on 127.0.0.1 and, once the run is
over, is gone: its port closed, its thread ended (it is stopped by waking its select loop, not
by waiting out werkzeug's half-second poll)."""

from __future__ import annotations

import socket
import threading

import boto3
import pytest

from whisper_automation.jobs.embedded import EmbeddedSQS


def test_the_embedded_server_answers_sqs_then_is_gone() -> None:
    with EmbeddedSQS() as server:
        host, port = server.endpoint.removeprefix("http://").split(":")
        assert host == "127.0.0.1"
        client = boto3.client("sqs", endpoint_url=server.endpoint, region_name="us-east-1",
                              aws_access_key_id="embedded", aws_secret_access_key="embedded")
        client.create_queue(QueueName="test.fifo", Attributes={"FifoQueue": "true"})
        assert any(url.endswith("/test.fifo") for url in client.list_queues()["QueueUrls"])
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=1).close()
    assert not [thread for thread in threading.enumerate()
                if thread.name == "embedded-sqs-stop"]
