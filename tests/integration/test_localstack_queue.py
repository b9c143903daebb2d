"""Director and workers against a real LocalStack (host mode): SQS keeps deduplication ids for
five minutes like AWS does (moto forgets them on delete), so double-queueing is tested here."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from tests.support.cli import SAMPLES, cli_environment, run_cli
from tests.support.counting_engine import read_calls

pytestmark = pytest.mark.integration


@pytest.fixture
def stack_env(localstack, engine_log: Path, tmp_path: Path) -> dict[str, str]:
    source = tmp_path / "in"
    shutil.copytree(SAMPLES / "lj-speech", source / "lj-speech")
    shutil.copytree(SAMPLES / "speeches", source / "speeches")
    return cli_environment(
        engine_log,
        WA_SOURCE=str(source), WA_DESTINATION=str(tmp_path / "out"),
        WA_QUEUE_NAME=f"test-{uuid.uuid4().hex[:12]}.fifo",
        AWS_ENDPOINT_URL=localstack.endpoint, AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
        WA_IDLE_EXIT_SECONDS="3",
    )


def queue_counts(env: dict[str, str]) -> tuple[int, int]:
    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    url = sqs.get_queue_url(QueueName=env["WA_QUEUE_NAME"])["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-m", "whisper_automation", "worker"], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(count)]


def wait_all(workers: list[subprocess.Popen], timeout: float = 300) -> list[str]:
    outputs = []
    for worker in workers:
        output, _ = worker.communicate(timeout=timeout)
        assert worker.returncode == 0, output
        outputs.append(output)
    return outputs


def test_director_run_twice_queues_each_file_once(stack_env: dict[str, str]) -> None:
    first = run_cli("director", env=stack_env)
    assert first.returncode == 0, first.stderr
    assert "found 6, already done 0, queued 6" in first.stdout
    second = run_cli("director", env=stack_env)
    assert second.returncode == 0, second.stderr
    assert queue_counts(stack_env) == (6, 0)


def test_two_directors_at_once_and_two_workers_transcribe_each_file_once(
        stack_env: dict[str, str], engine_log: Path) -> None:
    directors = [subprocess.Popen([sys.executable, "-m", "whisper_automation", "director"],
                                  env=stack_env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    for director in directors:
        output, _ = director.communicate(timeout=120)
        assert director.returncode == 0, output
    assert queue_counts(stack_env) == (6, 0)

    wait_all(start_workers(stack_env, 2))

    calls = sorted(Path(call).name for call in read_calls(engine_log))
    assert calls == sorted(p.name for p in Path(stack_env["WA_SOURCE"]).rglob("*.*")), calls
    assert queue_counts(stack_env) == (0, 0)
    destination = Path(stack_env["WA_DESTINATION"])
    assert (destination / "speeches/jfk.txt").is_file()
    assert (destination / "lj-speech/chapter-1/LJ001-0006.vtt").is_file()

    # Deploying again: the director finds everything done and queues nothing.
    again = run_cli("director", env=stack_env)
    assert "already done 6, queued 0" in again.stdout
