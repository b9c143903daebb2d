"""Model files for converter tests: a writer of CTranslate2 `model.bin` files (a small Whisper
of our own making, with known weights) and a reader of whisper.cpp ggml files that parses what
the converter wrote, independently of it."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_CT2_DTYPE_CODES = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2,
                    np.dtype("int32"): 3, np.dtype("float16"): 4}


def _ct2_string(text: str) -> bytes:
    encoded = text.encode("utf-8") + b"\0"
    return struct.pack("<H", len(encoded)) + encoded


def write_ct2_model(folder: Path, variables: dict[str, np.ndarray], vocabulary: list[str],
                    aliases: dict[str, str] | None = None) -> Path:
    """A CTranslate2 model folder (binary version 6) holding `variables`."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [struct.pack("<I", 6), _ct2_string("WhisperSpec"), struct.pack("<I", 3),
             struct.pack("<I", len(variables))]
    for name, value in variables.items():
        value = np.asarray(value)  # tobytes() is in C order; keeps 0-d scalars 0-d
        parts += [_ct2_string(name), struct.pack("<B", value.ndim),
                  struct.pack(f"<{value.ndim}I", *value.shape),
                  struct.pack("<B", _CT2_DTYPE_CODES[value.dtype]),
                  struct.pack("<I", value.nbytes), value.tobytes()]
    parts.append(struct.pack("<I", len(aliases or {})))
    for alias, target in (aliases or {}).items():
        parts += [_ct2_string(alias), _ct2_string(target)]
    (folder / "model.bin").write_bytes(b"".join(parts))
    (folder / "vocabulary.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    return folder


def small_whisper_variables(state: int = 64, mels: int = 80, audio_ctx: int = 10,
                            text_ctx: int = 6, vocab: int = 12, layers: int = 1,
                            seed: int = 0) -> dict[str, np.ndarray]:
    """Random float16 weights under CTranslate2's Whisper names and layouts (fused query/key/value
    with a zero key bias), plus the scalar attributes CTranslate2 stores beside them."""
    random = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return random.standard_normal(shape).astype(np.float16)

    def fused_bias(parts: int) -> np.ndarray:
        bias = weights(parts * state)
        bias[(parts - 2) * state:(parts - 1) * state] = 0  # the key's slice: Whisper has none
        return bias

    def norm(prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}/gamma": weights(state), f"{prefix}/beta": weights(state)}

    def ffn(prefix: str) -> dict[str, np.ndarray]:
        return {**norm(f"{prefix}/ffn/layer_norm"),
                f"{prefix}/ffn/linear_0/weight": weights(4 * state, state),
                f"{prefix}/ffn/linear_0/bias": weights(4 * state),
                f"{prefix}/ffn/linear_1/weight": weights(state, 4 * state),
                f"{prefix}/ffn/linear_1/bias": weights(state)}

    def self_attention(prefix: str) -> dict[str, np.ndarray]:
        return {**norm(f"{prefix}/self_attention/layer_norm"),
                f"{prefix}/self_attention/linear_0/weight": weights(3 * state, state),
                f"{prefix}/self_attention/linear_0/bias": fused_bias(3),
                f"{prefix}/self_attention/linear_1/weight": weights(state, state),
                f"{prefix}/self_attention/linear_1/bias": weights(state)}

    variables: dict[str, np.ndarray] = {
        "encoder/num_heads": np.array(state // 64, dtype=np.int16),
        "encoder/conv1/weight": weights(state, mels, 3), "encoder/conv1/bias": weights(state),
        "encoder/conv2/weight": weights(state, state, 3), "encoder/conv2/bias": weights(state),
        "encoder/position_encodings/encodings": weights(audio_ctx, state),
        **norm("encoder/layer_norm"),
        "decoder/num_heads": np.array(state // 64, dtype=np.int16),
        "decoder/embeddings/weight": weights(vocab, state),
        "decoder/position_encodings/encodings": weights(text_ctx, state),
        **norm("decoder/layer_norm"),
    }
    for layer in range(layers):
        encoder, decoder = f"encoder/layer_{layer}", f"decoder/layer_{layer}"
        variables.update(self_attention(encoder))
        variables.update(ffn(encoder))
        variables.update(self_attention(decoder))
        variables.update(ffn(decoder))
        variables.update({
            **norm(f"{decoder}/attention/layer_norm"),
            f"{decoder}/attention/linear_0/weight": weights(state, state),
            f"{decoder}/attention/linear_0/bias": weights(state),
            f"{decoder}/attention/linear_1/weight": weights(2 * state, state),
            f"{decoder}/attention/linear_1/bias": fused_bias(2),
            f"{decoder}/attention/linear_2/weight": weights(state, state),
            f"{decoder}/attention/linear_2/bias": weights(state)})
    return variables


@dataclass
class GgmlTensor:
    kind: int  # 0 = float32, 1 = float16
    data: np.ndarray  # in numpy's order (dims as stored, reversed)


@dataclass
class GgmlFile:
    magic: int
    header: list[int]
    filters: np.ndarray
    tokens: list[bytes]
    tensors: dict[str, GgmlTensor]


def read_ggml(path: Path) -> GgmlFile:
    data = path.read_bytes()
    position = 0

    def ints(count: int) -> tuple[int, ...]:
        nonlocal position
        values = struct.unpack_from(f"<{count}i", data, position)
        position += 4 * count
        return values

    def chunk(size: int) -> bytes:
        nonlocal position
        position += size
        return data[position - size:position]

    magic, *header = ints(12)
    rows, columns = ints(2)
    filters = np.frombuffer(chunk(4 * rows * columns), "<f4").reshape(rows, columns)
    tokens = [chunk(ints(1)[0]) for _ in range(ints(1)[0])]
    tensors = {}
    while position < len(data):
        dims, name_length, kind = ints(3)
        shape = tuple(reversed(ints(dims)))
        name = chunk(name_length).decode("utf-8")
        dtype = "<f4" if kind == 0 else "<f2"
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        tensors[name] = GgmlTensor(kind, np.frombuffer(chunk(size), dtype).reshape(shape))
    return GgmlFile(magic, list(header), filters, tokens, tensors)
