"""S3 storage: `s3://bucket/prefix` as a source or a destination, behind the same interface as
a local folder (storage.Storage).

Keys are relative to the prefix. A recording's version is its size and ETag. Listing streams
page by page (1,000 keys a request), so 100,000+ objects never sit in memory as responses. An
S3 PUT is atomic (an object appears whole or not at all), and the done record is written after
the transcripts, so a half-finished upload never counts as done. Workers download a recording
to a temporary file and remove it afterwards. Endpoints and credentials come from the normal
AWS chain (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL point it at LocalStack).
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from s3transfer.exceptions import RetriesExceededError, S3DownloadFailedError

from whisper_automation.errors import StorageError
from whisper_automation.settings import TUNING
from whisper_automation.storage.fingerprint import ALGORITHM, CHUNK_BYTES, fingerprint_hex
from whisper_automation.storage.layout import UnsafeKey, Version, check_key, is_candidate_name

MISSING = ("404", "NoSuchKey", "NotFound")
THROTTLED = ("SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
             "RequestTimeTooSkewed", "ServiceUnavailable", "InternalError")


@contextmanager
def s3_errors(action: str) -> Iterator[None]:
    """botocore's and s3transfer's exceptions -> StorageError, retryable when S3 was not reached,
    timed out, throttled or answered 5xx (botocore has already retried those itself)."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        raise StorageError(f"{action}: {error}", retryable=status >= 500 or code in THROTTLED) \
            from error
    except (BotoConnectionError, HTTPClientError, RetriesExceededError,
            S3DownloadFailedError) as error:
        raise StorageError(f"{action}: {error}", retryable=True) from error
    except BotoCoreError as error:  # credentials, configuration: nothing a retry fixes
        raise StorageError(f"{action}: {error}", retryable=False) from error


def split_url(url: str) -> tuple[str, str]:
    """'s3://bucket/a/b' -> ('bucket', 'a/b/'); the prefix always ends in '/' unless empty."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"not an S3 location: {url!r} (expected s3://bucket/prefix)")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/") if prefix else ""


def s3_client() -> Any:
    return boto3.session.Session().client("s3", config=Config(
        retries={"mode": "standard", "max_attempts": TUNING.aws_max_attempts},
        connect_timeout=TUNING.aws_connect_timeout_seconds,
        read_timeout=TUNING.s3_read_timeout_seconds))


class S3Storage:
    def __init__(self, url: str, client: Any = None) -> None:
        self.root = url
        self.bucket, self.prefix = split_url(url)
        self.client = client or s3_client()

    def __repr__(self) -> str:
        return f"S3Storage({self.root!r})"

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _pages(self, prefix: str) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=prefix))
        while True:
            with s3_errors(f"cannot list s3://{self.bucket}/{prefix}"):
                page = next(pages, None)
            if page is None:
                return
            yield from page.get("Contents", [])

    def scan(self, extensions: Iterable[str]) -> Iterator[tuple[str, Version]]:
        wanted = tuple(extensions)
        for item in self._pages(self.prefix):
            key = item["Key"][len(self.prefix):]
            if not key or key.endswith("/") or any(p.startswith(".") for p in key.split("/")):
                continue
            if is_candidate_name(posixpath.basename(key), wanted):
                yield key, Version(size=int(item["Size"]), etag=item["ETag"].strip('"'))

    def version(self, key: str) -> Version | None:
        head = self._missing_as_none(self.client.head_object, key)
        if head is None:
            return None
        return Version(size=int(head["ContentLength"]), etag=head["ETag"].strip('"'))

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        """The object downloaded to a temporary file (same extension), removed afterwards."""
        suffix = posixpath.splitext(key)[1]
        handle, name = tempfile.mkstemp(prefix="whisper-automation-", suffix=suffix)
        os.close(handle)
        try:
            with s3_errors(f"cannot download {key}"):
                self.client.download_file(self.bucket, self._object(key), name)
            yield Path(name)
        finally:
            os.unlink(name)

    def list_keys(self, folder: str = "") -> Iterator[str]:
        """Every object key inside a folder, at any depth ("" = everything; "a/b" and "a/b/" =
        inside a/b, never a/bc), like a folder on disk; folder markers (keys ending in "/") are
        not listed."""
        folder = folder.strip("/")
        prefix = self.prefix + (check_key(folder) + "/" if folder else "")
        for item in self._pages(prefix):
            key = item["Key"][len(self.prefix):]
            if not key.endswith("/"):
                yield key

    def read_bytes(self, key: str) -> bytes | None:
        response = self._missing_as_none(self.client.get_object, key)
        if response is None:
            return None
        with s3_errors(f"cannot read {key}"):
            return response["Body"].read()

    def _missing_as_none(self, call: Any, key: str) -> dict | None:
        """One object request; None when the object does not exist, StorageError otherwise."""
        with s3_errors(f"cannot read {key}"):
            try:
                return call(Bucket=self.bucket, Key=self._object(key))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in MISSING:
                    return None
                raise

    def write_atomic(self, key: str, data: bytes) -> None:
        # A single PUT: S3 never shows a partly written object.
        with s3_errors(f"cannot write {key}"):
            self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)

    def delete(self, key: str) -> None:
        with s3_errors(f"cannot delete {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._object(key))

    def exists(self, key: str) -> bool:
        """As on a folder: nothing of ours is at a key outside the root."""
        try:
            return self.version(key) is not None
        except UnsafeKey:
            return False

    def fingerprint(self, key: str) -> str | None:
        """The object's content fingerprint: its stored SHA-256 checksum when it was uploaded
        with one (one HEAD request, no bytes read), else its bytes read once; None if gone.

        A multipart upload's checksum is a checksum of the parts' checksums ("COMPOSITE",
        written "<base64>-<parts>"): not the content's, so such objects are read."""
        head = self._missing_as_none(
            lambda **names: self.client.head_object(ChecksumMode="ENABLED", **names), key)
        if head is None:
            return None
        stored = head.get("ChecksumSHA256") or ""
        if stored and "-" not in stored and head.get("ChecksumType") != "COMPOSITE":
            return fingerprint_hex(base64.b64decode(stored).hex())
        response = self._missing_as_none(self.client.get_object, key)
        if response is None:
            return None
        digest = hashlib.new(ALGORITHM)
        with s3_errors(f"cannot read {key}"):
            for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
                digest.update(chunk)
        return fingerprint_hex(digest.hexdigest())
