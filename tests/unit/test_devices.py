"""Device and compute-type choice without a GPU: CTranslate2's device count and the loading of
the CUDA libraries are stubbed, everything else is the real code."""

from __future__ import annotations

import ctranslate2
import pytest

from whisper_automation.jobs import devices, sizing
from whisper_automation.jobs.devices import (
    CPU,
    Device,
    DeviceKind,
    DeviceUnavailable,
    parse_device,
    resolve_device,
)
from whisper_automation.settings import SettingError, load_settings


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch):
    """gpus(count, missing=()): CTranslate2 counts `count` GPUs; the sonames in `missing`
    cannot be loaded, every other CUDA library can."""

    def machine(count: int, missing: tuple[str, ...] = ()) -> None:
        monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: count)
        monkeypatch.setattr(devices, "load_library",
                            lambda soname, package: soname not in missing)

    return machine


@pytest.mark.parametrize(("raw", "expected"), [
    ("auto", Device(DeviceKind.AUTO)), ("cpu", CPU), (" CUDA ", Device(DeviceKind.CUDA)),
    ("cuda:0", Device(DeviceKind.CUDA, 0)), ("cuda:3", Device(DeviceKind.CUDA, 3)),
])
def test_device_setting_accepts_auto_cpu_cuda_and_cuda_n(raw: str, expected: Device) -> None:
    assert parse_device(raw) == expected
    assert load_settings(environ={"WA_DEVICE": raw}).device == str(expected)


@pytest.mark.parametrize("raw", ["gpu", "cuda:", "cuda:-1", "cuda:x", "mps"])
def test_device_setting_rejects_anything_else_naming_the_variable(raw: str) -> None:
    with pytest.raises(SettingError, match=r"WA_DEVICE=.*auto, cpu, cuda or cuda:N"):
        load_settings(environ={"WA_DEVICE": raw})


def test_defaults_are_auto_device_and_auto_compute_type() -> None:
    settings = load_settings(environ={})
    assert (settings.device, settings.compute_type) == ("auto", "auto")


def test_auto_uses_the_cpu_with_int8_when_ctranslate2_sees_no_gpu(gpus) -> None:
    gpus(0, missing=("libcuda.so.1", "libcublas.so.12", "libcudnn.so.9"))
    assert resolve_device("faster-whisper", "auto", "auto") == (CPU, "int8")


def test_auto_uses_the_first_gpu_with_float16_when_ctranslate2_sees_one(gpus) -> None:
    gpus(2)
    assert resolve_device("faster-whisper", "auto", "auto") == (
        Device(DeviceKind.CUDA, 0), "float16")


def test_a_compute_type_that_is_set_is_kept_on_either_device(gpus) -> None:
    gpus(1)
    assert resolve_device("faster-whisper", "auto", "int8_float16")[1] == "int8_float16"
    assert resolve_device("faster-whisper", "cpu", "float32") == (CPU, "float32")


def test_cpu_is_used_when_asked_even_with_a_gpu(gpus) -> None:
    gpus(1)
    assert resolve_device("faster-whisper", "cpu", "auto") == (CPU, "int8")


def test_auto_falls_back_to_the_cpu_when_a_counted_gpu_lacks_cublas(gpus) -> None:
    gpus(1, missing=("libcublas.so.12",))
    assert resolve_device("faster-whisper", "auto", "auto") == (CPU, "int8")


def test_forced_cuda_without_a_gpu_names_the_driver_cublas_and_cudnn(gpus) -> None:
    gpus(0, missing=("libcuda.so.1", "libcublas.so.12", "libcudnn.so.9"))
    with pytest.raises(DeviceUnavailable) as raised:
        resolve_device("faster-whisper", "cuda", "auto")
    message = str(raised.value)
    for piece in ("WA_DEVICE=cuda", "NVIDIA driver", "libcuda.so.1", "cuBLAS", "cuDNN",
                  "--device auto or cpu"):
        assert piece in message


def test_forced_cuda_names_only_the_library_that_is_missing(gpus) -> None:
    gpus(1, missing=("libcudnn.so.9",))
    with pytest.raises(DeviceUnavailable) as raised:
        resolve_device("faster-whisper", "cuda", "auto")
    message = str(raised.value)
    assert "cuDNN" in message and "cuBLAS" not in message and "driver" not in message


def test_forced_gpu_number_beyond_those_visible_is_refused(gpus) -> None:
    gpus(2)
    assert resolve_device("faster-whisper", "cuda:1", "auto")[0] == Device(DeviceKind.CUDA, 1)
    with pytest.raises(DeviceUnavailable, match=r"GPU 2, but 2 GPU\(s\) are visible"):
        resolve_device("faster-whisper", "cuda:2", "auto")


def test_whisper_cpp_from_pypi_has_no_cuda_so_auto_is_the_cpu_and_cuda_is_refused(gpus) -> None:
    gpus(1)  # a GPU is there, but PyPI's pywhispercpp wheel cannot use it
    assert resolve_device("whisper.cpp", "auto", "auto")[0] == CPU
    with pytest.raises(DeviceUnavailable, match=r"whisper\.cpp build with CUDA"):
        resolve_device("whisper.cpp", "cuda", "auto")


def test_openai_whisper_follows_torch_which_says_when_it_is_a_cpu_build(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    monkeypatch.setattr(torch.version, "cuda", None)
    assert resolve_device("openai-whisper", "auto", "auto") == (CPU, "int8")
    with pytest.raises(DeviceUnavailable, match=r"CUDA build of torch"):
        resolve_device("openai-whisper", "cuda", "auto")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("openai-whisper", "auto", "auto") == (
        Device(DeviceKind.CUDA, 0), "float16")


# --- `run --workers auto`: one worker per GPU --------------------------------------------------


def layout(environ: dict[str, str], jobs: int = 100, cpus: int = 8,
           monkeypatch: pytest.MonkeyPatch | None = None) -> sizing.Layout:
    assert monkeypatch is not None
    monkeypatch.setattr(sizing, "available_cpus", lambda: cpus)
    monkeypatch.setattr(sizing, "available_memory_gb", lambda: 64.0)
    return sizing.choose_layout(load_settings(environ=environ), jobs)


def test_workers_auto_puts_one_worker_on_each_gpu(gpus, monkeypatch) -> None:
    gpus(3)
    chosen = layout({}, monkeypatch=monkeypatch)
    assert (chosen.workers, chosen.threads) == (3, 2)
    assert chosen.devices == ("cuda:0", "cuda:1", "cuda:2")


def test_workers_auto_without_a_gpu_sizes_by_cpu_as_before(gpus, monkeypatch) -> None:
    gpus(0, missing=("libcuda.so.1",))
    chosen = layout({}, cpus=4, monkeypatch=monkeypatch)
    assert (chosen.workers, chosen.threads, chosen.devices) == (4, 1, ())
    assert chosen.device_of(0) is None  # the worker keeps WA_DEVICE as set (auto: the CPU)


def test_device_cpu_sizes_by_cpu_even_with_gpus(gpus, monkeypatch) -> None:
    gpus(2)
    chosen = layout({"WA_DEVICE": "cpu"}, cpus=4, monkeypatch=monkeypatch)
    assert (chosen.workers, chosen.devices) == (4, ())


def test_an_explicit_worker_count_is_spread_over_the_gpus_in_turn(gpus, monkeypatch) -> None:
    gpus(2)
    chosen = layout({"WA_WORKERS": "3"}, monkeypatch=monkeypatch)
    assert chosen.devices == ("cuda:0", "cuda:1", "cuda:0")


def test_a_gpu_named_by_number_gets_the_single_auto_worker(gpus, monkeypatch) -> None:
    gpus(4)
    chosen = layout({"WA_DEVICE": "cuda:2"}, monkeypatch=monkeypatch)
    assert (chosen.workers, chosen.devices) == (1, ("cuda:2",))


def test_never_more_gpu_workers_than_files(gpus, monkeypatch) -> None:
    gpus(4)
    assert layout({}, jobs=2, monkeypatch=monkeypatch).devices == ("cuda:0", "cuda:1")


def test_forced_cuda_stops_the_sizing_before_any_worker_starts(gpus, monkeypatch) -> None:
    gpus(0, missing=("libcublas.so.12",))
    with pytest.raises(DeviceUnavailable, match="cuBLAS"):
        layout({"WA_DEVICE": "cuda"}, monkeypatch=monkeypatch)


# --- status shows each worker's device --------------------------------------------------------


def test_status_shows_each_live_workers_device() -> None:
    import time

    from whisper_automation.jobs.status import Status
    from whisper_automation.web.statuspage import render_html

    now = time.time()

    def worker(name: str, engine: dict) -> dict:
        return {"id": name, "live": True, "state": "idle", "file": None, "since": now,
                "files_done": 0, "last_seen": now, "engine": engine}

    status = Status(workers=[worker("gpu-1", {"device": "cuda:1"}),
                             worker("old-1", {})])  # a record from before devices: the CPU
    text = status.to_text()
    assert "gpu-1 (cuda:1): idle" in text and "old-1 (cpu): idle" in text
    page = render_html(status)
    assert "<td>cuda:1</td>" in page and "<th>device</th>" in page
