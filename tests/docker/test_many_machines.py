"""Many machines in containers: two worker-only stacks from docker-compose.aws.yml (two compose
project names, standing for two machines, one worker each) against one LocalStack with S3 for
the recordings and the transcripts and SQS for the queue; the director runs once, from here."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pytest

from tests.docker.stack import (
    FORMATS,
    IMAGE_SETTINGS,
    clean_environment,
    compose_command,
    docker,
    events,
    free_port,
    logs,
    run,
    wait_for,
)
from tests.support.cli import SAMPLES, cli_environment, run_cli

pytestmark = [pytest.mark.docker, pytest.mark.integration]

MACHINES = ("machine-a", "machine-b")
SOURCE, DESTINATION = "s3://wa-recordings/recordings", "s3://wa-transcripts/transcripts"
QUEUE = "many-machines.fifo"
WAIT = 900


def test_two_machines_transcribe_every_s3_object_once_with_keys_mirrored(
        stack_images: dict[str, str], tmp_path: Path) -> None:
    name = f"wa-e2e-aws-{uuid.uuid4().hex[:8]}"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    localstack = f"{name}-localstack"
    started = docker("run", "-d", "--name", localstack, "-e", "SERVICES=sqs,s3",
                     "-e", "EAGER_SERVICE_LOADING=1", "-p", f"127.0.0.1:{port}:4566",
                     "localstack/localstack:4.14.0")
    assert started.returncode == 0, started.stderr
    empty_env_file = tmp_path / "empty.env"  # never the clone's own .env
    empty_env_file.write_text("")
    projects = [f"{name}-{machine}" for machine in MACHINES]
    compose_env = clean_environment(
        WA_SOURCE=SOURCE, WA_DESTINATION=DESTINATION, WA_QUEUE_NAME=QUEUE,
        AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL="http://localstack:4566",
        AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", WORKER_REPLICAS="1",
        WORKER_CPUS="1", **IMAGE_SETTINGS)

    def compose(project: str, *args: str):
        return run([*compose_command(), "-p", project, "-f", "docker-compose.aws.yml",
                    "--env-file", str(empty_env_file), *args], env=compose_env, timeout=600)

    try:
        wait_for(lambda: healthy(endpoint), 120, "LocalStack (S3 and SQS)")
        keys = upload_samples(endpoint)
        env = cli_environment(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="local",
                              AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1",
                              WA_QUEUE_NAME=QUEUE)
        director = run_cli("director", SOURCE, DESTINATION, env=env, timeout=300)
        assert director.returncode == 0, director.stderr
        assert director.stdout.strip().endswith(f"queued {len(keys)}"), director.stdout

        for project in projects:
            # Created, joined to LocalStack's container (as `localstack`), then started.
            created = compose(project, "up", "--no-start")
            assert created.returncode == 0, created.stderr
            joined = docker("network", "connect", "--alias", "localstack", f"{project}_default",
                            localstack)
            assert joined.returncode == 0, joined.stderr
            up = compose(project, "start")
            assert up.returncode == 0, up.stderr

        wait_for(lambda: done_keys(endpoint) >= set(keys), WAIT, "every object transcribed")
        time.sleep(5)  # a duplicate would show up as a second "done" in the logs by now
        per_machine = {project: worker_logs(project) for project in projects}

        done = Counter(entry["key"] for entries in per_machine.values()
                       for entry in events(entries, "done"))
        assert done == Counter(dict.fromkeys(keys, 1))
        for project, entries in per_machine.items():
            assert any(" ready: " in entry.get("message", "") for entry in entries), project
        assert done_keys(endpoint) == set(keys)
        written = objects(endpoint, "wa-transcripts", "transcripts/")
        expected = {"transcripts/" + Path(key).with_suffix(suffix).as_posix()
                    for key in keys for suffix in FORMATS}
        assert {key for key in written if "/.whisper-automation/" not in key} == expected
    finally:
        # LocalStack first: while it is joined to a project's network, `down` cannot remove
        # that network, and leaked networks use up the engine's address pools.
        docker("rm", "-f", localstack)
        for project in projects:
            compose(project, "down", "--volumes", "--remove-orphans")


def healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=5) as response:
            services = json.load(response)["services"]
    except (OSError, ValueError):
        return False
    return all(services.get(name) in ("available", "running") for name in ("s3", "sqs"))


def s3(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def upload_samples(endpoint: str) -> list[str]:
    client = s3(endpoint)
    client.create_bucket(Bucket="wa-recordings")
    client.create_bucket(Bucket="wa-transcripts")
    keys = []
    for sample in sorted(SAMPLES.rglob("*")):
        if sample.is_file() and sample.suffix not in (".md", ".tsv"):
            key = sample.relative_to(SAMPLES).as_posix()
            client.upload_file(str(sample), "wa-recordings", f"recordings/{key}")
            keys.append(key)
    return keys


def objects(endpoint: str, bucket: str, prefix: str) -> set[str]:
    pages = s3(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def done_keys(endpoint: str) -> set[str]:
    prefix = "transcripts/.whisper-automation/done/"
    return {key[len(prefix):].rpartition("#")[0]
            for key in objects(endpoint, "wa-transcripts", prefix)}


def worker_logs(project: str) -> list[dict]:
    listed = docker("ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                    "--format", "{{.Names}}")
    return [entry for container in listed.stdout.split() for entry in logs(container)]
