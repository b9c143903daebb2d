"""The GPU worker image (DEVICE=cuda ./build.sh build), checked on a machine without a GPU: it
builds, every CUDA library CTranslate2 loads at run time is there and resolves its own
dependencies (ldd), the worker asked for `cuda` names only the driver as missing (the one piece
a GPU host brings), `auto` runs on the CPU, and the CPU image carries none of it.

Cost (measured here, docs/docker.md "The GPU worker image"): the image is 3.1 GB against the CPU
image's 760 MB and builds in about 106 s once the CPU images are there, so it adds about 2
minutes to a CI run. The CUDA wheels (1.35 GB) sit in a layer of their own before the engine's:
a rebuild after a code or engine change reuses it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.stack import IMAGE_SETTINGS, docker, new_stack

# One test process runs the whole module (`--dist loadgroup`): its module fixture is one
# scenario, and its teardown removes what another process's copy would still be using.
pytestmark = [pytest.mark.docker, pytest.mark.integration,
              pytest.mark.xdist_group("docker-gpu-image")]

GPU_IMAGE = "whisper-automation-worker-{ENGINE}-{MODEL}:{IMAGE_TAG}-cuda".format(
    **IMAGE_SETTINGS)

# Run inside the image: the CUDA sonames CTranslate2's library names (it dlopens them, so they
# are not in its DT_NEEDED and plain `ldd` of it shows none), plus cuDNN 9 that faster-whisper's
# README names; where each is found on LD_LIBRARY_PATH; what `ldd` cannot resolve for every
# library of those folders (libcudnn.so.9 dlopens its siblings); whether each loads by soname.
LINKS = r"""
import ctypes, json, os, pathlib, re, subprocess, ctranslate2
site = pathlib.Path(ctranslate2.__file__).parent.parent
library = next((site / "ctranslate2.libs").glob("libctranslate2*"))
named = set(re.findall(rb"lib(?:cublas|cudnn)[A-Za-z_]*\.so\.\d+", library.read_bytes()))
sonames = sorted({name.decode() for name in named} | {"libcublas.so.12", "libcudnn.so.9"})
folders = [pathlib.Path(f) for f in os.environ["LD_LIBRARY_PATH"].split(":") if f]
found = {name: next((str(f / name) for f in folders if (f / name).exists()), None)
         for name in sonames}
unresolved = {}
for folder in folders:
    for lib in sorted(folder.glob("*.so*")):
        out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
        missing = [l.split()[0] for l in out.splitlines() if "not found" in l]
        if missing:
            unresolved[lib.name] = missing
loads = {}
for name in sonames:
    try:
        ctypes.CDLL(name)
        loads[name] = True
    except OSError as error:
        loads[name] = str(error)
print(json.dumps({"found": found, "unresolved": unresolved, "loads": loads,
                  "gpus": ctranslate2.get_cuda_device_count()}))
"""

FORCED_CUDA = ("from whisper_automation.jobs.devices import resolve_device\n"
               "resolve_device('faster-whisper', 'cuda', 'auto')\n")
AUTO = ("from whisper_automation.jobs.devices import resolve_device\n"
        "device, compute = resolve_device('faster-whisper', 'auto', 'auto')\n"
        "print(device, compute)\n")


@pytest.fixture(scope="module")
def gpu_image(stack_images: dict[str, str], docker_report: dict) -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="wa-docker-gpu-"))
    try:
        stack = new_stack(folder, DEVICE="cuda", **IMAGE_SETTINGS)
        started = time.monotonic()
        built = stack.build_sh("build", timeout=3600)
        docker_report["gpu image build seconds"] = round(time.monotonic() - started, 1)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        for name, image in (("gpu", GPU_IMAGE), ("cpu", stack_images["worker"])):
            size = docker("image", "inspect", "--format", "{{.Size}}", image)
            assert size.returncode == 0, size.stderr
            docker_report[f"{name} worker image MB"] = round(int(size.stdout) / 1e6)
        yield GPU_IMAGE
    finally:
        docker("rmi", "-f", GPU_IMAGE)
        shutil.rmtree(folder, ignore_errors=True)


def python_in(image: str, code: str) -> tuple[int, str, str]:
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c",
                    code, timeout=300)
    return result.returncode, result.stdout, result.stderr


def test_gpu_image_has_every_cuda_library_ctranslate2_loads_with_its_dependencies(
        gpu_image: str) -> None:
    code, out, err = python_in(gpu_image, LINKS)
    assert code == 0, err
    links = json.loads(out)
    assert links["gpus"] == 0  # no GPU here: CTranslate2 answers, it does not crash
    assert links["found"]["libcublas.so.12"] and links["found"]["libcudnn.so.9"], links
    assert all(links["found"].values()), links["found"]
    # The driver (libcuda.so.1) is the host's, mounted by the NVIDIA Container Toolkit.
    unresolved = {lib: [m for m in missing if m != "libcuda.so.1"]
                  for lib, missing in links["unresolved"].items()}
    assert {lib: m for lib, m in unresolved.items() if m} == {}
    assert all(value is True for value in links["loads"].values()), links["loads"]


def test_gpu_image_worker_forced_to_cuda_names_only_the_missing_driver(gpu_image: str) -> None:
    code, _, err = python_in(gpu_image, FORCED_CUDA)
    assert code != 0
    assert "NVIDIA driver" in err and "libcuda.so.1" in err
    assert "cuBLAS" not in err and "cuDNN" not in err  # the image brings both


def test_gpu_image_on_a_machine_without_gpu_runs_on_the_cpu(gpu_image: str) -> None:
    code, out, err = python_in(gpu_image, AUTO)
    assert code == 0, err
    assert out.split() == ["cpu", "int8"]


def test_cpu_image_carries_no_cuda_library(stack_images: dict[str, str]) -> None:
    code, out, err = python_in(stack_images["worker"],
                               "import importlib.util as u; print(u.find_spec('nvidia'))")
    assert code == 0, err
    assert out.strip() == "None"
