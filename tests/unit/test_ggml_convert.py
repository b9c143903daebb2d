"""The CTranslate2 -> whisper.cpp ggml converter, on a small Whisper of known weights.

The file written is parsed back by tests/support/model_files.read_ggml, a reader written from
whisper.cpp's loader (whisper_model_load), not from the converter.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.model_files import read_ggml, small_whisper_variables, write_ct2_model
from tests.support.require import require
from whisper_automation.transcription.engines import ggml
from whisper_automation.transcription.engines.ggml import (
    GGML_MAGIC,
    ConversionError,
    convert,
    mel_filters,
    read_vocabulary,
    resolve_whispercpp_model,
    text_tokens,
)
from whisper_automation.transcription.engines.models import ModelUnavailable

VOCABULARY = ["Ġhello", "!", "Ċ", "Ã©", "Ġw", "orld", "<|endoftext|>", "<|startoftranscript|>",
              "<|en|>", "<|transcribe|>", "<|notimestamps|>", "<|0.00|>"]
STATE, MELS, AUDIO_CTX, TEXT_CTX, LAYERS = 128, 80, 10, 6, 2


def _whisper_cpp_names(audio_layers: int, text_layers: int) -> set[str]:
    """The tensors whisper.cpp allocates and requires (src/whisper-arch.h)."""
    attention = ["{0}.query.weight", "{0}.query.bias", "{0}.key.weight", "{0}.value.weight",
                 "{0}.value.bias", "{0}.out.weight", "{0}.out.bias", "{0}_ln.weight",
                 "{0}_ln.bias"]
    block = ["mlp_ln.weight", "mlp_ln.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight",
             "mlp.2.bias", *(name.format("attn") for name in attention)]
    names = {"encoder.positional_embedding", "encoder.conv1.weight", "encoder.conv1.bias",
             "encoder.conv2.weight", "encoder.conv2.bias", "encoder.ln_post.weight",
             "encoder.ln_post.bias", "decoder.positional_embedding",
             "decoder.token_embedding.weight", "decoder.ln.weight", "decoder.ln.bias"}
    names |= {f"encoder.blocks.{layer}.{name}" for layer in range(audio_layers) for name in block}
    names |= {f"decoder.blocks.{layer}.{name}" for layer in range(text_layers)
              for name in [*block, *(name.format("cross_attn") for name in attention)]}
    return names


@pytest.fixture
def variables() -> dict[str, np.ndarray]:
    return small_whisper_variables(state=STATE, mels=MELS, audio_ctx=AUDIO_CTX,
                                   text_ctx=TEXT_CTX, vocab=len(VOCABULARY), layers=LAYERS)


@pytest.fixture
def source(tmp_path: Path, variables: dict[str, np.ndarray]) -> Path:
    return write_ct2_model(tmp_path / "ct2", variables, VOCABULARY,
                           aliases={"decoder/projection/weight": "decoder/embeddings/weight"})


@pytest.fixture
def converted(source: Path, tmp_path: Path):
    return read_ggml(convert(source, tmp_path / "out" / "ggml-small.bin"))


def test_header_holds_magic_and_the_dimensions_read_off_the_weights(converted) -> None:
    assert converted.magic == GGML_MAGIC
    # n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx,
    # n_text_state, n_text_head, n_text_layer, n_mels, ftype (1 = float16)
    assert converted.header == [len(VOCABULARY), AUDIO_CTX, STATE, STATE // 64, LAYERS,
                                TEXT_CTX, STATE, STATE // 64, LAYERS, MELS, 1]


def test_file_holds_exactly_the_tensors_whisper_cpp_loads(converted) -> None:
    assert set(converted.tensors) == _whisper_cpp_names(LAYERS, LAYERS)


def test_matrices_are_float16_and_vectors_conv_biases_and_positions_float32(converted) -> None:
    for name, tensor in converted.tensors.items():
        float32 = tensor.data.ndim == 1 or name.endswith(("conv1.bias", "conv2.bias",
                                                          "positional_embedding"))
        assert tensor.kind == (0 if float32 else 1), name
    assert converted.tensors["encoder.conv1.bias"].data.shape == (STATE, 1)
    assert converted.tensors["encoder.conv1.weight"].data.shape == (STATE, MELS, 3)
    assert converted.tensors["decoder.token_embedding.weight"].data.shape == (len(VOCABULARY),
                                                                              STATE)


def test_weights_are_copied_exactly_under_openai_whisper_names(converted, variables) -> None:
    pairs = {"encoder.conv2.weight": "encoder/conv2/weight",
             "encoder.positional_embedding": "encoder/position_encodings/encodings",
             "encoder.ln_post.bias": "encoder/layer_norm/beta",
             "decoder.token_embedding.weight": "decoder/embeddings/weight",
             "decoder.ln.weight": "decoder/layer_norm/gamma",
             "encoder.blocks.1.attn.out.weight": "encoder/layer_1/self_attention/linear_1/weight",
             "encoder.blocks.0.attn_ln.weight": "encoder/layer_0/self_attention/layer_norm/gamma",
             "decoder.blocks.1.mlp.2.weight": "decoder/layer_1/ffn/linear_1/weight",
             "decoder.blocks.0.mlp_ln.bias": "decoder/layer_0/ffn/layer_norm/beta",
             "decoder.blocks.0.cross_attn.query.weight":
                 "decoder/layer_0/attention/linear_0/weight",
             "decoder.blocks.1.cross_attn_ln.weight": "decoder/layer_1/attention/layer_norm/gamma",
             "decoder.blocks.1.cross_attn.out.bias": "decoder/layer_1/attention/linear_2/bias"}
    for ggml_name, ct2_name in pairs.items():
        written = converted.tensors[ggml_name].data.reshape(variables[ct2_name].shape)
        np.testing.assert_array_equal(written, variables[ct2_name].astype(written.dtype),
                                      err_msg=ggml_name)


def test_fused_attention_is_split_into_query_key_value_without_key_bias(converted,
                                                                       variables) -> None:
    fused = variables["encoder/layer_0/self_attention/linear_0/weight"]
    for index, part in enumerate(("query", "key", "value")):
        np.testing.assert_array_equal(
            converted.tensors[f"encoder.blocks.0.attn.{part}.weight"].data,
            fused[index * STATE:(index + 1) * STATE])
    cross = variables["decoder/layer_1/attention/linear_1/bias"]
    np.testing.assert_array_equal(
        converted.tensors["decoder.blocks.1.cross_attn.value.bias"].data, cross[STATE:])
    assert not any(name.endswith("key.bias") for name in converted.tensors)


def test_a_non_zero_key_bias_is_refused_rather_than_dropped(tmp_path: Path, variables) -> None:
    variables["decoder/layer_0/self_attention/linear_0/bias"][STATE] = 1.0
    source = write_ct2_model(tmp_path / "ct2", variables, VOCABULARY)
    with pytest.raises(ConversionError, match="key bias"):
        convert(source, tmp_path / "out.bin")


def test_int8_weights_are_dequantised_with_their_row_scales(tmp_path: Path, variables) -> None:
    name = "encoder/layer_0/ffn/linear_0/weight"
    original = variables[name].astype(np.float32)
    scale = (127 / np.abs(original).max(axis=1)).astype(np.float32)
    variables[name] = np.round(original * scale[:, None]).astype(np.int8)
    variables[name + "_scale"] = scale
    result = read_ggml(convert(write_ct2_model(tmp_path / "ct2", variables, VOCABULARY),
                               tmp_path / "out.bin"))
    written = result.tensors["encoder.blocks.0.mlp.0.weight"].data.astype(np.float32)
    np.testing.assert_allclose(written, original, atol=np.abs(original).max() / 100)


def test_tokens_are_the_bytes_of_the_ordinary_tokens_before_endoftext(converted) -> None:
    assert converted.tokens == [b" hello", b"!", b"\n", "é".encode(), b" w", b"orld"]


def test_mel_filters_are_written_with_their_shape(converted) -> None:
    assert converted.filters.shape == (MELS, 201)
    np.testing.assert_array_equal(converted.filters, mel_filters(MELS))


def _openai_whisper_assets() -> Path:
    spec = importlib.util.find_spec("whisper")  # finds the files without importing torch
    require(spec is not None and bool(spec.submodule_search_locations),
            "openai-whisper is not installed (its assets are the reference)")
    return Path(next(iter(spec.submodule_search_locations))) / "assets"


@pytest.mark.parametrize("mels", [80, 128])
def test_mel_filters_equal_openai_whisper_assets(mels: int) -> None:
    with np.load(_openai_whisper_assets() / "mel_filters.npz") as assets:
        np.testing.assert_allclose(mel_filters(mels), assets[f"mel_{mels}"], rtol=0, atol=1e-8)


def test_tiny_en_tokens_equal_openai_whisper_gpt2_ranks(tiny_model_dir: Path) -> None:
    ranks = {}
    for line in (_openai_whisper_assets() / "gpt2.tiktoken").read_bytes().splitlines():
        token, rank = line.split()
        ranks[int(rank)] = base64.b64decode(token)
    tokens = text_tokens(read_vocabulary(tiny_model_dir))
    assert tokens == [ranks[rank] for rank in range(len(ranks))]


def test_failed_conversion_leaves_neither_output_nor_temporary_file(
        source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_half_way(stream, *arguments) -> None:
        stream.write(b"ggml half a model")
        raise OSError("disk full")

    monkeypatch.setattr(ggml, "write_ggml", fail_half_way)
    output = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        convert(source, output / "model.bin")
    assert list(output.iterdir()) == []


def test_a_folder_without_model_bin_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"no model\.bin"):
        convert(tmp_path, tmp_path / "out.bin")


def test_command_line_converts_a_folder_and_prints_the_file(source: Path,
                                                           tmp_path: Path) -> None:
    output = tmp_path / "cli.bin"
    result = subprocess.run([sys.executable, "-m", "whisper_automation.transcription.engines.ggml",
                             str(source), str(output)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(output)
    assert read_ggml(output).magic == GGML_MAGIC


def test_command_line_names_the_problem_with_a_bad_source(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "whisper_automation.transcription.engines.ggml",
                             "no-such-model", str(tmp_path / "x.bin")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "not available offline" in result.stderr
    assert not (tmp_path / "x.bin").exists()


# --- model resolution for the engine --------------------------------------------------------


def test_a_ct2_model_is_converted_once_then_reused(source: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = resolve_whispercpp_model(str(source), cache_dir=cache)
    assert read_ggml(first).magic == GGML_MAGIC

    def no_second_conversion(*arguments):
        raise AssertionError("converted again")

    monkeypatch.setattr(ggml, "convert", no_second_conversion)
    assert resolve_whispercpp_model(str(source), cache_dir=cache) == first
    assert [path.name for path in cache.iterdir()] == [first.name]


def test_a_changed_source_model_is_converted_again(source: Path, tmp_path: Path,
                                                   variables) -> None:
    cache = tmp_path / "cache"
    first = resolve_whispercpp_model(str(source), cache_dir=cache)
    variables["decoder/layer_norm/gamma"] += np.float16(1)
    write_ct2_model(source, variables, VOCABULARY)
    stat = (source / "model.bin").stat()
    os.utime(source / "model.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = resolve_whispercpp_model(str(source), cache_dir=cache)
    assert second != first
    assert not np.array_equal(read_ggml(second).tensors["decoder.ln.weight"].data,
                              read_ggml(first).tensors["decoder.ln.weight"].data)


def test_a_ggml_file_is_used_as_it_is(source: Path, tmp_path: Path) -> None:
    path = convert(source, tmp_path / "ggml-mine.bin")
    assert resolve_whispercpp_model(str(path), cache_dir=tmp_path / "cache") == path
    assert not (tmp_path / "cache").exists()


def test_a_file_that_is_not_ggml_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04 a torch checkpoint")
    with pytest.raises(ModelUnavailable, match=r"not a whisper\.cpp ggml model file"):
        resolve_whispercpp_model(str(path), cache_dir=tmp_path / "cache")


def test_a_name_without_offline_source_fails_with_what_to_do_and_downloads_nothing(
        tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as error:
        resolve_whispercpp_model("small", cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert "not available offline" in message
    assert "ggml" in message
    assert "python -m whisper_automation.transcription.engines.ggml" in message
    assert not (tmp_path / "cache").exists()
