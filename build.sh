#!/usr/bin/env bash
# whisper-automation's entry point.
#   ./build.sh local [SRC DEST]   transcribe on this machine (default: the bundled samples)
#   ./build.sh test [PYTEST ARGS] install what the tests need, then run the whole suite
#   ./build.sh bench [ARGS]       the side-by-side benchmark (scripts/benchmark.py) with its peers
#   ./build.sh build              build the director and worker images (Docker)
#   ./build.sh deploy             start LocalStack, the director and the workers; re-run to resume
#   ./build.sh status | logs      what the stack is doing | follow its logs
#   ./build.sh down | clean       stop the stack | also remove its images and volumes
#   ./build.sh images             redraw images/transcriber-arch.png from its .dot source
# Every step is idempotent: re-running skips what is already in place.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$REPO"
VENV="${VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"
STAMPS="$VENV/.stamps"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- system packages ---------------------------------------------------------------------
apt_install() {
    local missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "please install: ${missing[*]} (no apt-get here to do it for you)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing ${missing[*]} (apt)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# --- the Python environment --------------------------------------------------------------
# $1: the extras to install ("models,whispercpp" for running, "models,whispercpp,test,openai"
# for the tests).
ensure_venv() {
    local extras="$1"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)"
    [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
    mkdir -p "$STAMPS"
    local stamp
    stamp="$STAMPS/$(echo "$extras" | tr ',' '-')-$(cat pyproject.toml | sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && return 0
    say "installing the project and its dependencies ($extras) into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # torch first, alone, pinned: any looser request may pull a multi-GB CUDA build.
    [[ ",$extras," == *",openai,"* ]] && "$VENV/bin/python" -m pip install -q "torch==2.13.0"
    "$VENV/bin/python" -m pip install -q -e ".[$extras]"
    # openai-whisper declares triton (CUDA only), hence --no-deps, last; its real needs
    # (more-itertools, numba, tiktoken, torch) come with the "openai" extra.
    if [[ ",$extras," == *",openai,"* ]]; then
        "$VENV/bin/python" -m pip install -q --no-deps "openai-whisper==20250625"
    fi
    touch "$stamp"
}

# --- commands ------------------------------------------------------------------------------
cmd_local() {
    apt_install ffmpeg:ffmpeg
    ensure_venv models,whispercpp
    local source="${1:-$REPO/samples}" destination="${2:-$REPO/transcripts}"
    say "transcribing $source -> $destination"
    "$VENV/bin/whisper-automation" run "$source" "$destination" "${@:3}"
}

cmd_test() {
    apt_install ffmpeg:ffmpeg docker-compose:docker-compose chromium:chromium \
        chromedriver:chromium-driver
    ensure_venv models,whispercpp,test,openai
    say "installing LocalStack host mode (own Python >= 3.12 venv)"
    scripts/localstack.sh install
    say "lint"
    "$VENV/bin/ruff" check src tests
    say "tests"
    # The conftest starts LocalStack on 127.0.0.1 (a free port) and stops it by its pid.
    local status=0
    "$VENV/bin/python" -m pytest "$@" || status=$?
    # pytest's 5 means "no tests ran": that is a failure for us, never a pass.
    [ "$status" -eq 5 ] && die "no tests ran"
    return "$status"
}

cmd_bench() {
    apt_install ffmpeg:ffmpeg /usr/bin/time:time
    ensure_venv models,whispercpp,test,openai,bench
    say "benchmark (scripts/benchmark.py $*)"
    "$VENV/bin/python" scripts/benchmark.py "$@"
}

# --- Docker -------------------------------------------------------------------------------
compose() {
    command -v docker >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 ||
        die "Docker is not installed: see https://docs.docker.com/get-docker/ (or use ./build.sh local)"
    if docker compose version >/dev/null 2>&1; then
        docker compose "$@"
    elif command -v docker-compose >/dev/null 2>&1; then
        docker-compose "$@"
    else
        die "Docker Compose is missing: install the compose plugin (docker compose) or docker-compose"
    fi
}

require_engine() {
    docker info >/dev/null 2>&1 ||
        die "the Docker engine is not running (docker info fails): start Docker Desktop or dockerd"
}

ensure_env_file() {
    if [ ! -f .env ]; then
        say "creating .env from .env.example (edit SOURCE_DIR and DESTINATION_DIR there)"
        sed -e "s/^HOST_UID=.*/HOST_UID=$(id -u)/" -e "s/^HOST_GID=.*/HOST_GID=$(id -g)/" \
            .env.example > .env
    fi
    # The destination must exist before Docker mounts it, or Docker creates it owned by root.
    local destination
    destination="$(sed -n 's/^DESTINATION_DIR=//p' .env | tail -n 1)"
    mkdir -p "${destination:-./transcripts}"
}

cmd_build() {
    require_engine
    ensure_env_file
    compose build
    say "removing dangling images"
    docker image prune -f >/dev/null
}

cmd_deploy() {
    require_engine
    ensure_env_file
    # Re-running starts the director again: it diffs the source against the done records, so
    # an interrupted run resumes exactly where it stopped.
    compose up -d --remove-orphans
    say "deployed: ./build.sh logs to follow, ./build.sh status or" \
        "http://127.0.0.1:$(sed -n 's/^STATUS_PORT=//p' .env | tail -n 1 || true) for progress"
}

cmd_status() {
    require_engine
    compose ps
    compose run --rm --no-deps status-page status
}

cmd_images() {
    apt_install dot:graphviz
    dot -Tpng -Gdpi=110 images/transcriber-arch.dot -o images/transcriber-arch.png
    say "wrote images/transcriber-arch.png"
}

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

main() {
    local command="${1:-}"
    [ $# -gt 0 ] && shift
    case "$command" in
        local) cmd_local "$@" ;;
        test) cmd_test "$@" ;;
        bench) cmd_bench "$@" ;;
        build) cmd_build ;;
        deploy) cmd_deploy ;;
        down) require_engine; compose down ;;
        logs) require_engine; compose logs -f --tail 100 "$@" ;;
        status) cmd_status ;;
        clean) require_engine; compose down --volumes --remove-orphans --rmi local
               docker image prune -f >/dev/null ;;
        images) cmd_images ;;
        -h|--help|help|"") usage 0 ;;
        *) echo "unknown command: $command" >&2; usage 2 ;;
    esac
}

main "$@"
