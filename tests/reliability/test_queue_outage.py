"""The queue server restarts or is unreachable: workers retry with backoff, give up with a clear
message after a bound, and running the director again rebuilds the queue; a delete that cannot
reach the queue only delays things. Nothing is lost, nothing is transcribed twice."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.fault_proxy import FaultProxy, sqs_delete
from tests.support.localstack import start_localstack, stop_localstack
from tests.support.stack import SHORT_CLIPS, Watched, outcome, wait_for

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
    worker = Watched(stack.start_worker())
    wait_for(lambda: len(stack.done_keys()) >= 1, 300, what="a first file done")

    stop_localstack(service)  # the queue and everything in it is gone
    worker.wait_for_line("queue unreachable")  # the worker now fails to reach it, backs off
    port = int(service.endpoint.rsplit(":", 1)[1])
    own_localstack["service"] = start_localstack(own_localstack["state"], port=port)
    rebuilt = stack.director()
    assert rebuilt.returncode == 0, rebuilt.stderr

    output = worker.finish(timeout=600)
    assert stack.done_keys() == set(SHORT_CLIPS)
    calls = stack.calls()
    # A file whose transcription was under way during the outage may be done twice only if its
    # record was not written; a finished file is never queued again.
    assert all(count == 1 for count in calls.values()), (calls, output)
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
    # botocore's own retries come on top of our bound, and a loaded machine starts Python
    # slowly; still far from "never".
    assert time.monotonic() - started < 150
    own_localstack["service"] = start_localstack(own_localstack["state"])


def test_sqs_unreachable_at_delete_loses_nothing_and_repeats_nothing(
        make_stack, localstack, record_row) -> None:
    keys = SHORT_CLIPS[:3]
    with FaultProxy(localstack.endpoint) as sqs_proxy:
        stack = make_stack(keys=keys, AWS_ENDPOINT_URL_SQS=sqs_proxy.endpoint,
                           WA_VISIBILITY_TIMEOUT="10", WA_HEARTBEAT_SECONDS="2",
                           WA_MAX_RECEIVES="5", WA_IDLE_EXIT_SECONDS="0")
        assert stack.director().returncode == 0
        sqs_proxy.drop(sqs_delete)  # every DeleteMessage cut off without an answer
        began = time.monotonic()
        workers = [Watched(stack.start_worker()) for _ in range(2)]
        wait_for(lambda: any("could not delete a done message" in w.output for w in workers),
                 300, what="a finished file's delete to fail")
        time.sleep(max(0.0, 20 - (time.monotonic() - began)))
        sqs_proxy.heal()
        lasted = time.monotonic() - began

        # Each kept message comes back after the visibility timeout, is found done, and is
        # deleted then: never transcribed again.
        wait_for(lambda: stack.done_keys() == set(keys) and stack.queue_counts() == (0, 0),
                 300, interval=1, what="every file done and every message deleted")
        assert len(stack.alive()) == 2, "a worker died of the fault"
        for worker in workers:
            worker.process.send_signal(signal.SIGTERM)
        log = "".join(worker.finish(timeout=120) for worker in workers)

    assert sqs_proxy.injected["dropped"] > 0
    assert "skip" in log and "already done" in log
    stack.assert_each_transcribed_once(keys, log)
    record_row(fault="SQS unreachable at delete",
               injection=f"every DeleteMessage cut off for {lasted:.0f} s from the workers' "
                         "start; finished files' messages come back after the 10 s visibility "
                         "timeout and are skipped as done; 3 files, 2 workers",
               **outcome(stack, keys))
