"""How `run` shares this machine: how many worker processes, of how many threads each, on which
device: one per GPU when the engine sees GPUs (devices.py), else from the CPUs this process may
use (cpu.py) and the memory a worker of the chosen model needs."""

from __future__ import annotations

import os
from dataclasses import dataclass

from whisper_automation.jobs.cpu import available_cpus
from whisper_automation.jobs.devices import gpu_devices, parse_device
from whisper_automation.settings import Settings

# Peak memory of one worker by model size, with room to spare: tiny.en was measured at 770 MB
# in one process and up to 1,000 MB under `run` with the defaults of issue 18 (beam 5, batched,
# 300 s windows; docs/benchmarks.md); the larger ones are estimates.
WORKER_MEMORY_GB = {"tiny": 1.2, "base": 1.4, "small": 2.0, "medium": 3.6, "large": 6.0}
UNKNOWN_MEMORY_GB = 4.0  # /proc/meminfo unreadable: assume a small laptop


@dataclass(frozen=True)
class Layout:
    """How the machine is shared: `workers` processes of `threads` threads each, worker i on
    `devices[i]` (its WA_DEVICE: cuda:N pins it to one GPU; otherwise the setting as given)."""

    workers: int
    threads: int
    devices: tuple[str, ...] = ()

    def device_of(self, worker: int) -> str | None:
        return self.devices[worker] if self.devices else None


def choose_layout(settings: Settings, jobs: int) -> Layout:
    """Workers x threads for `run`, on the GPUs when there are any (see gpu_layout). Without:
    auto = one single-thread worker per CPU, as far as memory allows: measured on 2 cores,
    2 workers x 1 thread beat 1 x 2 by 1.2x on long recordings and 1.4x on short clips
    (docs/benchmarks.md)."""
    cpus = available_cpus()
    gpus = [str(gpu) for gpu in gpu_devices(settings.engine, parse_device(settings.device))]
    if gpus:
        return gpu_layout(gpus, settings, jobs, cpus)
    workers = settings.workers or max(1, min(cpus, int(available_memory_gb()
                                                       // worker_memory_gb(settings.model))))
    workers = max(1, min(workers, jobs))
    threads = settings.threads or max(1, cpus // workers)
    return Layout(workers, threads)


def gpu_layout(gpus: list[str], settings: Settings, jobs: int, cpus: int) -> Layout:
    """auto = one worker per GPU, each pinned to its own (a second worker on one GPU would only
    queue for it); an explicit count is spread over the GPUs in turn. The CPUs are shared
    among the workers for decoding audio and the VAD."""
    workers = max(1, min(settings.workers or len(gpus), jobs))
    threads = settings.threads or max(1, cpus // workers)
    return Layout(workers, threads, tuple(gpus[index % len(gpus)] for index in range(workers)))


def worker_memory_gb(model: str) -> float:
    name = os.path.basename(model.rstrip("/")).lower()
    sizes = [size for size in WORKER_MEMORY_GB if size in name]
    return WORKER_MEMORY_GB[sizes[0]] if sizes else WORKER_MEMORY_GB["small"]


def available_memory_gb(meminfo: str = "/proc/meminfo") -> float:
    try:
        with open(meminfo) as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return UNKNOWN_MEMORY_GB
