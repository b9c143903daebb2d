"""CPUs shared by the workers of one machine: an idle worker lends its CPU to a busy one.

`run` starts one single-thread worker per CPU (2 x 1 beat 1 x 2 by 1.2-1.5x while every worker
has a file), but once the queue runs dry the last long recordings hold one CPU each and the rest
sit idle: on ../shared/corpus/readings (files of 19.4, 10.2 and 3.6 min) one worker spent the
last third of the run alone. With a pool, each worker holds one CPU token while it transcribes
and, batch by batch, borrows the tokens nobody holds; the engine then decodes that many of the
window's batches at once (engines/faster.py).

Tokens are files locked with flock(2): the kernel releases a dead worker's locks, so a crash
never leaks a CPU. A worker that wants its CPU back while a neighbour borrows it leaves a
`waiting-<pid>` marker; borrowers take nothing while one exists, and a borrowed token comes
back at the end of the batch being decoded (seconds).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from whisper_automation.jobs.lifecycle import process_alive

POLL_SECONDS = 0.05


class CpuPool:
    """`count` CPU tokens in `folder` (created by `run`, shared by its workers)."""

    def __init__(self, folder: str | os.PathLike, count: int) -> None:
        self.folder = Path(folder)
        self.count = count

    @classmethod
    def create(cls, folder: str | os.PathLike, count: int) -> CpuPool:
        pool = cls(folder, count)
        pool.folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            pool._token(index).touch()
        return pool

    @classmethod
    def open(cls, folder: str | os.PathLike) -> CpuPool:
        return cls(folder, len(list(Path(folder).glob("cpu-*.lock"))))

    def _token(self, index: int) -> Path:
        return self.folder / f"cpu-{index}.lock"

    def _try_lock(self, index: int) -> int | None:
        handle = os.open(self._token(index), os.O_RDWR)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return None
        return handle

    def _take(self, most: int) -> list[int]:
        handles: list[int] = []
        for index in range(self.count):
            if len(handles) >= most:
                break
            handle = self._try_lock(index)
            if handle is not None:
                handles.append(handle)
        return handles

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """One CPU for the duration: waits (seconds at most) for a borrowed one to return."""
        handles = self._take(1)
        marker = self.folder / f"waiting-{os.getpid()}"
        try:
            if not handles:
                marker.touch()
                while not (handles := self._take(1)):
                    time.sleep(POLL_SECONDS)
        finally:
            marker.unlink(missing_ok=True)
        try:
            yield
        finally:
            _release(handles)

    @contextlib.contextmanager
    def borrow(self, most: int) -> Iterator[int]:
        """Up to `most` idle CPUs for one batch; none while a worker waits for its own."""
        handles = [] if most <= 0 or self._someone_waits() else self._take(most)
        try:
            yield len(handles)
        finally:
            _release(handles)

    def _someone_waits(self) -> bool:
        for marker in self.folder.glob("waiting-*"):
            pid = int(marker.name.rpartition("-")[2] or 0)
            if process_alive(pid):
                return True
            marker.unlink(missing_ok=True)  # left by a worker that died waiting
        return False


def _release(handles: list[int]) -> None:
    for handle in handles:
        os.close(handle)  # closing the last descriptor drops the flock
