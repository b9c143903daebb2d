"""One vocabulary of failure for storage, the queue, the recordings and the engines.

Every error the project raises on purpose is a `Failure`: a reason a person can read, and
whether it is transient (the same call may well succeed in a moment: a store or queue not
reached, busy, throttled) or permanent (it answered and refused, or the input itself is bad:
someone has to fix something before a retry can help). The worker decides what becomes of a
message from these two facts and the error's kind (worker.verdict), in one place.

This module imports nothing of the package, so every layer can raise these errors.
"""

from __future__ import annotations


class Failure(Exception):
    """The base of the project's errors: `reason` and `transient` (see the module)."""

    transient: bool = False  # a subclass names its usual case; an instance may say otherwise

    def __init__(self, reason: str = "", *, transient: bool | None = None) -> None:
        super().__init__(reason)
        if transient is not None:
            self.transient = transient

    @property
    def reason(self) -> str:
        return str(self)


class StorageError(Failure):
    """I/O trouble with a source or a destination, whatever the backend (folder or S3).

    Transient (`retryable`): the store could not be reached or was busy (network, timeout,
    HTTP 5xx, throttling). Permanent: the store answered and refused (permission, read-only,
    full, no such bucket, bad credentials).
    """

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason, transient=retryable)

    @property
    def retryable(self) -> bool:
        return self.transient


class UnsafeKey(Failure, ValueError):
    """A key that could reach outside its root (absolute, '..', empty parts, NUL): refused by
    every backend the same way, before any I/O."""


class QueueError(Failure, RuntimeError):
    """The queue server could not be reached, or refused a call. Transient: the worker retries
    it for up to WA_QUEUE_RETRY_SECONDS."""

    transient = True


class QueueMissing(QueueError):
    """The work queue does not exist (yet): run the director first (transient for a worker:
    the director recreates it)."""


class BadMessage(Failure, ValueError):
    """A message body we cannot trust or cannot read; the worker records it and deletes it."""


class AudioError(Failure):
    """The recording itself cannot be decoded: permanent, retrying will not help."""


class ModelUnavailable(Failure, ValueError):
    """The model cannot be found or made on this machine; the message says what to do."""


class DeviceUnavailable(Failure, RuntimeError):
    """A GPU was asked for and cannot be used; the message says what is missing."""
