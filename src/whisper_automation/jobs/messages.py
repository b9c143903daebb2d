"""The queue message: one recording to transcribe, encoded as JSON, checked before any use."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from whisper_automation.errors import BadMessage
from whisper_automation.settings import DEFAULT_EXTENSIONS
from whisper_automation.storage.fingerprint import is_fingerprint
from whisper_automation.storage.layout import (
    UnsafeKey,
    Version,
    check_key,
    is_recording_key,
    printable,
    record_name_problem,
)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Job:
    key: str
    version: Version
    output_stem: str
    retry: int = 0  # >0 when a failed file is queued again on purpose (--retry-failed)
    # "sha256:<hex>" when the director already read the bytes (fingerprint.py); the worker
    # computes it otherwise, so a version is fingerprinted once.
    fingerprint: str = ""
    # Re-transcription: the engine and model label (catalog.model_label) a recording that is
    # done with another one is queued again for; "" for ordinary work.
    redo: str = ""

    def deduplication_id(self) -> str:
        """Same recording, same version, same retry -> same id, so SQS drops a re-send.

        SQS remembers an id for 5 minutes even after the message is deleted, so a deliberate
        retry must change it: that is what `retry` is for.
        """
        base = f"{self.key}\0{self.version.token()}\0{self.retry}"
        # A re-transcription is new work for a version already queued once: its own id.
        return _digest(base + (f"\0redo\0{self.redo}" if self.redo else ""))

    def group_id(self) -> str:
        """One group per file: FIFO hands out one in-flight message per group, so a shared group
        would serialise every worker, while a per-file group keeps two messages for the same
        file (a re-queue) from ever being worked on at the same time."""
        return _digest(self.key)[:64]


def encode(job: Job) -> str:
    return json.dumps({
        "format": FORMAT_VERSION,
        "key": job.key,
        "version": job.version.to_dict(),
        "output_stem": job.output_stem,
        "retry": job.retry,
        "fingerprint": job.fingerprint,
        "redo": job.redo,
    })  # ASCII escapes keep odd names (even undecodable bytes) within what SQS accepts


def decode(body: str, extensions: Iterable[str] = tuple(DEFAULT_EXTENSIONS.split())) -> Job:
    """Parse and validate a message body; raise BadMessage with the reason. The key must be one
    the scanner could have queued (layout.is_recording_key with the worker's WA_EXTENSIONS: so
    no hidden name, no state folder, no transcript) and whose records fit the destination."""
    try:
        data = json.loads(body)
        key = check_key(data["key"])
        version = Version.from_dict(data["version"])
        stem = str(data["output_stem"])
        retry = int(data.get("retry", 0))
        fingerprint = str(data.get("fingerprint") or "")
        redo = str(data.get("redo") or "")
    except UnsafeKey as error:
        raise BadMessage(f"unsafe key: {error}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BadMessage(f"unreadable message ({type(error).__name__}: {error})") from None
    # The three forms layout.assign_output_stems produces; anything else is refused.
    allowed = (key, posixpath.splitext(key)[0])
    if stem not in allowed and not re.fullmatch(re.escape(key) + r"\.[0-9a-f]{8}", stem):
        raise BadMessage(f"output stem {stem!r} does not belong to key {key!r}")
    if not is_recording_key(key, extensions):
        raise BadMessage(f"{printable(key)!r} is not a recording the director queues (a hidden "
                         "name, or an extension outside WA_EXTENSIONS)")
    problem = record_name_problem(key, version.token())
    if problem:
        raise BadMessage(f"{printable(key)!r}: {problem}")
    if fingerprint and not is_fingerprint(fingerprint):
        raise BadMessage(f"fingerprint {fingerprint[:80]!r} is not sha256:<64 hex digits>")
    return Job(key=key, version=version, output_stem=stem, retry=retry,
               fingerprint=fingerprint, redo=redo[:200])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
