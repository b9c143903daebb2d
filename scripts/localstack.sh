#!/usr/bin/env bash
# LocalStack in "host mode" (no Docker) for the integration tests and CI.
#
#   scripts/localstack.sh install        create/reuse the venv and install pinned localstack-core
#   scripts/localstack.sh start [PORT]   start on 127.0.0.1:PORT (default 4566), wait for health
#   scripts/localstack.sh stop           SIGTERM its pid, SIGKILL after 15 s
#   scripts/localstack.sh status         print the health JSON or "not running"
#
# Environment:
#   LOCALSTACK_VENV    venv dir            (default: <repo>/.venv-localstack)
#   LOCALSTACK_STATE   state/log/pid dir   (default: <repo>/.cache/localstack)
#   LOCALSTACK_PYTHON  a Python >= 3.12 to build the venv with (default: searched)
#
# LocalStack host mode needs Python >= 3.12. It is always bound to 127.0.0.1 and is only ever
# stopped by the pid this script recorded, never by name.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LOCALSTACK_VENV:-$REPO/.venv-localstack}"
STATE="${LOCALSTACK_STATE:-$REPO/.cache/localstack}"
CONSTRAINTS="$REPO/localstack/constraints.txt"
LOCALSTACK_VERSION="2026.3.0"
PIDFILE="$STATE/localstack.pid"
PORTFILE="$STATE/localstack.port"
LOGFILE="$STATE/localstack.log"
HEALTH_TIMEOUT=60
STOP_TIMEOUT=15

die() { echo "localstack.sh: error: $*" >&2; exit 1; }
log() { echo "localstack.sh: $*" >&2; }

# --- Python discovery -------------------------------------------------------------------------

# Succeeds (and prints the real interpreter path) if "$1" runs and is Python >= 3.12.
# pyenv shims on PATH exist but fail unless that version is selected, hence actually running it.
py_ok() {
    "$1" -c 'import sys; assert sys.version_info >= (3, 12); print(sys.executable)' 2>/dev/null
}

find_python() {
    local cand exe root
    if [[ -n "${LOCALSTACK_PYTHON:-}" ]]; then
        exe="$(py_ok "$LOCALSTACK_PYTHON")" \
            || die "LOCALSTACK_PYTHON=$LOCALSTACK_PYTHON is not a working Python >= 3.12"
        echo "$exe"; return 0
    fi
    for cand in python3.13 python3.12; do
        if command -v "$cand" >/dev/null 2>&1 && exe="$(py_ok "$cand")"; then
            echo "$exe"; return 0
        fi
    done
    root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
    # Newest first: 3.13.x before 3.12.x.
    while IFS= read -r cand; do
        if [[ -x "$cand" ]] && exe="$(py_ok "$cand")"; then
            echo "$exe"; return 0
        fi
    done < <(printf '%s\n' "$root"/versions/3.1[2-9]*/bin/python3.1[2-9] | sort -rV)
    die "LocalStack host mode needs Python >= 3.12 and none was found (tried python3.13 and \
python3.12 on PATH, and $root/versions/3.12*/3.13*). Install one (e.g. 'pyenv install 3.13') \
or set LOCALSTACK_PYTHON=/path/to/python3.12+."
}

# --- install ----------------------------------------------------------------------------------

installed_version() {
    "$VENV/bin/python" -c 'import localstack, importlib.metadata as m; \
print(m.version("localstack-core"))' 2>/dev/null
}

constraints_hash() { sha256sum "$CONSTRAINTS" | cut -d' ' -f1; }

cmd_install() {
    local start=$SECONDS py stamp want
    [[ -f "$CONSTRAINTS" ]] || die "missing $CONSTRAINTS"
    want="localstack-core==$LOCALSTACK_VERSION constraints=$(constraints_hash)"
    stamp="$VENV/.localstack-install-stamp"

    if [[ -e "$VENV" && ! -x "$VENV/bin/python" ]]; then
        die "$VENV exists but has no bin/python; remove it and run install again"
    fi
    if [[ -x "$VENV/bin/python" ]] && ! py_ok "$VENV/bin/python" >/dev/null; then
        die "$VENV/bin/python is not a working Python >= 3.12; remove $VENV and run install again"
    fi

    if [[ "$(installed_version || true)" == "$LOCALSTACK_VERSION" ]] \
        && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        log "localstack-core $LOCALSTACK_VERSION already installed in $VENV ($((SECONDS - start)) s)"
        return 0
    fi

    if [[ ! -x "$VENV/bin/python" ]]; then
        py="$(find_python)"
        log "creating venv $VENV with $py"
        "$py" -m venv "$VENV"
    fi
    log "installing localstack-core[runtime]==$LOCALSTACK_VERSION into $VENV (about a minute)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -U pip
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
        -c "$CONSTRAINTS" "localstack-core[runtime]==$LOCALSTACK_VERSION"
    [[ "$(installed_version || true)" == "$LOCALSTACK_VERSION" ]] \
        || die "install finished but 'import localstack' fails or the version is not $LOCALSTACK_VERSION"
    echo "$want" >"$stamp"
    log "installed localstack-core $LOCALSTACK_VERSION in $VENV ($((SECONDS - start)) s)"
}

# --- process helpers --------------------------------------------------------------------------

require_venv() {
    if ! { [[ -x "$VENV/bin/python" ]] && installed_version >/dev/null; }; then
        die "LocalStack is not installed in $VENV; run: scripts/localstack.sh install"
    fi
}

# The pid recorded in our pid file, if that process is alive and is a LocalStack runtime
# (guards against a recycled pid). Prints nothing otherwise.
our_pid() {
    local pid
    [[ -f "$PIDFILE" ]] || return 0
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if kill -0 "$pid" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main'; then
        echo "$pid"
    fi
}

# Prints the health JSON of 127.0.0.1:$1 and succeeds if sqs and s3 are available/running.
# With $2 = "any", succeeds whenever the endpoint answers.
health() {
    "$VENV/bin/python" - "$1" "${2:-}" <<'PY'
import json, sys, urllib.request
port, mode = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=3) as r:
        body = json.load(r)
except Exception:
    sys.exit(2)
print(json.dumps(body, indent=2, sort_keys=True))
services = body.get("services", {})
ok = all(services.get(s) in ("available", "running") for s in ("sqs", "s3"))
sys.exit(0 if ok or mode == "any" else 1)
PY
}

port_in_use() { [[ -n "$(ss -H -ltn "sport = :$1" 2>/dev/null)" ]]; }

# All pids in the process group led by $1 (start puts LocalStack in its own session).
group_pids() { ps -e -o pid=,pgid= | awk -v g="$1" '$2 == g { print $1 }'; }

# Fails unless every TCP/UDP socket LocalStack's processes listen on is bound to 127.0.0.1.
check_listen() {
    local pid="$1" pids addrs bad
    pids="$(group_pids "$pid" | paste -sd'|')"
    [[ -n "$pids" ]] || pids="$pid"
    addrs="$(ss -H -ltunp 2>/dev/null | grep -E "pid=($pids)," | awk '{ print $1 " " $5 }' \
        | sort -u || true)"
    if [[ -z "$addrs" ]]; then
        log "warning: could not see LocalStack's listening sockets with 'ss -ltunp'"
        return 0
    fi
    log "listening on: $(echo "$addrs" | paste -sd',')"
    bad="$(echo "$addrs" | grep -vE ' (127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):[0-9]+$' || true)"
    if [[ -n "$bad" ]]; then
        log "LocalStack listens on non-loopback addresses: $(echo "$bad" | paste -sd' ')"
        return 1
    fi
}

# SIGTERM $1, wait up to STOP_TIMEOUT s, then SIGKILL it and whatever is left of its group.
kill_pid() {
    local pid="$1" i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not exit within ${STOP_TIMEOUT} s after SIGTERM; sending SIGKILL"
        # Its whole process group (pgid == pid: start made it a session leader), then itself.
        kill -KILL -- "-$pid" 2>/dev/null || true
        kill -KILL "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "warning: pid $pid still exists after SIGKILL"
}

# --- start / stop / status --------------------------------------------------------------------

cmd_start() {
    local port="${1:-4566}" pid oldport i start=$SECONDS
    if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        die "bad port: $port"
    fi
    require_venv
    mkdir -p "$STATE/fs"

    pid="$(our_pid)"
    if [[ -n "$pid" ]]; then
        oldport="$(cat "$PORTFILE" 2>/dev/null || true)"
        if [[ "$oldport" == "$port" ]] && health "$port" >/dev/null; then
            check_listen "$pid" || die "refusing to reuse pid $pid: not bound to 127.0.0.1 only"
            log "reusing running LocalStack (pid $pid)"
            echo "http://127.0.0.1:$port"
            return 0
        fi
        if [[ "$oldport" != "$port" ]]; then
            die "our LocalStack (pid $pid) is already running on port ${oldport:-?}, not $port; \
run 'scripts/localstack.sh stop' first"
        fi
        die "our LocalStack (pid $pid) on port $port does not report sqs and s3 available; \
run 'scripts/localstack.sh stop' first"
    fi
    rm -f "$PIDFILE" "$PORTFILE"

    if port_in_use "$port"; then
        die "port $port on this machine is already in use by another process (not ours)"
    fi

    # Not GATEWAY_LISTEN/DNS_ADDRESS defaults: those listen on every address.
    : >"$LOGFILE"
    (
        cd "$STATE"
        unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
        export OVERRIDE_IN_DOCKER=0 GATEWAY_SERVER=hypercorn \
            GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" \
            SERVICES=sqs,s3 EAGER_SERVICE_LOADING=1 SQS_ENDPOINT_STRATEGY=path DNS_ADDRESS=0 \
            SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 FILESYSTEM_ROOT="$STATE/fs"
        # setsid: own session and process group, detached from the terminal. A background
        # subshell is never a group leader, so setsid execs in place and $! is LocalStack's pid.
        exec setsid "$VENV/bin/python" -m localstack.runtime.main >>"$LOGFILE" 2>&1 </dev/null
    ) &
    pid=$!
    echo "$pid" >"$PIDFILE"
    echo "$port" >"$PORTFILE"
    log "started pid $pid on 127.0.0.1:$port, log $LOGFILE"

    for ((i = 0; i < HEALTH_TIMEOUT * 2; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "LocalStack exited before becoming healthy; last log lines:"
            tail -n 40 "$LOGFILE" >&2 || true
            rm -f "$PIDFILE" "$PORTFILE"
            exit 1
        fi
        if health "$port" >/dev/null; then
            if ! check_listen "$pid"; then
                kill_pid "$pid"
                rm -f "$PIDFILE" "$PORTFILE"
                die "stopped LocalStack: it must listen on 127.0.0.1 only"
            fi
            log "healthy after $((SECONDS - start)) s"
            echo "http://127.0.0.1:$port"
            return 0
        fi
        sleep 0.5
    done
    log "LocalStack not healthy (sqs and s3) after ${HEALTH_TIMEOUT} s; last log lines:"
    tail -n 40 "$LOGFILE" >&2 || true
    health "$port" any >&2 || true
    kill_pid "$pid"
    rm -f "$PIDFILE" "$PORTFILE"
    exit 1
}

cmd_stop() {
    local pid
    pid="$(our_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$PIDFILE" "$PORTFILE"
        log "not running"
        return 0
    fi
    log "stopping pid $pid"
    kill_pid "$pid"
    rm -f "$PIDFILE" "$PORTFILE"
    log "stopped"
}

cmd_status() {
    local pid port
    pid="$(our_pid)"
    port="$(cat "$PORTFILE" 2>/dev/null || true)"
    if [[ -z "$pid" || -z "$port" ]] || ! [[ -x "$VENV/bin/python" ]]; then
        echo "not running"
        return 1
    fi
    if health "$port" any; then
        return 0
    fi
    echo "not running (pid $pid exists but 127.0.0.1:$port does not answer)"
    return 1
}

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 {install|start [PORT]|stop|status}" >&2; exit 2 ;;
esac
