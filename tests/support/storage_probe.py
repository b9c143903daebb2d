"""What each Storage call answers, as plain data, so that two backends (or one backend in a
process that file modes stop) can be compared case by case."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from whisper_automation.errors import Failure
from whisper_automation.storage.base import Storage

EXTENSIONS = ("wav", "mp3")


def calls(storage: Storage, key: str) -> dict[str, Callable[[], Any]]:
    """Every call of the Storage interface on one key (list_keys takes it as a folder)."""

    def local_file() -> None:
        with storage.local_file(key):
            pass

    return {
        "version": lambda: storage.version(key),
        "read_bytes": lambda: storage.read_bytes(key),
        "exists": lambda: storage.exists(key),
        "fingerprint": lambda: storage.fingerprint(key),
        "local_file": local_file,
        "write_atomic": lambda: storage.write_atomic(key, b"x"),
        "delete": lambda: storage.delete(key),
        "list_keys": lambda: list(storage.list_keys(key)),
        "scan": lambda: list(storage.scan(EXTENSIONS)),
    }


def answer(call: Callable[[], Any]) -> list:
    """["returned", value] or [error class name, "transient"/"permanent"] for one call."""
    try:
        value = call()
    except Failure as error:
        return [type(error).__name__, "transient" if error.transient else "permanent"]
    return ["returned", value if isinstance(value, (bool, type(None))) else type(value).__name__]


def answers(storage: Storage, key: str, names: list[str]) -> dict[str, list]:
    table = calls(storage, key)
    return {name: answer(table[name]) for name in names}
