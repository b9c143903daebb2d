"""Start and stop LocalStack in host mode (no Docker): the one implementation, used by the test
fixtures and, through its command line, by ``scripts/localstack.sh start|stop|status``.

LocalStack is installed into its own venv (Python >= 3.12) by ``scripts/localstack.sh install``.
This module runs that venv's Python directly, bound to 127.0.0.1 only, and stops it by its pid.
It uses the standard library only, so any Python >= 3.11 can run it as a script:

    python tests/support/localstack.py start [PORT]   # detached; pid and port in LOCALSTACK_STATE
    python tests/support/localstack.py stop            # SIGTERM its pid, SIGKILL after 15 s
    python tests/support/localstack.py status          # the health JSON, or "not running"

Set ``WA_TEST_LOCALSTACK_ENDPOINT`` (e.g. ``http://127.0.0.1:4566``, as printed by ``start``) to
make the tests reuse an instance that is already running: nothing is then started or stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ENDPOINT_ENV = "WA_TEST_LOCALSTACK_ENDPOINT"
VENV_ENV = "LOCALSTACK_VENV"
STATE_ENV = "LOCALSTACK_STATE"
DEFAULT_PORT = 4566
STOP_TIMEOUT = 15.0
SERVICES = ("sqs", "s3")
_LOG_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1
_INODE = 9  # column of the socket inode in /proc/net/{tcp,udp}{,6}


@dataclass
class LocalStack:
    endpoint: str
    pid: int  # 0 when reusing an instance from WA_TEST_LOCALSTACK_ENDPOINT
    process: subprocess.Popen[bytes] | None
    log_path: Path | None


def venv_python() -> Path:
    venv = os.environ.get(VENV_ENV) or str(REPO_ROOT / ".venv-localstack")
    return Path(venv) / "bin" / "python"


def localstack_env(port: int, filesystem_root: Path) -> dict[str, str]:
    """The environment LocalStack runs with: 127.0.0.1 only, SQS and S3 only."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env.update(
        OVERRIDE_IN_DOCKER="0",
        # Both needed: without them LocalStack listens on every address.
        GATEWAY_SERVER="hypercorn",
        DNS_ADDRESS="0",
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        LOCALSTACK_HOST=f"127.0.0.1:{port}",
        SERVICES=",".join(SERVICES),
        EAGER_SERVICE_LOADING="1",
        SQS_ENDPOINT_STRATEGY="path",
        SKIP_SSL_CERT_DOWNLOAD="1",
        DISABLE_EVENTS="1",
        FILESYSTEM_ROOT=str(filesystem_root),
    )
    return env


def localstack_available() -> str | None:
    """None if LocalStack can be used, else why not (tests skip locally, fail in CI)."""
    endpoint = os.environ.get(ENDPOINT_ENV)
    if endpoint:
        if _healthy(endpoint):
            return None
        return f"{ENDPOINT_ENV}={endpoint} does not answer with sqs and s3 available"
    python = venv_python()
    if not python.exists():
        return f"{python} not found: run scripts/localstack.sh install"
    try:
        result = subprocess.run(
            [str(python), "-c", "import localstack"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} is not usable: {exc}"
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip()).splitlines()
        tail = "\n".join(output[-5:]) or f"exit code {result.returncode}"
        return f"'import localstack' fails in {python} (run scripts/localstack.sh install): {tail}"
    return None


def start_localstack(state_dir: Path, port: int | None = None, timeout: float = 180,
                     detached: bool = False) -> LocalStack:
    """Start LocalStack on 127.0.0.1 and wait until sqs and s3 are available.

    A free port is picked when ``port`` is None. Raises RuntimeError, with the log tail, if it
    does not become healthy within ``timeout`` seconds (generous: on a loaded machine a start
    has taken a minute). Unless ``detached``, LocalStack is stopped when this process exits.
    """
    endpoint = os.environ.get(ENDPOINT_ENV)
    if endpoint:
        endpoint = endpoint.rstrip("/")
        deadline = time.monotonic() + timeout
        while not _healthy(endpoint):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ENDPOINT_ENV}={endpoint}: sqs and s3 not available")
            time.sleep(0.5)
        return LocalStack(endpoint=endpoint, pid=0, process=None, log_path=None)

    python = venv_python()
    if not python.exists():
        raise RuntimeError(f"{python} not found: run scripts/localstack.sh install")
    state_dir.mkdir(parents=True, exist_ok=True)
    # A port picked by us can be taken by someone else before LocalStack binds it: retry then.
    attempts = 3 if port is None else 1
    for attempt in range(attempts):
        chosen = _free_port() if port is None else port
        try:
            return _start(python, state_dir, chosen, timeout, detached)
        except _PortTaken:
            if attempt == attempts - 1:
                raise RuntimeError(f"127.0.0.1:{chosen} is already in use") from None
    raise AssertionError("unreachable")


def stop_localstack(ls: LocalStack) -> None:
    """SIGTERM by pid, SIGKILL (its whole process group) after STOP_TIMEOUT seconds."""
    if ls.pid <= 0:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(ls.pid, signal.SIGTERM)
    if ls.process is not None:
        try:
            ls.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # Not yet reaped, so its pid (and process group id) cannot have been reused.
            _kill_group(ls.pid)
            ls.process.wait()
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(ls.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(ls.pid):
        _kill_group(ls.pid)


class _PortTaken(Exception):
    pass


def _start(python: Path, state_dir: Path, port: int, timeout: float,
           detached: bool) -> LocalStack:
    if not _port_free(port):
        raise _PortTaken
    endpoint = f"http://127.0.0.1:{port}"
    log_path = state_dir / f"localstack-{port}.log"
    fs_root = state_dir / f"fs-{port}"
    fs_root.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=localstack_env(port, fs_root),
            cwd=state_dir,
            start_new_session=True,  # own process group: a SIGKILL reaches any children too
            preexec_fn=None if detached else _die_with_parent(),
        )
    ls = LocalStack(endpoint=endpoint, pid=process.pid, process=process, log_path=log_path)
    if not detached:
        atexit.register(_stop_if_running, ls)
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            raise RuntimeError(
                f"LocalStack exited with code {code} before becoming healthy; "
                f"{log_path}:\n{_tail(log_path)}"
            )
        if _healthy(endpoint):
            break
        if time.monotonic() > deadline:
            stop_localstack(ls)
            raise RuntimeError(
                f"LocalStack not healthy (sqs, s3) after {timeout:.0f} s; "
                f"{log_path}:\n{_tail(log_path)}"
            )
        time.sleep(0.25)
    exposed = [a for a in _listening_addresses(process.pid) if not a.is_loopback]
    if exposed:
        stop_localstack(ls)
        raise RuntimeError(f"LocalStack listened on non-loopback addresses {exposed}; stopped")
    return ls


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, have LocalStack get SIGTERM when the test process dies, even by SIGKILL.

    prctl(PR_SET_PDEATHSIG) fires when the *thread* that started it exits, so only from the
    main thread; otherwise the atexit hook is the only safety net.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent already died before prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return set_pdeathsig


def _stop_if_running(ls: LocalStack) -> None:
    if ls.process is not None and ls.process.poll() is None:
        stop_localstack(ls)


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=3) as response:
            body = json.load(response)
    except (OSError, urllib.error.URLError, ValueError):
        return False
    services = body.get("services", {}) if isinstance(body, dict) else {}
    return all(services.get(s) in ("available", "running") for s in SERVICES)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _alive(pid: int) -> bool:
    # Not whisper_automation's process_alive: scripts/localstack.sh runs this file with the
    # LocalStack venv's python, where the project is not installed.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # pgid == pid: started with start_new_session
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def _listening_addresses(
    pid: int,
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the TCP listeners and UDP sockets of ``pid`` (Linux /proc only)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    inodes: set[str] = set()
    try:
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for table, listen_state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
            fields = row.split()
            if len(fields) <= _INODE or fields[3] != listen_state or fields[_INODE] not in inodes:
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            # /proc/net prints each 32-bit word of the address in host byte order.
            if sys.byteorder == "little":
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(raw)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            found.append(address)
    return found


# --- command line (scripts/localstack.sh start|stop|status) ---


def _state_dir() -> Path:
    return Path(os.environ.get(STATE_ENV) or REPO_ROOT / ".cache" / "localstack")


def _recorded() -> tuple[int, int] | None:
    """(pid, port) from the state folder, if that pid is alive and is a LocalStack runtime (a
    recycled pid is not ours)."""
    state = _state_dir()
    try:
        pid = int((state / "localstack.pid").read_text())
        port = int((state / "localstack.port").read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return (pid, port) if b"localstack.runtime.main" in command else None


def _forget() -> None:
    for name in ("localstack.pid", "localstack.port"):
        with contextlib.suppress(FileNotFoundError):
            (_state_dir() / name).unlink()


def _cli_start(port: int) -> int:
    recorded = _recorded()
    if recorded:
        if recorded[1] == port and _healthy(f"http://127.0.0.1:{port}"):
            print(f"http://127.0.0.1:{port}")
            return 0
        print(f"our LocalStack (pid {recorded[0]}) already runs on port {recorded[1]}; "
              "stop it first", file=sys.stderr)
        return 1
    state = _state_dir()
    ls = start_localstack(state, port=port, detached=True)
    (state / "localstack.pid").write_text(str(ls.pid))
    (state / "localstack.port").write_text(str(port))
    print(ls.endpoint)
    return 0


def _cli_stop() -> int:
    recorded = _recorded()
    if recorded:
        stop_localstack(LocalStack(f"http://127.0.0.1:{recorded[1]}", recorded[0], None, None))
    _forget()
    print("stopped" if recorded else "not running", file=sys.stderr)
    return 0


def _cli_status() -> int:
    recorded = _recorded()
    if not recorded:
        print("not running")
        return 1
    try:
        with urllib.request.urlopen(
                f"http://127.0.0.1:{recorded[1]}/_localstack/health", timeout=3) as response:
            print(json.dumps(json.load(response), indent=2, sort_keys=True))
    except (OSError, ValueError):
        print(f"not running (pid {recorded[0]} exists but does not answer)")
        return 1
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    try:
        if command == "start":
            return _cli_start(int(argv[1]) if len(argv) > 1 else DEFAULT_PORT)
        if command == "stop":
            return _cli_stop()
        if command == "status":
            return _cli_status()
    except RuntimeError as error:
        print(f"localstack: {error}", file=sys.stderr)
        return 1
    print("usage: localstack.py {start [PORT]|stop|status}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
