"""Where accuracy goes: the pipeline's candidate causes measured one at a time, in one process.

    .venv/bin/python scripts/attribute_accuracy.py [--files hard,readings,bedtime] \
        [--variants peer,defaults,...] [--model tiny.en] [--threads 2]

Each variant transcribes the same recordings with one faster-whisper model loaded once; the peer
is faster-whisper's own long-form decoding (`WhisperModel.transcribe(path, vad_filter=True,
beam_size=5, condition_on_previous_text=True)`, what whisper-ctranslate2 runs). For each variant:
corpus WER, its insertions, deletions and substitutions, the longest run of reference words lost,
and the errors that fall within 5 s of a window seam (timed words aligned to the reference).
The table goes to stdout as Markdown (docs/benchmarks.md keeps it with the command).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.support.wer import normalise  # noqa: E402

from whisper_automation.transcription.speech import Segment, Word  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
SETS = {"hard": CORPUS / "hard", "readings": CORPUS / "readings", "bedtime": CORPUS / "bedtime",
        "longform": CORPUS / "longform"}
SEAM_SECONDS = 5.0
# The corpus's recordings in other languages (with Whisper base: detected per file, scored with
# a basic normaliser, since the English one would rewrite their words).
FOREIGN = {CORPUS / "leopard_test_es.wav": "es", CORPUS / "leopard_test_fr.wav": "fr",
           CORPUS / "mfa_13697_11991_000000.opus": "es",
           CORPUS / "readings" / "aeneas_de_simplicissimus.mp3": "de"}


@dataclasses.dataclass
class Score:
    words: int = 0
    insertions: int = 0
    deletions: int = 0
    substitutions: int = 0
    lost_run: int = 0
    seconds: float = 0.0
    near_seams: int = 0

    @property
    def wer(self) -> float:
        return (self.insertions + self.deletions + self.substitutions) / max(1, self.words)

    def add(self, other: Score) -> None:
        for name in ("words", "insertions", "deletions", "substitutions", "near_seams"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.lost_run = max(self.lost_run, other.lost_run)
        self.seconds += other.seconds


def recordings(names: list[str]) -> list[tuple[Path, str]]:
    found = []
    for name in names:
        if name in ("evening", "harder", "room", "quiet", "drop"):  # made by the benchmark
            found += made_by_benchmark(name)
            continue
        if name == "foreign":
            found += [(path, (read_manifest(path.parent / "MANIFEST.tsv")[path.name][0], code))
                      for path, code in FOREIGN.items()]
            continue
        folder = SETS.get(name)
        if folder is None:  # a single file of the corpus
            path = Path(name)
            rows = read_manifest(path.parent / "MANIFEST.tsv")
            found.append((path, rows[path.name]))
            continue
        for file, (reference, language) in read_manifest(folder / "MANIFEST.tsv").items():
            if language == "en":
                found.append((folder / file, (reference, language)))
    return found


def made_by_benchmark(name: str) -> list[tuple[Path, tuple[str, str]]]:
    """The benchmark's evening (the bedtime readings joined three times: about an hour),
    harder (the readings as a far worse phone records them), room (the bedtime readings with
    another voice in the room), quiet (the bedtime readings 26 dB down under a hum) or drop
    (34 dB down after two minutes), made once into its cache."""
    sys.path.insert(0, str(REPO / "scripts"))
    import benchmark

    workload = benchmark.load_workloads([name], CORPUS, benchmark.DEFAULT_CACHE)[0]
    return [(recording.path, (recording.reference, "en")) for recording in workload.recordings]


def read_manifest(path: Path) -> dict[str, tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return {row["file"]: (row["reference_text"], row.get("language") or "en")
                for row in csv.DictReader(stream, delimiter="\t")}


def score(reference: str, segments: list[Segment], seams: list[float], language: str = "en"
          ) -> Score:
    import jiwer
    from whisper.normalizers import BasicTextNormalizer

    clean = normalise if language == "en" else BasicTextNormalizer()
    hypothesis = clean("".join(segment.text for segment in segments)) or "<empty>"
    output = jiwer.process_words(clean(reference), hypothesis)
    lost = max((chunk.ref_end_idx - chunk.ref_start_idx for chunk in output.alignments[0]
                if chunk.type == "delete"), default=0)
    result = Score(words=len(output.references[0]), insertions=output.insertions,
                   deletions=output.deletions, substitutions=output.substitutions,
                   lost_run=lost)
    result.near_seams = errors_near(output, segments, seams)
    return result


def errors_near(output, segments: list[Segment], seams: list[float]) -> int:
    """Errors whose hypothesis words (or, for deletions, the neighbouring hypothesis word)
    were timed within SEAM_SECONDS of a window seam: the normalised words are matched to the
    timed words in proportion, which is close enough to place an error within seconds."""
    if not seams:
        return 0
    times = [word.start for segment in segments for word in segment.words]
    hypothesis_words = len(output.hypotheses[0])
    if not times or not hypothesis_words:
        return 0
    count = 0
    for chunk in output.alignments[0]:
        if chunk.type == "equal":
            continue
        index = min(hypothesis_words - 1, chunk.hyp_start_idx)
        moment = times[min(len(times) - 1, index * len(times) // hypothesis_words)]
        if any(abs(moment - seam) <= SEAM_SECONDS for seam in seams):
            count += max(chunk.ref_end_idx - chunk.ref_start_idx,
                         chunk.hyp_end_idx - chunk.hyp_start_idx)
    return count


def run_peer(model, path: Path, beam: int, language: str | None
             ) -> tuple[list[Segment], list[float], str]:
    # Exactly whisper-ctranslate2's decoding (its word timestamps are off by default: with
    # them faster-whisper moves its 30 s window differently, and loses more).
    pieces, info = model.transcribe(str(path), vad_filter=True, beam_size=beam,
                                    condition_on_previous_text=True, word_timestamps=False,
                                    language=language)
    return [Segment(start=piece.start, end=piece.end, text=piece.text,
                    words=[Word(start=w.start, end=w.end, word=w.word, probability=w.probability)
                           for w in piece.words or []])
            for piece in pieces], [], info.language


def run_project(engine, path: Path, options: dict) -> tuple[list[Segment], list[float], str]:
    from whisper_automation.transcription import pipeline, windows

    options = dict(options)
    vad_changes = options.pop("vad", {})
    engine.options = dataclasses.replace(engine.base_options, **options)
    seams: list[float] = []
    original = windows.cut_windows

    def recording_seams(*args, **kwargs):
        inner = original(*args, **kwargs)
        resume = None
        while True:  # forwards what the pipeline sends (a window handed back from a moment)
            try:
                window = inner.send(resume)
            except StopIteration:
                return
            if window.offset:
                seams.append(window.offset)
            resume = yield window

    pipeline.cut_windows = recording_seams
    shared_vad = windows.VAD_OPTIONS
    windows.VAD_OPTIONS = dataclasses.replace(shared_vad, **vad_changes)
    try:
        result = pipeline.transcribe_file(engine, str(path))
    finally:
        pipeline.cut_windows = original
        windows.VAD_OPTIONS = shared_vad
    return result.segments, seams, result.language


VARIANTS: dict[str, dict] = {
    # name: EngineOptions fields changed from the defaults (batched by 4, beam 5, 300 s
    # windows); "peer" is faster-whisper's own long-form decoding.
    "peer": {},
    "defaults": {},
    "auto-beam": {"beam_size": 0},
    "beam5": {"beam_size": 5},
    "greedy": {"beam_size": 1},
    "beam2": {"beam_size": 2},
    "beam3": {"beam_size": 3},
    "beam4": {"beam_size": 4},
    "sequential-beam5": {"batch_size": 0, "beam_size": 5},
    "beam5-one-window": {"beam_size": 5, "window_seconds": 7200.0},
    "sequential-beam5-one-window": {"batch_size": 0, "beam_size": 5, "window_seconds": 7200.0},
    "beam5-no-recovery": {"beam_size": 5, "recover_seconds": 0.0},
    "sequential-beam5-no-recovery": {"batch_size": 0, "beam_size": 5, "recover_seconds": 0.0},
    "recover-1": {"recover_seconds": 1.0},  # every skip of 1 s retried, not only across a cut
    "beam5-w600": {"beam_size": 5, "window_seconds": 600.0},
    "beam5-w300": {"beam_size": 5, "window_seconds": 300.0},
    "beam5-w180": {"beam_size": 5, "window_seconds": 180.0},
    "sequential-beam5-w600": {"batch_size": 0, "beam_size": 5, "window_seconds": 600.0},
    # The shared VAD (faster-whisper's sequential defaults: threshold 0.5, 2 s of silence ends
    # a region, 400 ms of padding; regions split at 30 s), one parameter changed at a time.
    "vad-pad-200": {"vad": {"speech_pad_ms": 200}},
    "vad-pad-800": {"vad": {"speech_pad_ms": 800}},
    "vad-silence-160": {"vad": {"min_silence_duration_ms": 160}},  # its batched pipeline's
    "vad-threshold-0.35": {"vad": {"threshold": 0.35}},
}


def main() -> int:
    parse = argparse.ArgumentParser(description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("--files", default="hard,readings,bedtime")
    parse.add_argument("--variants", default="peer,defaults,beam5,sequential-beam5")
    parse.add_argument("--model", default="tiny.en")
    parse.add_argument("--threads", type=int, default=2)
    parse.add_argument("--batch-size", type=int, default=4)
    parse.add_argument("--language", default="en", help="a code, or 'detect'")
    args = parse.parse_args()

    from whisper_automation.transcription.engines.base import EngineOptions
    from whisper_automation.transcription.engines.faster import FasterWhisperEngine

    language = None if args.language == "detect" else args.language
    base = EngineOptions(model=args.model, language=language, compute_type="int8", beam_size=5,
                         vad=True, threads=args.threads, batch_size=args.batch_size,
                         window_seconds=300.0)
    engines = {}
    files = recordings(args.files.split(","))
    rows = []
    for variant in args.variants.split(","):
        overrides = VARIANTS[variant]
        batched = overrides.get("batch_size", args.batch_size) > 0
        if batched not in engines:
            engines[batched] = FasterWhisperEngine(
                dataclasses.replace(base, batch_size=args.batch_size if batched else 0))
            engines[batched].base_options = engines[batched].options
        engine = engines[batched]
        total = Score()
        for path, (reference, spoken) in files:
            started = time.monotonic()
            if variant == "peer":
                segments, seams, heard = run_peer(engine._model, path, 5, language)
            else:
                segments, seams, heard = run_project(engine, path, overrides)
            one = score(reference, segments, seams, spoken)
            one.seconds = time.monotonic() - started
            print(f"{variant:32s} {path.name:60s} WER {100 * one.wer:5.2f} %"
                  f" ins {one.insertions:3d}"
                  f" del {one.deletions:3d} sub {one.substitutions:3d} lost {one.lost_run:3d}"
                  f" seams {one.near_seams:3d} {one.seconds:6.1f} s language {heard}"
                  f" (spoken: {spoken})", file=sys.stderr, flush=True)
            total.add(one)
        rows.append((variant, total))
    print(f"\n{len(files)} recordings: {', '.join(path.name for path, _ in files)}\n")
    print("| variant | WER % | insertions | deletions | substitutions | longest lost run "
          "| errors within 5 s of a seam | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for variant, total in rows:
        print(f"| {variant} | {100 * total.wer:.2f} | {total.insertions} | {total.deletions} "
              f"| {total.substitutions} | {total.lost_run} | {total.near_seams} "
              f"| {total.seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
