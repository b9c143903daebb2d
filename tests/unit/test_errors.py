"""One error vocabulary: every error of the package says why and whether it may pass, and the
worker turns any failure into what becomes of the message in one place (worker.verdict)."""

from __future__ import annotations

import pytest

from whisper_automation.errors import Failure
from whisper_automation.jobs.devices import DeviceUnavailable
from whisper_automation.jobs.messages import BadMessage
from whisper_automation.jobs.queue import QueueError, QueueMissing
from whisper_automation.jobs.worker import Outcome, verdict
from whisper_automation.storage.base import StorageError
from whisper_automation.storage.layout import UnsafeKey
from whisper_automation.transcription.engines.models import ModelUnavailable
from whisper_automation.transcription.speech import AudioError


@pytest.mark.parametrize(("error", "transient"), [
    (StorageError("cannot read a.wav: timed out", retryable=True), True),
    (StorageError("cannot read a.wav: Permission denied", retryable=False), False),
    (QueueError("receive: could not connect"), True),
    (QueueMissing("queue 'q.fifo' does not exist; run the director"), True),
    (UnsafeKey("absolute path refused: '/etc'"), False),
    (BadMessage("unreadable message"), False),
    (AudioError("not a readable audio file"), False),
    (ModelUnavailable("whisper.cpp model 'small' is not available offline"), False),
    (DeviceUnavailable("no CUDA device"), False),
], ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value))
def test_every_error_of_the_package_has_a_reason_and_says_whether_it_may_pass(
        error: Failure, transient: bool) -> None:
    assert isinstance(error, Failure)
    assert error.reason == str(error) and error.reason
    assert error.transient is transient


def test_a_storage_error_keeps_its_retryable_name_for_the_same_fact() -> None:
    assert StorageError("x", retryable=True).retryable is True
    assert StorageError("x", retryable=False).retryable is False


@pytest.mark.parametrize(("error", "outcome", "reason"), [
    (StorageError("cannot download a.wav: timed out", retryable=True), Outcome.KEPT,
     "cannot download a.wav: timed out"),
    (StorageError("cannot read a.wav: denied", retryable=False), Outcome.RETRY,
     "cannot read the file: cannot read a.wav: denied"),
    (PermissionError(13, "Permission denied"), Outcome.RETRY,
     "cannot read the file: [Errno 13] Permission denied"),
    (AudioError("no audio stream"), Outcome.FAILED, "no audio stream"),
    (UnsafeKey("key leaves or re-enters its folder: 'a/../b'"), Outcome.REFUSED,
     "key leaves or re-enters its folder: 'a/../b'"),
    (ModelUnavailable("no model"), Outcome.RETRY, "ModelUnavailable: no model"),
    (RuntimeError("out of memory"), Outcome.RETRY, "RuntimeError: out of memory"),
], ids=["transient-storage", "refused-storage", "permission", "audio", "unsafe-key",
        "model", "unexpected"])
def test_the_worker_classifies_a_failure_by_kind_and_transience(
        error: Exception, outcome: Outcome, reason: str) -> None:
    judged = verdict(error)
    assert (judged.outcome, judged.reason) == (outcome, reason)
    assert judged.unexpected is isinstance(error, RuntimeError)
