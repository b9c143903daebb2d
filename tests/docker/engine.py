"""A Docker engine for the Docker tests: the one already running, or one started here.

If `docker info` fails and this is Debian with root, Debian's `docker.io` is installed (when
`dockerd` is missing) and `dockerd` is started on the default unix socket only (never TCP), in
its own session, and stopped by its pid at the end. Anywhere else the caller is told why not
(the tests skip on a laptop and fail in CI).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from whisper_automation.jobs.lifecycle import process_alive

SOCKET = "unix:///var/run/docker.sock"
# One file per test process that uses the engine (its pid): `./build.sh test` runs the tests in
# several pytest-xdist processes, each of which prepares the engine; the one that started
# dockerd must not stop it while another still runs a stack on it (a CI run hung so: the owner's
# session ended first, and the other's stack waited for transcripts from a stopped engine).
USERS = Path(os.environ.get("TMPDIR", "/tmp")) / "whisper-automation-docker-users"
PIDFILE = Path("/var/run/docker.pid")  # dockerd's own; it refuses to start while it exists
# Locks shared by this machine's test processes (flock: a process that dies drops its own).
LOCKS = Path(os.environ.get("TMPDIR", "/tmp"))
APT_LOCK_TIMEOUT = 900  # seconds apt waits for dpkg's own lock (another installer than ours)
START_TIMEOUT = 120
STOP_TIMEOUT = 60


class EngineUnavailable(RuntimeError):
    """No Docker engine answers and none can be started here."""


@dataclass
class Engine:
    process: subprocess.Popen | None  # the dockerd started here; None: not started by us
    log: Path | None = None
    adopted_pid: int | None = None  # a dockerd our apt install's service started: ours to stop

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else self.adopted_pid

    def stop(self) -> None:
        if self.adopted_pid is not None:
            stop_pid(self.adopted_pid)
            return
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: dockerd stops its containers and its containerd
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: dockerd, containerd
            self.process.wait(timeout=30)


def register_user(users: Path = USERS) -> Path:
    """This process uses the engine until it removes the returned file."""
    users.mkdir(parents=True, exist_ok=True)
    mine = users / str(os.getpid())
    mine.touch()
    return mine


def wait_for_other_users(mine: Path, poll: float = 1.0) -> None:
    """Remove this process's registration, then wait until no other live process holds one
    (a registration whose process died counts for nothing)."""
    mine.unlink(missing_ok=True)
    while True:
        others = [entry for entry in mine.parent.glob("[0-9]*")
                  if entry != mine and process_alive(int(entry.name))]
        if not others:
            return
        time.sleep(poll)


def stop_pid(pid: int) -> None:
    """SIGTERM to a dockerd that is not our child, then wait for it to go."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.5)


def running_daemon_pid(pidfile: Path = PIDFILE, proc: Path = Path("/proc")) -> int | None:
    """A dockerd that runs: the one in its pid file, else any process named dockerd (one just
    launched writes its pid file a moment later). A stale pid file is removed: dockerd refuses to
    start while it exists ("pid file found, ensure docker is not running")."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and process_alive(pid):
        return pid
    pidfile.unlink(missing_ok=True)
    for comm in proc.glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "dockerd":
                return int(comm.parent.name)
        except OSError:  # it ended while we looked
            continue
    return None


def wait_until_answers(pid: int) -> bool:
    """Whether the dockerd with this pid (starting up) answers before START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process_alive(pid):
        if answers(timeout=10):
            return True
        time.sleep(1)
    return False


def answers(timeout: float = 30) -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True,
                              timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Held by one process of this machine at a time. The tests run in several pytest-xdist
    processes, and each one that runs a Docker module prepares the engine: on a machine without
    dockerd two of them ran `apt-get update` at once, and the second failed on apt's lock (exit
    100), failing every Docker test of its process."""
    with (LOCKS / f"whisper-automation-tests-{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def apt_install(*packages: str) -> None:
    """Debian packages, as root (the caller checked); one install at a time on this machine."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    wait = ["-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}"]  # an installer not ours
    with machine_lock("apt"):
        for command in (["update", "-qq"],
                        ["install", "-y", "-qq", "--no-install-recommends", *packages]):
            result = subprocess.run(["apt-get", *wait, *command], env=env, capture_output=True,
                                    text=True, timeout=1200)
            if result.returncode != 0:
                raise EngineUnavailable(f"apt-get {command[0]} (for {' '.join(packages)}) "
                                        f"failed: {result.stderr[-2000:]}")


def can_install() -> str | None:
    """Why this machine may not install and start an engine itself, or None if it may."""
    if os.geteuid() != 0:
        return "not root"
    if not Path("/etc/debian_version").exists():
        return "not Debian"
    return None


def start_engine(workdir: Path) -> Engine:
    """The running engine, or a dockerd started here; EngineUnavailable says why not. One test
    process at a time: the others then find it answering (two dockerds started at once: the
    second exits on the first's pid file)."""
    with machine_lock("docker-engine"):
        return _start_engine(workdir)


def _start_engine(workdir: Path) -> Engine:
    if answers():
        return Engine(process=None)
    reason = can_install()
    if reason:
        raise EngineUnavailable(f"`docker info` fails and this machine cannot start an engine "
                                f"itself ({reason})")
    installed_here = False
    if not shutil.which("dockerd"):
        apt_install("docker.io")
        installed_here = True
    # Race: the package's init script starts a dockerd in the background, which takes seconds
    # to answer; a second dockerd started meanwhile exits on its pid file. Wait for that one.
    pid = running_daemon_pid()
    if pid is not None:
        if wait_until_answers(pid):
            return Engine(process=None, adopted_pid=pid if installed_here else None)
        if process_alive(pid):
            raise EngineUnavailable(f"a dockerd (pid {pid}) runs but does not answer "
                                    f"`docker info` within {START_TIMEOUT} s")
        running_daemon_pid()  # it died starting: remove its pid file, start our own
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "dockerd.log"
    with log.open("ab") as output:
        process = subprocess.Popen(["dockerd", "--host", SOCKET], stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    engine = Engine(process=process, log=log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EngineUnavailable(f"dockerd exited with {process.returncode}: "
                                    f"{log.read_text(errors='replace')[-2000:]}")
        if answers(timeout=10):
            return engine
        time.sleep(1)
    engine.stop()
    raise EngineUnavailable(f"dockerd did not answer within {START_TIMEOUT} s: "
                            f"{log.read_text(errors='replace')[-2000:]}")

