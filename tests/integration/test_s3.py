"""S3 sources and destinations against a real LocalStack (host mode): local to S3, S3 to local,
S3 to S3 with nested keys, resume, a changed object, and workers that share no filesystem."""

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
CLIPS = ["lj-speech/chapter-1/LJ001-0002.mp3", "lj-speech/chapter-1/LJ001-0004.m4a",
         "speeches/jfk.flac"]


@pytest.fixture
def s3(localstack):
    return boto3.client("s3", endpoint_url=localstack.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture
def bucket(s3) -> str:
    name = f"wa-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def env(localstack, engine_log: Path) -> dict[str, str]:
    return cli_environment(engine_log, AWS_ENDPOINT_URL=localstack.endpoint,
                           AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test",
                           AWS_SECRET_ACCESS_KEY="test")


def upload(s3, bucket: str, prefix: str, keys: list[str]) -> None:
    for key in keys:
        s3.upload_file(str(SAMPLES / key), bucket, f"{prefix}{key}")


def objects(s3, bucket: str, prefix: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {item["Key"][len(prefix):] for page in pages for item in page.get("Contents", [])}


def calls(engine_log: Path) -> list[str]:
    return sorted(Path(path).suffix for path in read_calls(engine_log))


def test_local_folder_to_s3_mirrors_keys_and_resumes(s3, bucket, env, engine_log,
                                                     tmp_path: Path) -> None:
    source = tmp_path / "in"
    for key in CLIPS:
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / key, source / key)

    first = run_cli("run", str(source), f"s3://{bucket}/transcripts", env=env)

    assert first.returncode == 0, first.stderr
    stored = objects(s3, bucket, "transcripts/")
    for key in CLIPS:
        stem = str(Path(key).with_suffix(""))
        assert {f"{stem}.txt", f"{stem}.vtt", f"{stem}.srt"} <= stored, stored
    assert sum(1 for key in stored if key.startswith(".whisper-automation/done/")) == 3
    body = s3.get_object(Bucket=bucket, Key="transcripts/speeches/jfk.txt")["Body"].read()
    assert b"ask not what your country" in body
    engine_log.unlink()
    again = run_cli("run", str(source), f"s3://{bucket}/transcripts", env=env)
    assert again.returncode == 0 and "already done 3" in again.stderr
    assert read_calls(engine_log) == []


def test_s3_to_local_folder_and_a_changed_object_is_transcribed_again(
        s3, bucket, env, engine_log, tmp_path: Path) -> None:
    upload(s3, bucket, "recordings/", CLIPS)
    destination = tmp_path / "out"

    assert run_cli("run", f"s3://{bucket}/recordings/", str(destination),
                   env=env).returncode == 0
    assert "ask not what your country" in (destination / "speeches/jfk.txt").read_text()
    assert (destination / "lj-speech/chapter-1/LJ001-0004.srt").is_file()
    assert len(read_calls(engine_log)) == 3

    # Another recording uploaded under the same key: a new ETag, so it is done again.
    s3.upload_file(str(SAMPLES / "lj-speech/chapter-1/LJ001-0003.wav"), bucket,
                   "recordings/speeches/jfk.flac")
    engine_log.unlink()
    assert run_cli("run", f"s3://{bucket}/recordings", str(destination),
                   env=env).returncode == 0
    assert len(read_calls(engine_log)) == 1
    assert "Chinese" in (destination / "speeches/jfk.txt").read_text()


def test_s3_to_s3_with_two_workers_that_share_no_folder(localstack, s3, bucket, env,
                                                        engine_log, tmp_path: Path) -> None:
    nested = [f"week{week}/lesson{lesson}/{Path(clip).name}" for week in (1, 2)
              for lesson, clip in enumerate(CLIPS[:2], start=1)]
    for key, clip in zip(nested, CLIPS[:2] * 2, strict=True):
        s3.upload_file(str(SAMPLES / clip), bucket, f"in/{key}")
    stack = env | {"WA_SOURCE": f"s3://{bucket}/in", "WA_DESTINATION": f"s3://{bucket}/out",
                   "WA_QUEUE_NAME": f"s3-{uuid.uuid4().hex[:10]}.fifo",
                   "WA_IDLE_EXIT_SECONDS": "3", "WA_THREADS": "1"}
    director = run_cli("director", env=stack)
    assert director.returncode == 0 and "queued 4" in director.stdout, director.stdout
    workers = []
    for index in range(2):
        scratch = tmp_path / f"machine{index}"  # each worker's own temporary folder
        scratch.mkdir()
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "whisper_automation", "worker"],
            env=stack | {"TMPDIR": str(scratch)}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output

    assert len(read_calls(engine_log)) == 4  # each object exactly once
    stored = objects(s3, bucket, "out/")
    for key in nested:
        assert str(Path(key).with_suffix(".txt")) in stored
    # Each worker read its own downloaded copy, and removed it afterwards.
    paths = [Path(path) for path in read_calls(engine_log)]
    assert {path.parent.name for path in paths} <= {"machine0", "machine1"}, paths
    assert not any(path.exists() for path in paths)
