#!/usr/bin/env bash
# Installs one engine's packages into the worker image (worker/Dockerfile runs it).
#   install-engine.sh ENGINE [DEVICE]
# One branch per engine: a new engine adds a branch here and one in install-model.sh.
# DEVICE=cuda (the GPU image): the CUDA libraries come from docker/worker/install-cuda.sh, in
# a layer of their own before this one; here only openai-whisper changes (a CUDA torch).
set -euo pipefail
engine="$1"
device="${2:-cpu}"

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
        # The GPU image takes torch's CUDA 12.8 build (it carries its own CUDA libraries).
        torch_index=https://download.pytorch.org/whl/cpu
        [ "$device" = cuda ] && torch_index=https://download.pytorch.org/whl/cu128
        pip install --index-url "$torch_index" "torch==${TORCH_VERSION:?}"
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
