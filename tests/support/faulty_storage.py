"""A real storage with faults switched on and off: the chosen calls raise StorageError, as an
unreachable or refusing store does, while the others go through."""

from __future__ import annotations

from collections import Counter
from typing import Any

from whisper_automation.storage.base import Storage, StorageError


class FaultyStorage:
    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.root = inner.root
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, tuple[int, bool]] = {}  # method -> (failures left, retryable)

    def fail(self, method: str, times: int = 1_000_000, retryable: bool = True) -> None:
        """The next `times` calls of `method` raise StorageError."""
        self._faults[method] = (times, retryable)

    def heal(self) -> None:
        self._faults.clear()

    def __getattr__(self, method: str) -> Any:
        real = getattr(self.inner, method)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[method] += 1
            left, retryable = self._faults.get(method, (0, True))
            if left > 0:
                self._faults[method] = (left - 1, retryable)
                kind = "unreachable" if retryable else "refused"
                raise StorageError(f"{method}: injected fault ({kind})", retryable=retryable)
            return real(*args, **kwargs)

        return call
