"""Where a model runs: the CPU or an NVIDIA GPU, as WA_DEVICE asks and the engine can.

`auto` takes a GPU when the engine's own library sees one (CTranslate2 for faster-whisper,
torch for openai-whisper, the build of whisper.cpp) and the CUDA libraries it loads at run time
are there; otherwise the CPU, as before. A forced `cuda` or `cuda:N` never falls back: it stops
with DeviceUnavailable naming what is missing (the driver, cuBLAS, cuDNN, a CUDA build).
The compute type follows the device unless set: float16 on a GPU, int8 on a CPU.

Nothing heavy is imported at module level: settings.py parses WA_DEVICE with this module, and
the director's slim image has neither CTranslate2 nor torch.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from whisper_automation.errors import DeviceUnavailable

log = logging.getLogger(__name__)


class DeviceKind(StrEnum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


@dataclass(frozen=True)
class Device:
    """A device as asked for (auto, cpu, cuda, cuda:N) or as chosen (cpu, cuda:N)."""

    kind: DeviceKind
    index: int | None = None  # cuda:N; None = the first GPU (or any, when asked for)

    def __str__(self) -> str:
        return f"{self.kind}:{self.index}" if self.index is not None else str(self.kind)

    @property
    def is_gpu(self) -> bool:
        return self.kind is DeviceKind.CUDA


CPU = Device(DeviceKind.CPU)


def parse_device(raw: str) -> Device:
    """'auto', 'cpu', 'cuda' or 'cuda:N'; ValueError(what is accepted) otherwise."""
    value = raw.strip().lower()
    match = re.fullmatch(r"cuda:(\d+)", value)
    if match:
        return Device(DeviceKind.CUDA, int(match.group(1)))
    try:
        return Device(DeviceKind(value))
    except ValueError:
        raise ValueError("auto, cpu, cuda or cuda:N (N = the GPU's number, from 0)") from None


# --- what the engines' libraries see -------------------------------------------------------

# The CUDA libraries faster-whisper's README names for CTranslate2 4.x (CUDA 12, cuDNN 9):
# sonames, and the pip wheels (nvidia-cublas-cu12, nvidia-cudnn-cu12) that carry them.
CUDA_LIBRARIES = {
    "the NVIDIA driver (libcuda.so.1; in a container: the NVIDIA Container Toolkit and a GPU "
    "reservation)": ("libcuda.so.1", None),
    "cuBLAS for CUDA 12 (libcublas.so.12: pip install nvidia-cublas-cu12)":
        ("libcublas.so.12", "nvidia.cublas"),
    "cuDNN 9 for CUDA 12 (libcudnn.so.9: pip install nvidia-cudnn-cu12==9.*)":
        ("libcudnn.so.9", "nvidia.cudnn"),
}


def load_library(soname: str, package: str | None) -> bool:
    """Load a shared library by its soname, or from the pip wheel that carries it (so CTranslate2's
    own dlopen of the soname then finds it without LD_LIBRARY_PATH)."""
    candidates = [soname]
    folder = _wheel_lib_folder(package) if package else None
    if folder is not None:
        candidates.insert(0, str(folder / soname))
    for candidate in candidates:
        try:
            ctypes.CDLL(candidate, mode=ctypes.RTLD_GLOBAL)
            return True
        except OSError:
            continue
    return False


def _wheel_lib_folder(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) / "lib" if locations else None


def missing_cuda_libraries(load: Callable[[str, str | None], bool] | None = None) -> list[str]:
    """The CUDA pieces that cannot be loaded here, described for a person."""
    load = load or load_library
    return [what for what, (soname, package) in CUDA_LIBRARIES.items()
            if not load(soname, package)]


def ctranslate2_gpu_count() -> int:
    try:
        import ctranslate2
    except ImportError:
        return 0
    return ctranslate2.get_cuda_device_count()


def torch_gpu_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def whispercpp_has_cuda() -> bool:
    """Whether this whisper.cpp build can use a GPU (PyPI's pywhispercpp wheel cannot)."""
    try:
        import _pywhispercpp as whisper_cpp
    except ImportError:
        return False
    return "CUDA" in whisper_cpp.whisper_print_system_info()


@dataclass(frozen=True)
class GpuView:
    """What one engine's library sees: how many GPUs, and why none if none."""

    count: int
    missing: tuple[str, ...] = ()


def gpu_view(engine: str) -> GpuView:
    """The GPUs `engine` can use on this machine (0 for custom engines: they say for themselves)."""
    if engine == "openai-whisper":
        return _torch_view()
    if engine == "whisper.cpp" and not whispercpp_has_cuda():
        return GpuView(0, ("a whisper.cpp build with CUDA (PyPI's pywhispercpp wheel is "
                           "CPU-only; build it with GGML_CUDA=1)",))
    if engine in ("faster-whisper", "whisper.cpp"):
        return _ctranslate2_view()
    return GpuView(0, (f"GPU support in the engine {engine!r}",))


def _ctranslate2_view() -> GpuView:
    count = ctranslate2_gpu_count()
    missing = tuple(missing_cuda_libraries())
    if count and not missing:
        return GpuView(count)
    # CTranslate2 counts GPUs through the driver alone; cuBLAS and cuDNN are loaded only when
    # a model is, so a GPU it counts can still be unusable.
    return GpuView(0, missing or ("a GPU the driver reports (CTranslate2 counts none)",))


def _torch_view() -> GpuView:
    try:
        import torch
    except ImportError:
        return GpuView(0, ("torch",))
    if torch.version.cuda is None:
        return GpuView(0, ("a CUDA build of torch (this one is CPU-only: "
                           "pip install torch from https://download.pytorch.org/whl/cu128)",))
    count = torch_gpu_count()
    return GpuView(count) if count else GpuView(0, ("the NVIDIA driver (torch sees no GPU)",))


# --- the choice --------------------------------------------------------------------------------


def choose_device(requested: Device, view: GpuView) -> Device:
    """The device to run on. auto: the first GPU if one is usable, else the CPU. cuda / cuda:N:
    that GPU, or DeviceUnavailable naming what is missing."""
    if requested.kind is DeviceKind.CPU:
        return CPU
    if requested.kind is DeviceKind.AUTO:
        if view.count:
            return Device(DeviceKind.CUDA, 0)
        if view.missing:
            log.debug("no usable GPU (missing: %s); using the CPU", "; ".join(view.missing))
        return CPU
    index = requested.index or 0
    if not view.count:
        raise DeviceUnavailable(
            f"WA_DEVICE={requested} asks for a GPU, but none is usable here: missing "
            + "; ".join(view.missing) + ". Use --device auto or cpu to run on the CPU.")
    if index >= view.count:
        raise DeviceUnavailable(
            f"WA_DEVICE={requested} asks for GPU {index}, but {view.count} GPU(s) are visible "
            f"(cuda:0 to cuda:{view.count - 1}; CUDA_VISIBLE_DEVICES may hide others).")
    return Device(DeviceKind.CUDA, index)


def compute_type_for(requested: str, device: Device) -> str:
    """WA_COMPUTE_TYPE=auto follows the device: float16 on a GPU (what faster-whisper's GPU
    benchmarks use), int8 on a CPU (measured fastest on 2 cores, docs/benchmarks.md)."""
    if requested != "auto":
        return requested
    return "float16" if device.is_gpu else "int8"


def gpu_devices(engine: str, requested: Device) -> list[Device]:
    """The GPUs `run --workers auto` puts one worker on each of: every usable GPU for auto and
    cuda, the one asked for with cuda:N, none for cpu or when none is usable."""
    if requested.kind is DeviceKind.CPU:
        return []
    view = gpu_view(engine)
    if requested.index is not None:
        return [choose_device(requested, view)]
    if requested.kind is DeviceKind.CUDA and not view.count:
        choose_device(requested, view)  # raises, naming what is missing
    return [Device(DeviceKind.CUDA, index) for index in range(view.count)]


def resolve_device(engine: str, device: str, compute_type: str) -> tuple[Device, str]:
    """The device a worker of `engine` runs on and its compute type, from WA_DEVICE and
    WA_COMPUTE_TYPE; DeviceUnavailable for a GPU asked for and not usable."""
    requested = parse_device(device)
    chosen = CPU if requested.kind is DeviceKind.CPU else choose_device(requested,
                                                                       gpu_view(engine))
    return chosen, compute_type_for(compute_type, chosen)
