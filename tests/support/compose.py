"""Reading docker-compose.yml the way Docker would, for tests that cannot run a Docker engine:
the resolved configuration comes from `docker-compose config` (Debian's docker-compose 1.29,
which interpolates .env values offline), the entrypoint from each service's Dockerfile."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"


def compose_binary() -> str | None:
    return shutil.which("docker-compose")


def resolved_config(overrides: dict[str, str] | None = None,
                    compose_file: Path = COMPOSE_FILE) -> dict:
    """The compose file with .env.example's values (and `overrides`) filled in."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WA_")}
    env.update(overrides or {})
    result = subprocess.run(
        [compose_binary() or "docker-compose", "-f", str(compose_file), "--env-file",
         str(ENV_EXAMPLE), "config"], capture_output=True, text=True, env=env, check=True,
        cwd=REPO)
    return yaml.safe_load(result.stdout)


def entrypoint(service: dict) -> list[str]:
    """The image's ENTRYPOINT, read from the service's Dockerfile."""
    dockerfile = Path(service["build"]["context"]) / service["build"]["dockerfile"]
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile.read_text(), re.MULTILINE)
    assert match, f"{dockerfile} has no exec-form ENTRYPOINT"
    return json.loads(match.group(1))


def host_command(service: dict) -> list[str]:
    """What the container would run, as a command on this machine."""
    command = entrypoint(service) + list(service.get("command") or [])
    assert command[0] == "whisper-automation", command
    return [sys.executable, "-m", "whisper_automation", *command[1:]]


def host_environment(service: dict, endpoint: str) -> dict[str, str]:
    """The service's environment with container paths mapped to the host folders mounted there
    and the LocalStack service name replaced by a real LocalStack's endpoint."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) \
            else volume.split(":")[:2]
        mounts[target] = source
    env = {}
    for key, value in (service.get("environment") or {}).items():
        value = "" if value is None else str(value)
        env[key] = mounts.get(value, value).replace("http://localstack:4566", endpoint)
    return env
