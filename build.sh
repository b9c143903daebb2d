#!/usr/bin/env bash
# whisper-automation's entry point.
#   ./build.sh local [SRC DEST]   transcribe on this machine (default: the bundled samples)
#   ./build.sh test [PYTEST ARGS] install what the tests need, then run the whole suite
#   ./build.sh bench [ARGS]       the side-by-side benchmark (scripts/benchmark.py) with its peers
#   ./build.sh build              build the director and worker images (Docker)
#   ./build.sh deploy             start LocalStack, the director and the workers; re-run to resume
#   DEVICE=cuda ./build.sh build | deploy   the same with GPU workers (one GPU each; README "GPU")
#   ./build.sh check              check .env: can the containers' user write DESTINATION_DIR?
#   ./build.sh status | logs      what the stack is doing | follow its logs
#   ./build.sh down | clean       stop the stack | also remove its images and volumes
#   ./build.sh images             redraw images/transcriber-arch.png from its .dot source
# Every step is idempotent: re-running skips what is already in place. The Docker commands read
# their settings from .env (ENV_FILE=path to use another file); the environment overrides it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$REPO"
VENV="${VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"
STAMPS="$VENV/.stamps"
ENV_FILE="${ENV_FILE:-$REPO/.env}"

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
    stamp="$STAMPS/$(echo "$extras" | tr ',' '-')-$(cat pyproject.toml constraints.txt |
        sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && return 0
    say "installing the project and its dependencies ($extras) into $VENV"
    # constraints.txt: the versions the suite passed with. UPGRADE=1 leaves them out, for the
    # deliberate upgrade step (docs/reliability.md, "Upgrading the locked versions").
    local lock=(-c constraints.txt)
    [ "${UPGRADE:-0}" = 1 ] && lock=(--upgrade)
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # torch first, alone, pinned: any looser request may pull a multi-GB CUDA build.
    [[ ",$extras," == *",openai,"* ]] && "$VENV/bin/python" -m pip install -q "${lock[@]}" \
        "torch==2.13.0"
    "$VENV/bin/python" -m pip install -q "${lock[@]}" -e ".[$extras]"
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
    ensure_venv models,base,whispercpp,test,openai
    say "installing LocalStack host mode (own Python >= 3.12 venv)"
    scripts/localstack.sh install
    say "lint"
    "$VENV/bin/ruff" check src tests
    say "tests"
    # The conftest starts LocalStack on 127.0.0.1 (a free port, one per test process) and stops
    # it by its pid. Most tests wait on workers, queues and timeouts rather than compute, so
    # they run in WA_TEST_PROCESSES processes (pytest-xdist; -n 0 runs them in this one).
    # loadgroup: the tests of a module marked xdist_group run in one process (a Docker
    # scenario's module fixture; its teardown removes an image another process would still use).
    local status=0
    "$VENV/bin/python" -m pytest -n "${WA_TEST_PROCESSES:-4}" --dist loadgroup "$@" || status=$?
    # pytest's 5 means "no tests ran": that is a failure for us, never a pass.
    [ "$status" -eq 5 ] && die "no tests ran"
    return "$status"
}

cmd_bench() {
    apt_install ffmpeg:ffmpeg /usr/bin/time:time
    ensure_venv models,base,whispercpp,test,openai,bench
    say "benchmark (scripts/benchmark.py $*)"
    "$VENV/bin/python" scripts/benchmark.py "$@"
}

# --- Docker -------------------------------------------------------------------------------
compose() {
    command -v docker >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 ||
        die "Docker is not installed: see https://docs.docker.com/get-docker/ (or use ./build.sh local)"
    local env_file=()
    [ -f "$ENV_FILE" ] && env_file=(--env-file "$ENV_FILE")
    if docker compose version >/dev/null 2>&1; then
        docker compose "${env_file[@]}" "$@"
    elif command -v docker-compose >/dev/null 2>&1; then
        docker-compose "${env_file[@]}" "$@"
    else
        die "Docker Compose is missing: install the compose plugin (docker compose) or docker-compose"
    fi
}

require_engine() {
    docker info >/dev/null 2>&1 ||
        die "the Docker engine is not running (docker info fails): start Docker Desktop or dockerd"
}

# A setting of the stack as compose sees it: the environment, else ENV_FILE, else $2.
env_value() {
    local name="$1" default="${2:-}" value
    if [ -n "${!name+set}" ]; then
        printf '%s' "${!name}"
        return
    fi
    value="$(sed -n "s/^[[:space:]]*$name=//p" "$ENV_FILE" 2>/dev/null | tail -n 1)"
    value="${value%\"}" && value="${value#\"}"
    printf '%s' "${value:-$default}"
}

# A folder named in the env file, as compose resolves it: relative to the compose file's folder.
env_folder() {
    local folder
    folder="$(env_value "$1" "$2")"
    case "$folder" in
        /*) printf '%s' "$folder" ;;
        "~"/*) printf '%s' "$HOME/${folder#"~/"}" ;;
        *) printf '%s' "$REPO/${folder#./}" ;;
    esac
}

ensure_env_file() {
    if [ ! -f "$ENV_FILE" ]; then
        # SUDO_UID: under sudo, the transcripts still belong to the person who ran it.
        local uid="${SUDO_UID:-$(id -u)}" gid="${SUDO_GID:-$(id -g)}"
        say "creating $ENV_FILE from .env.example with HOST_UID=$uid HOST_GID=$gid" \
            "(edit SOURCE_DIR and DESTINATION_DIR there)"
        sed -e "s/^HOST_UID=.*/HOST_UID=$uid/" -e "s/^HOST_GID=.*/HOST_GID=$gid/" \
            .env.example > "$ENV_FILE"
    fi
    # The destination must exist before Docker mounts it, or Docker creates it owned by root.
    local destination
    destination="$(env_folder DESTINATION_DIR ./transcripts)"
    if [ ! -d "$destination" ]; then
        mkdir -p "$destination"
        # Created by root for the containers' user: give it to them.
        [ "$(id -u)" -eq 0 ] &&
            chown "$(env_value HOST_UID 1000):$(env_value HOST_GID 1000)" "$destination"
    fi
    return 0
}

# The containers run as HOST_UID:HOST_GID with no other groups, so a folder is writable for them
# when its owner bits (their uid owns it), else its group bits (their gid), else its other bits
# allow it (ACLs aside). Docker Desktop (macOS, Windows) maps ownership itself: Linux only.
check_destination() {
    [ "$(uname -s)" = Linux ] || return 0
    local uid gid destination blocked owner group
    uid="$(env_value HOST_UID 1000)" gid="$(env_value HOST_GID 1000)"
    destination="$(env_folder DESTINATION_DIR ./transcripts)"
    [ "$uid" = 0 ] && return 0
    [ -d "$destination" ] || die "DESTINATION_DIR=$destination is not a folder"
    # The first folder of the tree they could not write into (transcripts, records and
    # temporary files are created in every folder of it).
    blocked="$(find "$destination" -type d \( \
        \( -uid "$uid" ! -perm -u=wx \) -o \
        \( ! -uid "$uid" -gid "$gid" ! -perm -g=wx \) -o \
        \( ! -uid "$uid" ! -gid "$gid" ! -perm -o=wx \) \) -print -quit 2>/dev/null)"
    [ -z "$blocked" ] && return 0
    owner="$(stat -c %u "$blocked")" group="$(stat -c %g "$blocked")"
    {
        echo "error: the containers run as HOST_UID=$uid HOST_GID=$gid ($ENV_FILE) and cannot"
        echo "  write $blocked ($(stat -c %A "$blocked"), owner $owner:$group)"
        echo "  in DESTINATION_DIR=$destination. Fix one of:"
        if [ "$owner" = "$uid" ]; then
            echo "  - make it writable for its owner: chmod -R u+rwX $destination"
        elif [ "$owner" != 0 ]; then
            echo "  - set HOST_UID=$owner and HOST_GID=$group in $ENV_FILE (the folder's owner;"
            echo "    yours are \`id -u\` = $(id -u), \`id -g\` = $(id -g))"
        fi
        echo "  - give the folder to the containers' user: sudo chown -R $uid:$gid $destination"
        echo "  - or set DESTINATION_DIR in $ENV_FILE to a folder that user may write"
    } >&2
    exit 1
}

# One build at a time per clone: MODEL_DIR is staged inside the build context, where a second
# build would remove or overwrite it under the first (two builds at once failed so in the
# tests). The lock goes with this shell; macOS has no flock(1), and there it is not taken.
lock_builds() {
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$REPO/.build.lock"
    flock 9
}

# MODEL_DIR: a model folder on this machine to bake into the worker image instead of resolving
# or downloading MODEL (docker/model/README.md). Staged inside the build context.
stage_model_dir() {
    local model_dir staged="$REPO/docker/model/baked"
    rm -rf "$staged"
    model_dir="$(env_value MODEL_DIR)"
    [ -n "$model_dir" ] || return 0
    [ -d "$model_dir" ] || die "MODEL_DIR=$model_dir is not a folder"
    say "baking the model folder $model_dir into the worker image"
    cp -rL "$model_dir" "$staged"
}

cmd_check() {
    ensure_env_file
    check_destination
    say "$ENV_FILE: the containers' user $(env_value HOST_UID 1000):$(env_value HOST_GID 1000)" \
        "can write $(env_folder DESTINATION_DIR ./transcripts)"
}

# DEVICE=cuda: the compose profile "gpu" (the GPU worker image, GPU_WORKERS workers with a GPU
# reserved each) instead of the CPU workers. The CPU worker image is still built: the status
# page runs on it.
use_device() {
    case "$(env_value DEVICE cpu)" in
        cpu) ;;
        cuda)
            export COMPOSE_PROFILES
            COMPOSE_PROFILES="$(env_value COMPOSE_PROFILES)"
            COMPOSE_PROFILES="gpu${COMPOSE_PROFILES:+,$COMPOSE_PROFILES}"
            export WORKER_REPLICAS=0
            ;;
        *) die "DEVICE=$(env_value DEVICE) is not valid: expected cpu or cuda" ;;
    esac
}

cmd_build() {
    ensure_env_file
    check_destination
    require_engine
    use_device
    lock_builds
    stage_model_dir
    compose build
    rm -rf "$REPO/docker/model/baked"
    prune_dangling_images
}

# Tidying, not part of the result: a prune already running (another build's, on a shared
# engine) makes this one fail with "a prune operation is already running", which must not
# fail a build that succeeded. PRUNE_DANGLING_IMAGES=0 skips it: a prune can take the newest
# untagged layer of another build still running on the same engine (the test suite's case).
prune_dangling_images() {
    [ "${PRUNE_DANGLING_IMAGES:-1}" = 0 ] && return 0
    say "removing dangling images"
    docker image prune -f >/dev/null 2>&1 || say "dangling images left (another prune is running?)"
}

cmd_deploy() {
    ensure_env_file
    check_destination
    require_engine
    use_device
    # Re-running starts the director again: it diffs the source against the done records, so
    # an interrupted run resumes exactly where it stopped.
    compose up -d --remove-orphans
    say "deployed: ./build.sh logs to follow, ./build.sh status or" \
        "http://127.0.0.1:$(env_value STATUS_PORT 8765)/ for progress"
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
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
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
        check) cmd_check ;;
        down) require_engine; compose down ;;
        logs) require_engine; compose logs -f --tail 100 "$@" ;;
        status) cmd_status ;;
        clean) require_engine; compose down --volumes --remove-orphans --rmi local
               prune_dangling_images ;;
        images) cmd_images ;;
        -h|--help|help|"") usage 0 ;;
        *) echo "unknown command: $command" >&2; usage 2 ;;
    esac
}

main "$@"
