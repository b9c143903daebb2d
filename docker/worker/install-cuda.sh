#!/usr/bin/env bash
# The GPU image's CUDA libraries (worker/Dockerfile runs it; nothing for DEVICE=cpu, so the CPU
# image does not grow).
#   install-cuda.sh DEVICE ENGINE
set -euo pipefail
device="$1"
engine="$2"

case "$device" in
    cpu) ;;
    cuda)
        case "$engine" in
            faster-whisper) pip install -r docker/requirements-cuda.txt ;;
            # torch's CUDA build brings its own CUDA libraries (install-engine.sh).
            openai-whisper) ;;
            *)
                echo "DEVICE=cuda: ENGINE=$engine has no GPU build from the package registry" \
                     "(pywhispercpp's wheel is CPU-only); use faster-whisper or openai-whisper" >&2
                exit 2
                ;;
        esac
        ;;
    *)
        echo "unknown DEVICE=$device: expected cpu or cuda" >&2
        exit 2
        ;;
esac
