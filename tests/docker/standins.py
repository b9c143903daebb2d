"""Base images for the project's Dockerfiles: pulled when Docker Hub answers, else stand-ins.

This machine reaches the package registries but not Docker Hub, so `python:3.11-slim-bookworm`
and `localstack/localstack:4.14.0` are built here under the same tags, from Debian roots made
with `mmdebstrap --variant=minbase` and `docker import`ed (tests/docker/standins/*/Dockerfile).
A stand-in is built only when the tag is missing and its pull fails (with a timeout: an
unreachable registry must not hang the run). Stand-ins carry a label with a digest of their
inputs, so an edited stand-in is rebuilt; a pulled image is never touched. Test tooling only:
nothing a user runs depends on it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.docker.engine import EngineUnavailable, apt_install, can_install

HERE = Path(__file__).resolve().parent / "standins"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PULL_TIMEOUT = 90
LABEL = "org.whisper-automation.standin"
APT_LOCK = threading.Lock()
# Docs, manuals and translations are left out of the roots, as in the official slim images.
SLIM = ["--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        "--dpkgopt=path-exclude=/usr/share/locale/*"]


class StandInFailed(RuntimeError):
    """A stand-in image could not be built (a real failure, never a reason to skip)."""


@dataclass(frozen=True)
class StandIn:
    tag: str
    folder: str  # under tests/docker/standins
    suite: str  # Debian release of the root
    packages: tuple[str, ...]

    @property
    def root_tag(self) -> str:
        return f"whisper-automation-standin/{self.suite}-root:latest"

    def root_digest(self) -> str:
        return hashlib.sha256(f"{self.suite} {self.packages} {SLIM}".encode()).hexdigest()[:16]

    def digest(self) -> str:
        """What the stand-in is built from: its folder, its root's recipe, the CA bundle."""
        sha = hashlib.sha256(self.root_digest().encode())
        for path in sorted((HERE / self.folder).iterdir()):
            sha.update(path.name.encode() + path.read_bytes())
        if HOST_CA_BUNDLE.exists():
            sha.update(HOST_CA_BUNDLE.read_bytes())
        return sha.hexdigest()[:16]


STANDINS = [
    StandIn("python:3.11-slim-bookworm", "python", "bookworm",
            ("python3", "python3-venv", "ca-certificates", "passwd")),
    StandIn("localstack/localstack:4.14.0", "localstack", "trixie",
            ("python3", "python3-venv", "ca-certificates", "curl")),
]


def ensure_base_images(log: list[str]) -> dict[str, str]:
    """Every base image present: {tag: "present" | "pulled" | "stand-in built in N s"}.

    Side by side: building a root is mostly downloading and unpacking packages."""
    with ThreadPoolExecutor(max_workers=len(STANDINS)) as pool:
        done = {standin.tag: pool.submit(ensure, standin, log) for standin in STANDINS}
        return {tag: future.result() for tag, future in done.items()}


def ensure(standin: StandIn, log: list[str]) -> str:
    labels = image_labels(standin.tag)
    if labels is not None and labels.get(LABEL, standin.digest()) == standin.digest():
        return "present"
    if labels is None and pull(standin.tag, log):
        return "pulled"
    started = time.monotonic()
    build_standin(standin, log)
    return f"stand-in built in {time.monotonic() - started:.0f} s"


def image_labels(tag: str) -> dict[str, str] | None:
    """The image's labels ({} for none), or None when there is no such image."""
    result = subprocess.run(["docker", "image", "inspect", "--format",
                             "{{json .Config.Labels}}", tag], capture_output=True, text=True,
                            timeout=60)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout) or {}


def pull(tag: str, log: list[str]) -> bool:
    try:
        result = subprocess.run(["docker", "pull", tag], capture_output=True, text=True,
                                timeout=PULL_TIMEOUT)
    except subprocess.TimeoutExpired:
        log.append(f"docker pull {tag}: no answer within {PULL_TIMEOUT} s")
        return False
    if result.returncode != 0:
        log.append(f"docker pull {tag}: {result.stderr.strip()[-300:]}")
    return result.returncode == 0


def build_standin(standin: StandIn, log: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="wa-standin-") as folder:
        context = Path(folder)
        if (image_labels(standin.root_tag) or {}).get(LABEL) != standin.root_digest():
            import_root(standin, context / "root.tar")
        shutil.copytree(HERE / standin.folder, context, dirs_exist_ok=True)
        if not HOST_CA_BUNDLE.exists():
            raise StandInFailed(f"no CA bundle at {HOST_CA_BUNDLE} to give the stand-ins")
        shutil.copy(HOST_CA_BUNDLE, context / "ca-certificates.crt")
        (context / "root.tar").unlink(missing_ok=True)
        run(["docker", "build", "--build-arg", f"ROOT={standin.root_tag}", "--label",
             f"{LABEL}={standin.digest()}", "-t", standin.tag, str(context)], timeout=1800)
    log.append(f"{standin.tag}: stand-in built from {standin.root_tag}")


def import_root(standin: StandIn, tarball: Path) -> None:
    with APT_LOCK:  # both stand-ins may need it at once; dpkg allows one install at a time
        if not shutil.which("mmdebstrap"):
            reason = can_install()
            if reason:
                raise EngineUnavailable(f"mmdebstrap is missing and cannot be installed "
                                        f"({reason})")
            apt_install("mmdebstrap")
    run(["mmdebstrap", "--variant=minbase", "--quiet", *SLIM,
         f"--include={','.join(standin.packages)}", standin.suite, str(tarball)], timeout=1800)
    run(["docker", "import", "--change", f"LABEL {LABEL}={standin.root_digest()}",
         str(tarball), standin.root_tag], timeout=600)


def run(command: list[str], timeout: float) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise StandInFailed(f"{' '.join(command[:3])} ... failed ({result.returncode}): "
                                f"{(result.stdout + result.stderr)[-3000:]}")
