"""S3 goes away or misbehaves while workers run: nothing is lost, nothing is transcribed twice,
nothing is left half-written, and every worker is still alive afterwards.

Workers reach S3 through a fault proxy on 127.0.0.1 (tests/support/fault_proxy.py) in front of
the session's LocalStack, and SQS directly; the test checks S3 directly. Each outage lasts
longer than the heartbeat interval (2 s) and the visibility timeout (10 s), and is only lifted
once a worker has really met it on the path under test (its own retry logged), so the fault is
known to have hit. Everything else is real: worker and director subprocesses, the faster-whisper
tiny.en engine behind the call-counting wrapper (slowed down to make transcriptions long),
LocalStack's SQS and S3.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.fault_proxy import FaultProxy, s3_put
from tests.support.stack import SHORT_CLIPS, Stack, Watched, outcome, wait_for

pytestmark = pytest.mark.integration

WAIT = 300  # generous bound for any one wait; the tests normally take far less
SLOW = {"WA_VISIBILITY_TIMEOUT": "10", "WA_HEARTBEAT_SECONDS": "2",
        "WA_TEST_ENGINE_DELAY": "20", "WA_IDLE_EXIT_SECONDS": "0"}
RETRYING = "storage unreachable"  # what a worker logs when it retries a store itself


@pytest.fixture
def s3_proxy(localstack) -> Iterator[FaultProxy]:
    with FaultProxy(localstack.endpoint) as proxy:
        yield proxy


def start_workers(stack: Stack, count: int) -> list[Watched]:
    return [Watched(stack.start_worker()) for _ in range(count)]


def outage(proxy: FaultProxy, begin: Callable[[], None], workers: list[Watched],
           at_least: float) -> float:
    """Switch a fault on; lift it once it has lasted `at_least` seconds and a worker has logged
    its own retry of the store. Returns how long it lasted."""
    begin()
    began = time.monotonic()
    wait_for(lambda: any(RETRYING in worker.output for worker in workers), WAIT,
             what="a worker to retry the store")
    time.sleep(max(0.0, at_least - (time.monotonic() - began)))
    proxy.heal()
    return time.monotonic() - began


def finish_alive(stack: Stack, workers: list[Watched], expected: list[str]) -> str:
    """Wait until every file is done and the queue is empty; check that every worker is still
    running, then stop them; return their logs."""
    def settled() -> bool:
        assert all(w.process.poll() is None for w in workers), logs(workers)
        return stack.done_keys() == set(expected) and stack.queue_counts() == (0, 0)

    wait_for(settled, WAIT, interval=1, what="every file done and the queue empty")
    assert len(stack.alive()) == len(workers), logs(workers)  # no worker died of the fault
    for worker in workers:
        worker.process.send_signal(signal.SIGTERM)
    return "".join(worker.finish(timeout=120) for worker in workers)


def logs(workers: list[Watched]) -> str:
    return "\n---\n".join(worker.output for worker in workers)


def test_s3_destination_unreachable_during_long_transcriptions(
        make_stack, s3_proxy, record_row) -> None:
    keys = SHORT_CLIPS[:2]
    stack = make_stack(keys=keys, s3_destination=True, AWS_ENDPOINT_URL_S3=s3_proxy.endpoint,
                       **SLOW)
    assert stack.director().returncode == 0
    # Two workers busy on a file each, a third idle and polling: should a heartbeat stop, it
    # receives that file again.
    workers = start_workers(stack, 3)
    wait_for(lambda: sum(stack.calls().values()) == 2, WAIT, what="both files in the engine")
    time.sleep(12)  # well into the 20 s transcriptions
    lasted = outage(s3_proxy, s3_proxy.refuse, workers, at_least=20)

    log = finish_alive(stack, workers, keys)

    assert s3_proxy.injected["refused"] > 0
    stack.assert_each_transcribed_once(keys, log)
    record_row(fault="S3 destination unreachable during long transcriptions",
               injection=f"every S3 request cut off for {lasted:.0f} s (heartbeat 2 s, "
                         "visibility 10 s) from 12 s into two 20 s transcriptions until a done "
                         "record's write had failed; 3 workers, one idle and polling",
               **outcome(stack, keys))


def test_s3_source_unreachable_while_files_are_received(
        make_stack, s3_proxy, record_row) -> None:
    keys = SHORT_CLIPS[:3]
    stack = make_stack(keys=keys, s3_source=True, AWS_ENDPOINT_URL_S3=s3_proxy.endpoint,
                       **SLOW)
    assert stack.director().returncode == 0
    workers = start_workers(stack, 2)
    wait_for(lambda: sum(stack.calls().values()) == 2, WAIT, what="two files in the engine")
    time.sleep(5)
    # The third file is received while S3 is away: its source check is retried under its
    # heartbeat, while the other worker, done with its file, polls the queue.
    lasted = outage(s3_proxy, s3_proxy.refuse, workers, at_least=25)

    log = finish_alive(stack, workers, keys)

    assert s3_proxy.injected["refused"] > 0
    assert stack.failure_records() == {}
    stack.assert_each_transcribed_once(keys, log)
    record_row(fault="S3 source unreachable while files are received",
               injection=f"every S3 request cut off for {lasted:.0f} s from 5 s into two 20 s "
                         "transcriptions; the third file is received meanwhile (source check "
                         "retried); 2 workers",
               **outcome(stack, keys))


def test_s3_answering_errors_to_every_put(make_stack, s3_proxy, record_row) -> None:
    stack = make_stack(s3_destination=True, AWS_ENDPOINT_URL_S3=s3_proxy.endpoint,
                       WA_VISIBILITY_TIMEOUT="10", WA_HEARTBEAT_SECONDS="2",
                       WA_IDLE_EXIT_SECONDS="0")
    assert stack.director().returncode == 0
    workers = start_workers(stack, 2)
    lasted = outage(s3_proxy, lambda: s3_proxy.answer(500, s3_put), workers, at_least=20)

    log = finish_alive(stack, workers, SHORT_CLIPS)

    assert s3_proxy.injected["error"] > 0
    stack.assert_each_transcribed_once(SHORT_CLIPS, log)
    record_row(fault="S3 answers 500 InternalError to every PUT",
               injection=f"every PUT (transcripts, records, presence) answered 500 for "
                         f"{lasted:.0f} s, until a worker's own retry had begun; 5 files, "
                         "2 workers",
               **outcome(stack, SHORT_CLIPS))
