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

import os
import posixpath
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .layout import Version, check_key, is_candidate_name

MISSING = ("404", "NoSuchKey", "NotFound")


def split_url(url: str) -> tuple[str, str]:
    """'s3://bucket/a/b' -> ('bucket', 'a/b/'); the prefix always ends in '/' unless empty."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"not an S3 location: {url!r} (expected s3://bucket/prefix)")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/") if prefix else ""


def s3_client() -> Any:
    return boto3.session.Session().client(
        "s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))


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
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
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
            self.client.download_file(self.bucket, self._object(key), name)
            yield Path(name)
        finally:
            os.unlink(name)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        for item in self._pages(self.prefix + prefix):
            yield item["Key"][len(self.prefix):]

    def read_bytes(self, key: str) -> bytes | None:
        response = self._missing_as_none(self.client.get_object, key)
        return None if response is None else response["Body"].read()

    def _missing_as_none(self, call: Any, key: str) -> dict | None:
        """One object request; None when the object does not exist, other errors raised."""
        try:
            return call(Bucket=self.bucket, Key=self._object(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING:
                return None
            raise

    def write_atomic(self, key: str, data: bytes) -> None:
        # A single PUT: S3 never shows a partly written object.
        self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object(key))

    def exists(self, key: str) -> bool:
        return self.version(key) is not None
