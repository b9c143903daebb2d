"""`whisper-automation estimate SRC`: how long the whole source would take, per model and device,
before a run of days starts.

Two measurements, both quick:
- the audio in the source, from each recording's container header (PyAV reads a few KB; on S3
  through ranged reads of the object, never a download of the whole file);
- how fast each model that is available on this machine (no download) runs on each device this
  machine has, from the bundled minute of speech (calibration/speech.opus) transcribed through
  the real pipeline with the run's settings, the model's load excluded.
The expected wall time is the audio divided by the measured speed times the workers `run` would
start (one per GPU, else by the CPUs and memory, sizing.py). Workers of one thread each share
nothing but memory bandwidth, so N of them run close to N times one; on a busy machine less.
"""

from __future__ import annotations

import io
import json
import logging
import os
import platform
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from whisper_automation.jobs.devices import (
    CPU,
    Device,
    DeviceKind,
    compute_type_for,
    gpu_view,
    parse_device,
)
from whisper_automation.settings import Settings
from whisper_automation.storage.base import LocalStorage, Storage
from whisper_automation.web.media import ByteRange, Media, open_media

log = logging.getLogger(__name__)

CALIBRATION_SPEECH = Path(__file__).parent / "calibration" / "speech.opus"
# The names faster-whisper downloads; one counts as available when it is already on this
# machine (an offline package, or the model hub's local cache).
MODEL_NAMES = ("tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium",
               "large-v3", "large-v3-turbo", "distil-large-v3")
# Word error rates this project measured for its defaults (docs/benchmarks.md, "Against the
# goals": tiny.en, story readings and short clips); other models are not measured yet.
MEASURED_ACCURACY = {"tiny.en": "WER 5.4 % (story readings), 4.7 % (short clips)"}
READ_BLOCK = 256 * 1024  # a header read from S3 is one or two ranged GETs of this size


# --- the audio in a source ---------------------------------------------------------------------


@dataclass(frozen=True)
class SourceAudio:
    files: int
    seconds: float
    unreadable: list[str]
    probe_seconds: float  # wall time spent reading headers


def total_audio(source: Storage, keys: Iterable[str], extensions: Iterable[str]) -> SourceAudio:
    """Every recording's length from its header; files without a readable header are listed."""
    started = time.monotonic()
    extensions = tuple(extensions)
    seconds, files, unreadable = 0.0, 0, []
    for key in keys:
        files += 1
        duration = header_seconds(source, key, extensions)
        if duration is None:
            unreadable.append(key)
        else:
            seconds += duration
    return SourceAudio(files, seconds, unreadable, time.monotonic() - started)


def source_audio(source: Storage, extensions: Iterable[str]) -> SourceAudio:
    extensions = tuple(extensions)
    return total_audio(source, (key for key, _ in source.scan(extensions)), extensions)


def header_seconds(source: Storage, key: str, extensions: tuple[str, ...]) -> float | None:
    from whisper_automation.transcription.audio import probe_duration

    try:
        if isinstance(source, LocalStorage):
            return probe_duration(str(source.path(key)))
        media = open_media(source, key, extensions)
        try:
            # PyAV opens a file object as well as a path: header reads become ranged GETs.
            return probe_duration(RangedReader(media))  # type: ignore[arg-type]
        finally:
            media.close()
    except Exception as error:  # not audio, unreadable, a store's failure: counted apart
        log.debug("no length for %s: %s", key, error)
        return None


class RangedReader(io.RawIOBase):
    """A seekable, read-only file over a Media's byte ranges, a block at a time."""

    def __init__(self, media: Media) -> None:
        self._media, self._position = media, 0
        self._block_start, self._block = -1, b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._media.size}
        self._position = max(0, base[whence] + offset)
        return self._position

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._position >= self._media.size:
            return 0
        start = self._position - self._position % READ_BLOCK
        if start != self._block_start:
            last = min(start + READ_BLOCK, self._media.size) - 1
            self._block = b"".join(self._media.read(ByteRange(start, last)))
            self._block_start = start
        data = self._block[self._position - start:][:len(buffer)]
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)


# --- how fast each model runs here ----------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    model: str
    device: str
    compute_type: str
    speed: float  # audio seconds per wall second, one worker
    load_seconds: float


def available_models(settings: Settings, asked: Iterable[str] = ()) -> list[str]:
    """The models to calibrate: those asked for, else the run's own model and every known name
    already on this machine."""
    asked = list(asked)
    if asked:
        return asked
    names = [settings.model] + [name for name in MODEL_NAMES if name != settings.model]
    return [name for name in names if is_local_model(name)]


def is_local_model(model: str) -> bool:
    from whisper_automation.transcription.engines.models import (
        OFFLINE_PACKAGES,
        resolve_faster_whisper_model,
    )

    if Path(model).exists():
        return True
    if model in OFFLINE_PACKAGES:
        return resolve_faster_whisper_model(model) != model
    try:
        from faster_whisper.utils import download_model

        download_model(model, local_files_only=True)
        return True
    except Exception:  # not in the local cache (or not a name the hub knows)
        return False


def local_devices(settings: Settings) -> list[Device]:
    """The devices to calibrate on: the one asked for, or the CPU and the first GPU if any."""
    requested = parse_device(settings.device)
    if requested.kind is not DeviceKind.AUTO:
        return [requested if requested.is_gpu else CPU]
    gpus = gpu_view(settings.engine).count
    return [CPU, Device(DeviceKind.CUDA, 0)] if gpus else [CPU]


def calibrate(settings: Settings, model: str, device: Device, threads: int,
              speech: Path = CALIBRATION_SPEECH) -> Calibration:
    """One worker's speed on the bundled speech: the engine loaded with the run's options on
    `device`, the whole pipeline (VAD, windows, recovery) timed, the load excluded."""
    from whisper_automation.transcription.engines.base import EngineOptions, load_engine
    from whisper_automation.transcription.pipeline import transcribe_file

    compute_type = compute_type_for(settings.compute_type, device)
    options = replace(EngineOptions.from_settings(replace(settings, model=model), threads),
                      device=str(device), compute_type=compute_type)
    started = time.monotonic()
    engine = load_engine(settings.engine, options)
    loaded = time.monotonic()
    result = transcribe_file(engine, str(speech))
    wall = time.monotonic() - loaded
    return Calibration(model, str(device), compute_type,
                       result.duration / max(wall, 1e-6), loaded - started)


# `run` prints an estimate at every start; timing it anew cost 3-5 s of a 2-core machine before
# any worker could start (a tenth of a 20-minute workload's run). So `run` keeps each timing in
# the cache folder, keyed by everything that changes the speed; `estimate` always times anew.
CALIBRATIONS_FILE = "calibrations.json"


def remembered_calibration(settings: Settings, model: str, device: Device, threads: int,
                           cache: Path | None = None) -> Calibration:
    """calibrate(), once per machine, package version and decoding options."""
    path = cache or calibrations_path()
    key = calibration_key(settings, model, device, threads)
    stored = _read_calibrations(path)
    if key in stored:
        try:
            return Calibration(**stored[key])
        except TypeError:  # written by another version: timed again below
            pass
    calibration = calibrate(settings, model, device, threads)
    remember_calibration(path, key, calibration)
    return calibration


def calibrations_path() -> Path:
    from whisper_automation.transcription.engines.models import model_cache_dir

    return model_cache_dir().parent / CALIBRATIONS_FILE


def calibration_key(settings: Settings, model: str, device: Device, threads: int) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("whisper-automation")
    except PackageNotFoundError:  # run from a source tree without installing
        package = "source"
    return json.dumps([package, platform.machine(), _cpu_name(),
                       os.cpu_count(), settings.engine, model, str(device),
                       settings.compute_type, threads, settings.beam_size, settings.batch_size,
                       settings.window_seconds, settings.vad])


def remember_calibration(path: Path, key: str, calibration: Calibration) -> None:
    stored = _read_calibrations(path)
    stored[key] = asdict(calibration)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(stored, indent=1))
        temporary.replace(path)  # atomic: two runs starting at once each write a whole file
    except OSError as error:
        log.debug("calibration not remembered: %s", error)


def _read_calibrations(path: Path) -> dict:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    calibration: Calibration
    workers: int
    wall_seconds: float

    @property
    def accuracy(self) -> str:
        return MEASURED_ACCURACY.get(self.calibration.model, "not measured")


def estimates(settings: Settings, audio: SourceAudio, models: Iterable[str]) -> Iterator[Estimate]:
    from whisper_automation.jobs.sizing import choose_layout

    for device in local_devices(settings):
        pinned = replace(settings, device=str(device) if device.is_gpu else "cpu")
        for model in models:
            layout = choose_layout(replace(pinned, model=model), jobs=max(1, audio.files))
            calibration = calibrate(pinned, model, device, layout.threads)
            remember_calibration(calibrations_path(),
                                 calibration_key(pinned, model, device, layout.threads),
                                 calibration)
            rate = calibration.speed * layout.workers
            yield Estimate(calibration, layout.workers, audio.seconds / rate)


def format_hours(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{max(seconds, 0) / 60:.1f} min"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return (f"{days} d " if days else "") + f"{hours} h {minutes:02d} min"


def audio_line(audio: SourceAudio) -> str:
    line = (f"{audio.files} recording(s), {format_hours(audio.seconds)} of audio "
            f"({audio.seconds / 3600:.2f} h; headers read in {audio.probe_seconds:.1f} s)")
    if audio.unreadable:
        line += f"; {len(audio.unreadable)} without a readable header (not counted)"
    return line


def table(rows: list[Estimate]) -> str:
    lines = ["| model | device | compute type | workers | speed (audio s/s, all workers) "
             "| expected wall time | accuracy (docs/benchmarks.md) |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        c = row.calibration
        lines.append(f"| {c.model} | {c.device} | {c.compute_type} | {row.workers} | "
                     f"{c.speed * row.workers:.1f} | {format_hours(row.wall_seconds)} | "
                     f"{row.accuracy} |")
    return "\n".join(lines)
