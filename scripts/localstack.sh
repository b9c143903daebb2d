#!/usr/bin/env bash
# LocalStack in "host mode" (no Docker) for the integration tests and CI.
#
#   scripts/localstack.sh install        create/reuse the venv and install pinned localstack-core
#   scripts/localstack.sh start [PORT]   start on 127.0.0.1:PORT (default 4566), wait for health
#   scripts/localstack.sh stop           SIGTERM its pid, SIGKILL after 15 s
#   scripts/localstack.sh status         print the health JSON or "not running"
#
# Installing is done here (it has to find a Python >= 3.12 before any venv exists); starting,
# stopping and health checks have one implementation, tests/support/localstack.py, which the
# test fixtures use too, run here with the LocalStack venv's Python.
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
CONSTRAINTS="$REPO/localstack/constraints.txt"
LOCALSTACK_VERSION="2026.3.0"

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

# --- start / stop / status: tests/support/localstack.py --------------------------------------

require_venv() {
    if ! { [[ -x "$VENV/bin/python" ]] && installed_version >/dev/null; }; then
        die "LocalStack is not installed in $VENV; run: scripts/localstack.sh install"
    fi
}

service() {
    require_venv
    LOCALSTACK_VENV="$VENV" "$VENV/bin/python" "$REPO/tests/support/localstack.py" "$@"
}

case "${1:-}" in
    install) cmd_install ;;
    start | stop | status) service "$@" ;;
    *) echo "usage: $0 {install|start [PORT]|stop|status}" >&2; exit 2 ;;
esac
