"""What every Docker test needs before it starts: an engine, the base images and the stack's
images (`./build.sh build`, tiny.en). Several minutes on a fresh machine, mostly downloads and
unpacking, so when other tests run in the same session it happens in a background thread while
they run (the Docker tests are put last); otherwise at the first Docker test.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

from tests.docker.engine import Engine, register_user, start_engine, wait_for_other_users
from tests.docker.leftovers import prune_dangling_images, remove_leftover_stacks
from tests.docker.stack import IMAGE_SETTINGS, image_sizes, new_stack
from tests.docker.standins import ensure_base_images


class BuildFailed(RuntimeError):
    """`./build.sh build` of the stack's images failed."""


class Cancelled(RuntimeError):
    """The session ended before the Docker tests ran."""


class Preparation:
    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.error: BaseException | None = None
        self.report: dict = {}
        self.session_started = time.time()  # before any stack of this session exists
        self.images = {
            "director": f"whisper-automation-director:{IMAGE_SETTINGS['IMAGE_TAG']}",
            "worker": "whisper-automation-worker-{ENGINE}-{MODEL}:{IMAGE_TAG}".format(
                **IMAGE_SETTINGS)}
        self._cancelled = threading.Event()
        self._user: Path | None = None
        self._thread = threading.Thread(target=self._prepare, name="docker-preparation",
                                        daemon=True)

    def start(self) -> None:
        self._user = register_user()
        self._thread.start()

    def result(self) -> Preparation:
        """Wait for it (starting it here if nobody did); raise what went wrong."""
        if not self._thread.is_alive() and not self._thread.ident:
            self.start()
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self

    def finish(self) -> None:
        """At the end of the session: let a running step end (no new one starts), then stop
        the dockerd started here, by its pid, once no other test process uses it."""
        self._cancelled.set()
        if self._thread.ident:
            self._thread.join()
        if self._user is not None:
            if self.engine is not None and self.engine.pid is not None:
                wait_for_other_users(self._user)
            else:
                self._user.unlink(missing_ok=True)
        if self.engine is not None:
            self.engine.stop()

    def _prepare(self) -> None:
        try:
            self._timed("engine", self._start_engine)
            self.report["leftovers_removed"] = self._timed(
                "leftovers_seconds", lambda: remove_leftover_stacks(self.session_started))
            self.report["old_dangling_images"] = self._timed(
                "dangling_images_seconds", lambda: prune_dangling_images(self.session_started))
            log: list[str] = []
            self.report["base_images"] = {"images": self._timed(
                "base_images_seconds", lambda: ensure_base_images(log)), "log": log}
            self._timed("build_seconds", self._build)
            self.report["image_sizes"] = image_sizes()
        except BaseException as error:  # raised in the test that waits for it
            self.error = error

    def _start_engine(self) -> None:
        self.engine = start_engine(Path(tempfile.mkdtemp(prefix="wa-dockerd-")))
        self.report["engine_started_here"] = self.engine.pid is not None

    def _build(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="wa-docker-build-"))
        try:
            result = new_stack(folder).build_sh("build", timeout=3600)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if result.returncode != 0:
            raise BuildFailed(result.stdout[-5000:] + result.stderr[-5000:])

    def _timed(self, name: str, step):
        if self._cancelled.is_set():
            raise Cancelled("the session ended before the Docker tests ran")
        started = time.monotonic()
        value = step()
        self.report[name if name.endswith("_seconds") else f"{name}_seconds"] = round(
            time.monotonic() - started, 1)
        return value
