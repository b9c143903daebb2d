"""The Storage contract, checked on both backends: a folder on disk and S3 (a real LocalStack).
Listing means "inside this folder" on both; missing objects are answers, not errors; I/O trouble
is a StorageError that says whether a retry may help."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from whisper_automation.storage.base import LocalStorage, Storage, StorageError
from whisper_automation.storage.layout import UnsafeKey
from whisper_automation.storage.s3 import S3Storage

pytestmark = pytest.mark.integration

KEYS = ["a.txt", "x/b.txt", "x/y/c.txt", "xy/d.txt", "x#1/e.txt", ".state/done/x/f.json"]


@pytest.fixture
def aws(localstack, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in {"AWS_ENDPOINT_URL": localstack.endpoint,
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
                        "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)
    return localstack.endpoint


@pytest.fixture
def bucket(aws: str) -> str:
    name = f"wa-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["folder", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "folder":
        yield LocalStorage(tmp_path / "root")
    else:
        yield S3Storage(f"s3://{request.getfixturevalue('bucket')}/some/prefix")


def test_list_keys_means_inside_a_folder_on_every_backend(storage: Storage) -> None:
    for key in KEYS:
        storage.write_atomic(key, key.encode())
    assert sorted(storage.list_keys()) == sorted(KEYS)
    assert sorted(storage.list_keys("x")) == ["x/b.txt", "x/y/c.txt"]  # never xy/ or x#1/
    assert sorted(storage.list_keys("x/")) == ["x/b.txt", "x/y/c.txt"]
    assert list(storage.list_keys("x/y")) == ["x/y/c.txt"]
    assert list(storage.list_keys(".state/done")) == [".state/done/x/f.json"]
    assert list(storage.list_keys("nothing")) == []
    assert list(storage.list_keys("a.txt")) == []  # a file is not a folder
    with pytest.raises(UnsafeKey):
        list(storage.list_keys("../x"))


def test_reads_writes_and_deletes_mean_the_same_on_every_backend(storage: Storage) -> None:
    assert storage.read_bytes("a/missing.txt") is None
    assert storage.version("a/missing.txt") is None
    assert storage.exists("a/missing.txt") is False
    storage.delete("a/missing.txt")  # deleting what is not there is fine
    storage.write_atomic("a/b.txt", b"first")
    storage.write_atomic("a/b.txt", b"second")
    assert storage.read_bytes("a/b.txt") == b"second"
    assert storage.exists("a/b.txt") and storage.version("a/b.txt").size == 6
    with storage.local_file("a/b.txt") as path:
        assert Path(path).read_bytes() == b"second"
    storage.delete("a/b.txt")
    assert not storage.exists("a/b.txt") and list(storage.list_keys("a")) == []


def test_s3_folder_markers_are_not_listed(bucket: str) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key="p/x/", Body=b"")
    storage = S3Storage(f"s3://{bucket}/p")
    storage.write_atomic("x/a.txt", b".")
    assert list(storage.list_keys("x")) == ["x/a.txt"]


def test_a_missing_bucket_is_a_permanent_storage_error(aws: str) -> None:
    storage = S3Storage(f"s3://wa-missing-{uuid.uuid4().hex[:12]}/p")
    with pytest.raises(StorageError) as raised:
        storage.write_atomic("a.txt", b".")
    assert raised.value.retryable is False and "NoSuchBucket" in str(raised.value)
    with pytest.raises(StorageError):
        list(storage.list_keys())


def test_an_unreachable_s3_is_a_retryable_storage_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed}",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
                        "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", config=Config(retries={"max_attempts": 1}))
    storage = S3Storage("s3://bucket/p", client=client)
    for call in (lambda: storage.write_atomic("a.txt", b"."), lambda: storage.version("a.txt"),
                 lambda: list(storage.list_keys()), lambda: storage.read_bytes("a.txt")):
        with pytest.raises(StorageError) as raised:
            call()
        assert raised.value.retryable is True, raised.value
