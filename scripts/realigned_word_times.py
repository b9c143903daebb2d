"""What aligning a retried clip again (transcription/realign.py) does to the word times.

    .venv/bin/python scripts/realigned_word_times.py [--files drop,quiet,bedtime,readings,hard,
        harder,room] [--model tiny.en]

Transcribes each recording with the defaults (one thread) and keeps every word's times before
and after the realignment (the words themselves must not change: checked). For the words it
moved, compares their start with faster-whisper's own long form with word timestamps, which
aligns each 30 s window it decoded whole: words matched by their text, at most 5 s apart.
Prints, per recording and in all, the distance from the peer before and after.
"""

from __future__ import annotations

import argparse
import difflib
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))
import attribute_accuracy  # noqa: E402
from tests.support.wer import normalise  # noqa: E402

from whisper_automation.transcription import pipeline  # noqa: E402
from whisper_automation.transcription.engines.base import EngineOptions  # noqa: E402
from whisper_automation.transcription.engines.faster import FasterWhisperEngine  # noqa: E402
from whisper_automation.transcription.speech import Word  # noqa: E402

MATCH_SECONDS = 5.0


def recording_moves(moved: list[tuple[Word, Word]]):
    """Wraps the pipeline's realignment to append each (before, after) pair of a moved word."""
    realign = pipeline._realign_spliced_clips

    def spy(engine, window, segments, spliced, language):
        after = realign(engine, window, segments, spliced, language)
        old = [word for segment in segments for word in segment.words]
        new = [word for segment in after for word in segment.words]
        assert [w.word for w in old] == [w.word for w in new], "the realignment changed words"
        moved.extend((b, a) for b, a in zip(old, new, strict=True)
                     if (b.start, b.end) != (a.start, a.end))
        return after

    pipeline._realign_spliced_clips = spy


def peer_words(engine: FasterWhisperEngine, path: Path) -> list[tuple[str, float]]:
    pieces, _ = engine._model.transcribe(str(path), vad_filter=True, beam_size=5,
                                         condition_on_previous_text=True,
                                         word_timestamps=True, language="en")
    return [(text[0], word.start) for piece in pieces for word in piece.words
            if (text := normalise(word.word).split())]


def distances(segments, moved, peer) -> list[tuple[float, float]]:
    """(before, after) distance from the peer's start, for each moved word matched to it."""
    before_of = {id(after): before for before, after in moved}
    ours = [(text[0], word) for segment in segments for word in segment.words
            if (text := normalise(word.word).split())]
    matcher = difflib.SequenceMatcher(None, [t for t, _ in ours], [t for t, _ in peer],
                                      autojunk=False)
    found = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            word, peer_start = ours[block.a + k][1], peer[block.b + k][1]
            before = before_of.get(id(word))
            if before is not None and abs(word.start - peer_start) < MATCH_SECONDS:
                found.append((abs(before.start - peer_start), abs(word.start - peer_start)))
    return found


def summary(name: str, moved: int, pairs: list[tuple[float, float]]) -> str:
    if not pairs:
        return f"{name}: {moved} words moved, none matched to the peer"
    before, after = zip(*pairs, strict=True)
    return (f"{name}: {moved} words moved, {len(pairs)} matched to the peer; distance median "
            f"{statistics.median(before):.3f} -> {statistics.median(after):.3f} s, mean "
            f"{statistics.mean(before):.3f} -> {statistics.mean(after):.3f} s, over 0.5 s "
            f"{sum(b > 0.5 for b in before)} -> {sum(a > 0.5 for a in after)}")


def main() -> int:
    parse = argparse.ArgumentParser(description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("--files", default="drop,quiet,bedtime,readings,hard,harder,room")
    parse.add_argument("--model", default="tiny.en")
    args = parse.parse_args()
    engine = FasterWhisperEngine(EngineOptions(
        model=args.model, language="en", compute_type="int8", beam_size=5, vad=True,
        threads=1, batch_size=4, window_seconds=300.0))
    engine.base_options = engine.options
    moved: list[tuple[Word, Word]] = []
    recording_moves(moved)
    every: list[tuple[float, float]] = []
    total = 0
    for path, _ in attribute_accuracy.recordings(args.files.split(",")):
        moved.clear()
        segments, _, _ = attribute_accuracy.run_project(engine, path, {})
        pairs = distances(segments, moved, peer_words(engine, path)) if moved else []
        print(summary(path.name, len(moved), pairs), flush=True)
        every += pairs
        total += len(moved)
    print(summary("all", total, every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
