"""The Docker tests' engine helper finds a dockerd that is starting and clears a stale pid file
(CI once failed on "pid file found": the package's init script had just started one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.docker.engine import running_daemon_pid


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_pid_file_is_removed_and_no_daemon_reported(tmp_path: Path) -> None:
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text(f"{dead_pid()}\n")
    assert running_daemon_pid(pidfile, proc=tmp_path / "proc") is None
    assert not pidfile.exists()


def test_a_live_pid_in_the_pid_file_is_the_daemon(tmp_path: Path) -> None:
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    assert running_daemon_pid(pidfile, proc=tmp_path / "proc") == os.getpid()
    assert pidfile.exists()


def test_a_dockerd_without_its_pid_file_yet_is_found_by_name(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "comm").write_text("dockerd\n")
    (proc / "17").mkdir()
    (proc / "17" / "comm").write_text("containerd\n")
    assert running_daemon_pid(tmp_path / "docker.pid", proc=proc) == 4242


def test_the_engine_is_stopped_only_after_every_other_test_process_is_done(
        tmp_path: Path) -> None:
    # The xdist process that started dockerd once stopped it while another ran a stack on it.
    import threading
    import time

    from tests.docker.engine import register_user, wait_for_other_users

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    (tmp_path / str(other.pid)).touch()  # a second test process using the engine
    (tmp_path / str(dead_pid())).touch()  # one that died: counts for nothing
    mine = register_user(tmp_path)
    assert mine.exists()
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (wait_for_other_users(mine, poll=0.1), done.set()))
    started = time.monotonic()
    waiter.start()
    assert not done.wait(0.5)  # still in use
    other.wait()
    assert done.wait(5) and time.monotonic() - started >= 1.0
    assert not mine.exists()
