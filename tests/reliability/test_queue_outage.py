"""The queue server restarts or is unreachable: workers retry with backoff, give up with a clear
message after a bound, and running the director again rebuilds the queue; nothing is lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.localstack import start_localstack, stop_localstack
from tests.support.stack import SHORT_CLIPS, outcome, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def own_localstack(localstack, tmp_path: Path):
    """A second LocalStack of this test's own, so it can be stopped and started again."""
    state = tmp_path / "own-localstack"
    service = start_localstack(state)
    holder = {"service": service, "state": state}
    yield holder
    stop_localstack(holder["service"])


def test_queue_restart_mid_run_loses_nothing_and_repeats_nothing(
        make_stack, own_localstack, record_row) -> None:
    service = own_localstack["service"]
    stack = make_stack(AWS_ENDPOINT_URL=service.endpoint, WA_TEST_ENGINE_DELAY="3",
                       WA_QUEUE_RETRY_SECONDS="180", WA_IDLE_EXIT_SECONDS="8")
    assert stack.director().returncode == 0
    worker = stack.start_worker()
    wait_for(lambda: len(stack.done_keys()) >= 1, 120, what="a first file done")

    stop_localstack(service)  # the queue and everything in it is gone
    time.sleep(5)             # the worker now fails to reach it and backs off
    port = int(service.endpoint.rsplit(":", 1)[1])
    own_localstack["service"] = start_localstack(own_localstack["state"], port=port)
    rebuilt = stack.director()
    assert rebuilt.returncode == 0, rebuilt.stderr

    output, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, output
    assert "queue unreachable" in output
    assert stack.done_keys() == set(SHORT_CLIPS)
    calls = stack.calls()
    # A file whose transcription was under way during the outage may be done twice only if its
    # record was not written; a finished file is never queued again.
    assert all(count == 1 for count in calls.values()), calls
    assert stack.partial_files() == []
    record_row(fault="queue server restarted mid-run (all messages lost)",
               injection="LocalStack SIGTERM, restart, director run again",
               **outcome(stack, SHORT_CLIPS))


def test_worker_gives_up_with_a_clear_message_when_the_queue_stays_down(
        make_stack, own_localstack) -> None:
    service = own_localstack["service"]
    stack = make_stack(AWS_ENDPOINT_URL=service.endpoint, WA_QUEUE_RETRY_SECONDS="5")
    assert stack.director().returncode == 0
    stop_localstack(service)
    started = time.monotonic()

    worker = stack.start_worker()
    output, _ = worker.communicate(timeout=180)

    assert worker.returncode != 0
    assert "unreachable for 5 s, giving up" in output, output
    # botocore's own retries come on top of our bound; still, well under a minute.
    assert time.monotonic() - started < 60
    own_localstack["service"] = start_localstack(own_localstack["state"])
