#!/usr/bin/env bash
# Installs one engine's packages into the worker image (worker/Dockerfile runs it).
#   install-engine.sh ENGINE
# One branch per engine: a new engine adds a branch here and one in install-model.sh.
set -euo pipefail
engine="$1"

case "$engine" in
    faster-whisper)
        # No torch, no ffmpeg program: faster-whisper decodes with PyAV (bundled FFmpeg).
        pip install -r docker/requirements-faster-whisper.txt
        ;;
    openai-whisper)
        # openai-whisper runs the ffmpeg program. A CPU-only torch (any other torch request
        # pulls a multi-GB CUDA build); openai-whisper itself with --no-deps, as its triton
        # requirement is CUDA only (its real needs are in requirements-openai-whisper.txt).
        apt-get update
        apt-get install -y --no-install-recommends ffmpeg
        rm -rf /var/lib/apt/lists/*
        pip install -r docker/requirements-openai-whisper.txt
        pip install --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION:?}"
        pip install --no-deps openai-whisper==20250625
        ;;
    whisper.cpp)
        # pywhispercpp's wheel carries whisper.cpp itself; faster-whisper's packages give the
        # pipeline its VAD and decoding. No torch, no ffmpeg program, nothing compiled.
        pip install -r docker/requirements-whispercpp.txt
        ;;
    *)
        echo "unknown ENGINE=$engine: expected faster-whisper, openai-whisper or whisper.cpp" >&2
        exit 2
        ;;
esac
