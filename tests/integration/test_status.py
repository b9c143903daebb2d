"""`status`: checked against what the destination and the queue really hold, during a real run
and after it, with the queue down, with failures and with an empty source; and the status page
in headless Chromium. Status must never receive or change a message."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.cli import REPO, SAMPLES, cli_environment, run_cli
from tests.support.http_client import answers
from tests.support.privileges import obeying_file_modes
from tests.support.require import require
from tests.support.stack import SHORT_CLIPS, Stack, wait_for

pytestmark = pytest.mark.integration


def status_json(stack: Stack) -> dict:
    result = run_cli("status", "--json", env=stack.env, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def truth(stack: Stack) -> dict:
    """What the destination and the queue hold, counted directly."""
    visible, in_flight = stack.queue_counts()
    done = stack.done_keys()
    failed = set(stack.failure_records()) - done
    return {"done": len(done), "failed": len(failed), "visible": visible,
            "in_flight": in_flight}


def test_status_during_and_after_a_run_matches_what_is_really_there(make_stack) -> None:
    stack = make_stack(WA_TEST_ENGINE_DELAY="6")
    assert stack.director().returncode == 0

    before = status_json(stack)
    assert (before["recordings"], before["done"], before["to_do"]) == (5, 0, 5)
    assert before["queue"] == {"visible": 5, "in_flight": 0, "dead": 0}
    assert before["eta_seconds"] is None and before["audio_to_do_seconds"] > 30
    for _ in range(3):
        status_json(stack)
    # Status never received anything: the counts did not move, and the first real receive of a
    # message is its first (ApproximateReceiveCount 1).
    assert stack.queue_counts() == (5, 0)
    sqs, url = stack.sqs(), stack.queue_url()
    message = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1,
                                  MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert message["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs.change_message_visibility(QueueUrl=url, VisibilityTimeout=0,
                                  ReceiptHandle=message["Messages"][0]["ReceiptHandle"])

    worker = stack.start_worker()
    wait_for(lambda: len(stack.done_keys()) >= 1 and stack.queue_counts()[1] == 1, 120,
             what="one file done and the next in progress")
    during = status_json(stack)
    real = truth(stack)
    assert during["done"] == real["done"] and during["failed"] == 0
    assert during["to_do"] == 5 - real["done"]
    assert during["queue"]["in_flight"] == 1
    busy = [w for w in during["workers"] if w["live"] and w["file"]]
    assert len(busy) == 1 and busy[0]["file"] in SHORT_CLIPS
    assert during["throughput"] > 0 and during["eta_seconds"] > 0

    output, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, output
    after = status_json(stack)
    assert (after["done"], after["to_do"], after["failed"]) == (5, 0, 0)
    assert after["queue"] == {"visible": 0, "in_flight": 0, "dead": 0}
    assert after["eta_seconds"] == 0 and not any(w["live"] for w in after["workers"])
    text = run_cli("status", env=stack.env).stdout
    assert "recordings 5: done 5, to do 0, failed 0" in text


def test_status_with_the_queue_down_failures_and_an_empty_source(tmp_path: Path) -> None:
    source, destination = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    shutil.copy(SAMPLES / "speeches/jfk.flac", source / "jfk.flac")
    (source / "broken.mp3").write_bytes(b"\x00" * 2048)
    assert run_cli("run", str(source), str(destination), env=cli_environment()).returncode == 1
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = cli_environment(AWS_ENDPOINT_URL=f"http://127.0.0.1:{closed}",
                          AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")

    started = time.monotonic()
    result = run_cli("status", str(source), str(destination), "--json", env=env)

    assert result.returncode == 0, result.stderr
    # One attempt, no retries with backoff: quick even on a loaded machine.
    assert time.monotonic() - started < 90
    data = json.loads(result.stdout)
    assert data["queue"] is None and data["queue_error"]
    assert (data["recordings"], data["done"], data["failed"]) == (2, 1, 1)
    assert data["failures"][0]["key"] == "broken.mp3"
    assert "not a readable audio file" in data["failures"][0]["reason"]
    text = run_cli("status", str(source), str(destination), env=env).stdout
    # Nothing is left to do: an unreachable queue is no fault then (a finished `run`).
    assert "finished: nothing left to do" in text and "failed: broken.mp3" in text
    assert "queue not reachable" not in text

    empty = tmp_path / "empty"
    empty.mkdir()
    data = json.loads(run_cli("status", str(empty), str(tmp_path / "none"), "--json",
                              env=env).stdout)
    assert (data["recordings"], data["done"], data["to_do"], data["eta_seconds"]) == \
        (0, 0, 0, 0.0)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browse(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with no background networking (this machine's network is closed)."""
    return subprocess.run(
        [chromium() or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
         *args, url], capture_output=True, text=True, timeout=120)


def page_values(dom: str) -> dict[str, str]:
    return dict(re.findall(r'id="(\w+)" data-value="([^"]*)"', dom))


def test_status_page_in_headless_chromium_shows_what_status_json_says(
        make_stack, tmp_path: Path) -> None:
    require(chromium() is not None, "chromium (Debian package) is not installed")
    stack = make_stack(WA_TEST_ENGINE_DELAY="30")
    assert stack.director().returncode == 0
    stack.start_worker()
    wait_for(lambda: stack.queue_counts()[1] == 1, 120, what="a worker mid-file")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "whisper_automation", "status", "--serve",
                               "--port", str(port)], env=stack.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: answers(url), 30, what="the status page")
        dom = browse(url, tmp_path / "profile", "--dump-dom")
        assert dom.returncode == 0, dom.stderr
        shown = page_values(dom.stdout)
        expected = status_json(stack)
        assert int(shown["recordings"]) == expected["recordings"] == 5
        assert int(shown["done"]) == expected["done"]
        assert int(shown["to_do"]) == expected["to_do"]
        assert int(shown["failed"]) == expected["failed"]
        assert int(shown["queue_visible"]) == expected["queue"]["visible"]
        assert int(shown["queue_in_flight"]) == expected["queue"]["in_flight"] == 1
        assert int(shown["live_workers"]) == sum(w["live"] for w in expected["workers"]) == 1

        screenshot = tmp_path / "status-page.png"
        shot = browse(url, tmp_path / "profile2", f"--screenshot={screenshot}",
                      "--window-size=1100,900", "--hide-scrollbars")
        assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr
        output = REPO / "test-output"
        output.mkdir(exist_ok=True)
        shutil.copy(screenshot, output / "status-page.png")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_status_shows_a_worker_that_cannot_write_the_destination(make_stack) -> None:
    # The trap of a Docker stack whose HOST_UID may not write DESTINATION_DIR: nothing can be
    # written there, not even a failure record or the worker's presence, yet status must show
    # the error and the worker (from the queue's tags, see write_errors.py).
    stack = make_stack(keys=["speeches/jfk.flac"])
    root = Path(tempfile.mkdtemp(prefix="wa-status-"))  # not under tmp_path: pytest keeps it 0700
    try:
        stack = _locked_out(stack, root)
        assert stack.director().returncode == 0
        # Root without its override capabilities, not another user: a clone in a 0700 folder
        # stays importable (as nobody it was not: "No module named whisper_automation").
        worker = stack.start_worker(preexec=obeying_file_modes())
        wait_for(lambda: _still_running(worker) and status_json(stack)["write_errors"], 240,
                 what="the worker's write error in status")

        data = status_json(stack)
        (error,) = data["write_errors"]
        assert error["worker"] == f"{socket.gethostname()}-{worker.pid}"
        assert error["error"].startswith(
            f"cannot write the transcripts of speeches/jfk.flac to {stack.destination}: ")
        assert "Permission denied" in error["error"]
        assert (data["done"], data["failed"]) == (0, 0)  # nothing could be recorded there
        text = run_cli("status", env=stack.env).stdout
        assert "cannot write the destination: 1 worker(s)" in text
        assert f"  {error['worker']}: cannot write the transcripts of speeches/jfk.flac" in text
        page = _page(stack)
        assert 'id="write_errors"' in page and error["worker"] in page
        assert 'id="write_errors" data-value="1"' in page
    finally:
        stack.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def _still_running(worker: subprocess.Popen) -> bool:
    # A worker that cannot even start fails the test at once, with its own words.
    if worker.poll() is not None:
        raise AssertionError(f"the worker exited ({worker.returncode}): "
                             f"{worker.stdout.read()[-2000:] if worker.stdout else ''}")
    return True


def _locked_out(stack: Stack, root: Path) -> Stack:
    """The stack moved into `root`, with a read-only destination its worker may not write (a
    worker obeying file modes: see tests/support/privileges.py)."""
    root.chmod(0o755)
    source, destination, log = root / "in", root / "out", root / "engine.log"
    shutil.move(stack.source, source)
    shutil.move(stack.destination, destination)
    log.touch()
    log.chmod(0o666)
    destination.chmod(0o555)
    return replace(stack, source=source, destination=destination, engine_log=log,
                   env=stack.with_env(WA_SOURCE=str(source), WA_DESTINATION=str(destination),
                                      WA_TEST_ENGINE_LOG=str(log)))


def _page(stack: Stack) -> str:
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "whisper_automation", "status", "--serve",
                               "--port", str(port)], env=stack.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: answers(url), 30, what="the status page")
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read().decode("utf-8")
    finally:
        server.terminate()
        server.wait(timeout=10)
