"""Workers on one machine share their CPUs (jobs/cores.py): an idle worker's CPU is lent to a
busy one for a window at a time, handed back when its owner has work again, and never leaked
by a worker that dies."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from whisper_automation.jobs.cores import CpuPool


def test_a_busy_worker_borrows_only_the_cpus_nobody_holds(tmp_path: Path) -> None:
    pool = CpuPool.create(tmp_path / "cpus", 3)
    with pool.hold():
        with pool.borrow(5) as lent:
            assert lent == 2
            with pool.borrow(5) as more:
                assert more == 0
        with pool.borrow(1) as lent:
            assert lent == 1


def test_each_worker_holding_its_own_cpu_leaves_nothing_to_borrow(tmp_path: Path) -> None:
    pool = CpuPool.create(tmp_path / "cpus", 2)
    other = CpuPool.open(pool.folder)
    with pool.hold(), other.hold(), pool.borrow(1) as lent:
        assert lent == 0


def test_a_worker_gets_its_cpu_back_when_the_borrowed_window_ends(tmp_path: Path) -> None:
    pool = CpuPool.create(tmp_path / "cpus", 2)
    got_it = threading.Event()
    with pool.hold(), pool.borrow(1) as lent:
        assert lent == 1

        def owner_returns() -> None:
            with CpuPool.open(pool.folder).hold():
                got_it.set()

        thread = threading.Thread(target=owner_returns)
        thread.start()
        assert not got_it.wait(0.3)  # both CPUs taken: the owner waits ...
        with pool.borrow(1) as again:
            assert again == 0  # ... and no one borrows while it does
    thread.join(timeout=5)
    assert got_it.is_set()  # the borrowed CPU came back at the end of the window
    assert list(pool.folder.glob("waiting-*")) == []


def test_a_worker_that_dies_holding_cpus_leaks_none(tmp_path: Path) -> None:
    pool = CpuPool.create(tmp_path / "cpus", 2)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from whisper_automation.jobs.cores import CpuPool\n"
         "pool = CpuPool.open(sys.argv[1])\n"
         "with pool.hold(), pool.borrow(1):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(60)\n", str(pool.folder)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pool.borrow(2) as lent:
        assert lent == 0
    holder.kill()
    holder.wait()
    with pool.borrow(2) as lent:
        assert lent == 2


def test_a_waiting_marker_of_a_dead_worker_does_not_stop_lending(tmp_path: Path) -> None:
    pool = CpuPool.create(tmp_path / "cpus", 2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (pool.folder / f"waiting-{dead.pid}").touch()
    with pool.hold(), pool.borrow(1) as lent:
        assert lent == 1
    assert not (pool.folder / f"waiting-{dead.pid}").exists()
