"""The faster-whisper engine's batches over its own and borrowed decoding groups (no model)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

from whisper_automation.transcription.engines.faster import _batches, _BatchScheduler
from whisper_automation.transcription.speech import Speech


class SlowEngine:
    """The parts of FasterWhisperEngine the scheduler uses, decoding a batch in `seconds`."""

    def __init__(self, lends: bool, seconds: float = 0.2) -> None:
        self._own_groups = 1
        self._pipelines = [object(), object()]  # its own group and one to borrow for
        self._pool = ThreadPoolExecutor(2)
        self.lender = object()
        self.lends = lends
        self.seconds = seconds
        self.asked = 0
        self.decoded: list[tuple[int, list]] = []
        self.lock = threading.Lock()

    def borrowed(self, most: int):
        self.asked += 1
        return nullcontext(min(most, 1) if self.lends else 0)

    def _decode_batch(self, group, speech, clips, prompt, language, beam):
        time.sleep(self.seconds)
        with self.lock:
            self.decoded.append((group, clips))
        return [f"words of {clips}"], "info"


def schedule(engine: SlowEngine, batches: list[list]) -> list:
    speech = Speech(audio=None, clips=[])  # type: ignore[arg-type]
    return _BatchScheduler(engine, speech, batches, "", "en", 5).run()  # type: ignore[arg-type]


def test_batches_come_back_in_order_whoever_decoded_them() -> None:
    engine = SlowEngine(lends=True)
    batches = [[(index, index + 1.0)] for index in range(6)]
    decoded = schedule(engine, batches)
    assert [pieces for pieces, _ in decoded] == [[f"words of {batch}"] for batch in batches]
    assert {group for group, _ in engine.decoded} == {0, 1}  # the borrowed group helped
    assert sorted(clips for _, clips in engine.decoded) == batches  # each batch once


def test_a_pool_with_nothing_to_lend_is_asked_once_per_poll_not_in_a_loop() -> None:
    # A finished "nothing lent" attempt once woke the scheduler at once, which asked again:
    # a busy loop that took a whole CPU from the other workers (bedtime 1.4x slower).
    engine = SlowEngine(lends=False)
    started = time.monotonic()
    schedule(engine, [[(index, index + 1.0)] for index in range(6)])  # about 1.2 s
    polls = (time.monotonic() - started) / 0.5
    assert {group for group, _ in engine.decoded} == {0}
    assert 1 <= engine.asked <= polls + 2


def test_clips_are_batched_by_size_and_shared_out_when_few() -> None:
    clips = [(float(index), index + 1.0) for index in range(10)]
    assert [len(batch) for batch in _batches(clips, 4, 1)] == [4, 4, 2]
    assert [len(batch) for batch in _batches(clips[:4], 4, 2)] == [2, 2]  # both own groups
    assert [len(batch) for batch in _batches(clips[:1], 4, 2)] == [1]


class FailingEngine(SlowEngine):
    """Its own group's second batch fails."""

    def _decode_batch(self, group, speech, clips, prompt, language, beam):
        if group == 0 and any(decoded_group == 0 for decoded_group, _ in self.decoded):
            raise RuntimeError("the decoder failed")
        return super()._decode_batch(group, speech, clips, prompt, language, beam)


def test_a_failed_batch_fails_the_window_and_no_more_batches_are_decoded() -> None:
    engine = FailingEngine(lends=True, seconds=0.1)
    try:
        schedule(engine, [[(index, index + 1.0)] for index in range(20)])
    except RuntimeError as error:
        assert "decoder failed" in str(error)
    else:
        raise AssertionError("the error was swallowed")
    time.sleep(0.3)  # a borrowed group finishes the batch it had begun, then takes no more
    assert len(engine.decoded) <= 4
