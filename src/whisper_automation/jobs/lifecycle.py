"""Signals and heartbeats: how a worker keeps its message while busy and lets go when told to stop.

Shutdown follows rq's warm/cold pattern: the first SIGTERM or SIGINT stops the worker at the next
safe point (raising Shutdown inside a transcription, so the message is released at once, or
waiting if it is committing outputs); a second signal exits immediately.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from whisper_automation.jobs.queue import Message, WorkQueue

log = logging.getLogger(__name__)


class Shutdown(BaseException):
    """Raised in the worker's main thread by the first stop signal.

    A BaseException, like KeyboardInterrupt, so that botocore's retry logic and other
    `except Exception` blocks in libraries cannot swallow it."""


class ShutdownGuard:
    def __init__(self) -> None:
        self.requested = threading.Event()
        self._interruptible = False
        self._waiting = False

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(128 + signum)
        self.requested.set()
        name = signal.Signals(signum).name
        if self._waiting:  # holding nothing: a plain stop (`run` ending), not worth a line
            log.debug("%s while waiting for work: stopping", name)
        else:
            log.info("%s: finishing up (send it again to exit at once)", name)
        if self._interruptible:
            raise Shutdown()

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Inside this block a stop signal interrupts the work; outside it, it only sets a flag."""
        # Flag first, then check: a signal landing in between must not go unnoticed.
        self._interruptible = True
        try:
            if self.requested.is_set():
                raise Shutdown()
            yield
        finally:
            self._interruptible = False

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """interruptible(), while waiting for work with none in hand: a stop signal then ends
        the worker quietly (a normal end of `run` stops idle workers this way)."""
        with self.interruptible():
            self._waiting = True
            try:
                yield
            finally:
                self._waiting = False


class Heartbeat:
    """Extends a message's visibility every `interval` seconds from a thread, so a long file is
    never handed to a second worker. CTranslate2 and torch release the GIL while they compute,
    so the thread runs on time even in the middle of a transcription. It does nothing else, so
    nothing else can delay or end it: a failed extension is logged and tried again next beat."""

    def __init__(self, queue: WorkQueue, message: Message, timeout: int,
                 interval: float) -> None:
        self._queue = queue
        self._message = message
        self._timeout = timeout
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._queue.extend(self._message, self._timeout)
            except Exception as error:  # any error: the next beat may reach the queue
                log.warning("heartbeat failed (tried again in %g s): %s", self._interval, error)


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs (signal 0 checks without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True
