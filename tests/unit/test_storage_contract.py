"""Both storage backends answer the same conditions with the same errors: a folder on disk and
S3 (moto's server on 127.0.0.1), call by call, for unsafe keys and for a store that refuses to
be read. (tests/integration/test_storage_backends.py checks the rest of the contract against
LocalStack.)"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.privileges import obeying_file_modes
from tests.support.storage_probe import answers
from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.s3 import S3Storage

REPO = Path(__file__).resolve().parents[2]
UNSAFE_KEYS = ["../outside.wav", "/etc/passwd", "a//b.wav", "a/./b.wav", "a/../b.wav",
               "a\x00b.wav", ""]
KEY_CALLS = ["version", "read_bytes", "exists", "fingerprint", "local_file", "write_atomic",
             "delete", "list_keys"]
# local_file is left out of the unreadable case: a folder hands over the path without reading
# it (the read fails where the file is opened, a PermissionError the worker treats as a
# refused read, worker.verdict); S3 downloads at once.
READING_CALLS = ["scan", "list_keys", "version", "read_bytes", "exists", "fingerprint",
                 "write_atomic", "delete"]
REFUSED = ["StorageError", "permanent"]


@pytest.fixture
def s3_client(moto_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"wa-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_both_backends_refuse_an_unsafe_key_with_the_same_error(
        key: str, tmp_path: Path, s3_client: Any, bucket: str) -> None:
    folder = answers(LocalStorage(tmp_path / "root"), key, KEY_CALLS)
    s3 = answers(S3Storage(f"s3://{bucket}/some/prefix", client=s3_client), key, KEY_CALLS)
    assert folder == s3
    unsafe = ["UnsafeKey", "permanent"]
    assert [folder[name] for name in ("version", "read_bytes", "fingerprint", "local_file",
                                      "write_atomic", "delete")] == [unsafe] * 6, folder
    assert folder["exists"] == ["returned", False]  # nothing of ours can be there


FOLDER_PROGRAM = """
import json, sys
from tests.support.storage_probe import answers
from whisper_automation.storage.base import LocalStorage
print(json.dumps(answers(LocalStorage(sys.argv[1]), "a.wav", json.loads(sys.argv[2]))))
"""


def unreadable_folder_answers(tmp_path: Path) -> dict[str, list]:
    root = tmp_path / "locked"
    LocalStorage(root).write_atomic("a.wav", b"RIFF")
    root.chmod(0)
    try:
        # In a process that file modes stop (as root: without CAP_DAC_OVERRIDE).
        result = subprocess.run([*obeying_file_modes(), sys.executable, "-c", FOLDER_PROGRAM,
                                 str(root), json.dumps(READING_CALLS)], cwd=REPO,
                                capture_output=True, text=True, timeout=120)
    finally:
        root.chmod(0o755)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refuse_every_request(**_: Any) -> None:
    # Stands in for a bucket policy that denies this user (moto does not enforce one): S3's
    # answer, 403 AccessDenied, before anything is sent.
    raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                       "ResponseMetadata": {"HTTPStatusCode": 403}}, "request")


def test_both_backends_call_a_store_that_refuses_reads_a_permanent_storage_error(
        tmp_path: Path, s3_client: Any, bucket: str) -> None:
    S3Storage(f"s3://{bucket}/p", client=s3_client).write_atomic("a.wav", b"RIFF")
    s3_client.meta.events.register("before-call.s3", refuse_every_request)
    s3 = answers(S3Storage(f"s3://{bucket}/p", client=s3_client), "a.wav", READING_CALLS)
    folder = unreadable_folder_answers(tmp_path)
    assert folder == s3
    assert folder == {name: REFUSED for name in READING_CALLS}


def test_a_folder_inside_the_source_that_cannot_be_read_is_skipped_not_fatal(
        tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    storage.write_atomic("open/a.wav", b"RIFF")
    storage.write_atomic("locked/b.wav", b"RIFF")
    program = ("import json, sys\nfrom whisper_automation.storage.base import LocalStorage\n"
               "print(json.dumps([key for key, _ in LocalStorage(sys.argv[1]).scan(['wav'])]))")
    (tmp_path / "root" / "locked").chmod(0)
    try:
        result = subprocess.run([*obeying_file_modes(), sys.executable, "-c", program,
                                 str(tmp_path / "root")], capture_output=True, text=True,
                                timeout=120)
    finally:
        (tmp_path / "root" / "locked").chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["open/a.wav"]
    assert "skipped locked/" in result.stderr
