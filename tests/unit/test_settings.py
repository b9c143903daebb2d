"""The settings table: defaults, validation messages, precedence, round trips and the CLI."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from whisper_automation.cli import main
from whisper_automation.settings import (
    FORMATS,
    TUNING,
    SettingError,
    Settings,
    Tuning,
    load_settings,
    markdown_table,
    setting_fields,
    to_environment,
)


def test_defaults_without_environment() -> None:
    settings = load_settings(environ={})
    assert settings.source is None
    assert settings.destination is None
    assert settings.queue_name == "whisper-automation.fifo"
    assert settings.sqs_endpoint_url is None
    assert settings.endpoint_url is None
    assert settings.queue_endpoint is None
    assert settings.region == "us-east-1"
    assert settings.engine == "faster-whisper"
    assert settings.model == "tiny.en"
    assert settings.language is None
    assert settings.compute_type == "auto"  # int8 on a CPU, float16 on a GPU
    assert settings.device == "auto"
    assert settings.beam_size == 5  # Whisper's own beam, for long recordings too (issue 18)
    assert load_settings(environ={"WA_BEAM_SIZE": "auto"}).beam_size == 0
    assert settings.vad is True
    assert settings.formats == ("txt", "vtt", "srt")
    assert "mp3" in settings.extensions and "mp4" in settings.extensions
    assert settings.visibility_timeout is None
    assert settings.heartbeat_seconds is None
    assert settings.max_receives is None
    assert settings.workers == 0  # auto
    assert settings.threads == 0
    assert settings.idle_exit_seconds == 60.0
    assert settings.stable_seconds == 2.0
    assert settings.log_level == "INFO"
    assert settings.log_format == "text"


@pytest.mark.parametrize(
    ("env", "raw", "accepted"),
    [
        ("WA_BEAM_SIZE", "0", "'auto' or a whole number >= 1"),
        ("WA_BEAM_SIZE", "five", "'auto' or a whole number >= 1"),
        ("WA_ENGINE", "whisper-x", "faster-whisper, openai-whisper, whisper.cpp"),
        ("WA_FORMATS", "txt,pdf", "txt, vtt, srt, tsv, json, md, docx"),
        ("WA_FORMATS", " , ", "txt, vtt, srt, tsv, json"),
        ("WA_VAD", "maybe", "true, false"),
        ("WA_WORKERS", "0", "'auto' or a whole number >= 1"),
        ("WA_WORKERS", "lots", "'auto' or a whole number >= 1"),
        ("WA_LOG_LEVEL", "verbose", "DEBUG, INFO, WARNING, ERROR"),
        ("WA_EXTENSIONS", "mp3 w@v", "file extensions"),
        ("WA_VISIBILITY_TIMEOUT", "5", "a whole number >= 10"),
        ("WA_STABLE_SECONDS", "-1", "a number >= 0"),
        ("WA_COMPUTE_TYPE", "int4", "int8"),
        ("WA_LOG_FORMAT", "xml", "text, json"),
    ],
)
def test_bad_value_names_the_variable_and_accepted_values(env: str, raw: str,
                                                         accepted: str) -> None:
    with pytest.raises(SettingError) as caught:
        load_settings(environ={env: raw})
    message = str(caught.value)
    assert env in message
    assert repr(raw) in message
    assert accepted in message


def test_bad_beam_size_names_the_variable_and_accepted_values() -> None:
    with pytest.raises(SettingError, match=r"WA_BEAM_SIZE='-3'.*a whole number >= 1"):
        load_settings(environ={"WA_BEAM_SIZE": "-3"})


def test_log_level_is_case_insensitive_and_workers_auto_or_number() -> None:
    settings = load_settings(environ={"WA_LOG_LEVEL": "debug", "WA_WORKERS": "3"})
    assert settings.log_level == "DEBUG"
    assert settings.workers == 3
    assert load_settings(environ={"WA_WORKERS": "AUTO"}).workers == 0


def test_engine_accepts_module_factory_spec() -> None:
    spec = "tests.support.counting_engine:CountingEngine"
    assert load_settings(environ={"WA_ENGINE": spec}).engine == spec


def test_cli_override_wins_over_environment() -> None:
    environ = {"WA_BEAM_SIZE": "2", "WA_MODEL": "base", "WA_FORMATS": "json"}
    settings = load_settings({"beam_size": 7, "model": None}, environ=environ)
    assert settings.beam_size == 7  # the override
    assert settings.model == "base"  # None means "option not given": the environment stays
    assert settings.formats == ("json",)


def test_formats_all_expands_to_every_format() -> None:
    assert load_settings(environ={"WA_FORMATS": "all"}).formats == FORMATS
    assert load_settings(environ={"WA_FORMATS": " ALL "}).formats == FORMATS


def test_formats_are_deduplicated_in_order() -> None:
    settings = load_settings(environ={"WA_FORMATS": "srt, TXT srt,json"})
    assert settings.formats == ("srt", "txt", "json")


def test_extensions_are_case_insensitive_and_dot_stripped() -> None:
    settings = load_settings(environ={"WA_EXTENSIONS": ".MP3, .Wav m4a .mp3"})
    assert settings.extensions == ("mp3", "wav", "m4a")


def test_empty_optional_values_mean_default() -> None:
    settings = load_settings(environ={"WA_LANGUAGE": "  ", "WA_VISIBILITY_TIMEOUT": "",
                                      "WA_SOURCE": ""})
    assert settings.language is None
    assert settings.visibility_timeout is None
    assert settings.source is None


def test_queue_endpoint_prefers_the_sqs_specific_endpoint() -> None:
    settings = load_settings(environ={"AWS_ENDPOINT_URL": "http://a:1",
                                      "AWS_ENDPOINT_URL_SQS": "http://b:2"})
    assert settings.queue_endpoint == "http://b:2"
    assert load_settings(environ={"AWS_ENDPOINT_URL": "http://a:1"}).queue_endpoint == \
        "http://a:1"


def _non_default_settings() -> Settings:
    return Settings(
        source="/data/in put", destination="/data/out", queue_name="other.fifo",
        sqs_endpoint_url="http://127.0.0.1:4566", endpoint_url="http://127.0.0.1:9999",
        region="eu-west-3", engine="openai-whisper", model="base.en", model_name="base-en",
        language="fr", device="cuda:1", compute_type="float32", beam_size=2, vad=False,
        formats=("json", "tsv"),
        extensions=("wav", "flac"), visibility_timeout=300, heartbeat_seconds=40,
        max_receives=7, workers=3, threads=2, idle_exit_seconds=12.5, stable_seconds=0.25,
        queue_retry_seconds=42.0, storage_retry_seconds=9.5, batch_size=8, watch_seconds=7.0,
        window_seconds=600.0, recover_seconds=0.0, quieter_voice_db=15.0, sounds_like=False,
        retranscribe_other_models=True, cpu_pool="/run/wa-cpus",
        log_level="DEBUG", log_format="json")


def test_non_default_settings_object_really_differs_in_every_field() -> None:
    defaults = load_settings(environ={})
    custom = _non_default_settings()
    same = [item.name for item in setting_fields()
            if getattr(custom, item.name) == getattr(defaults, item.name)]
    assert same == []


def test_to_environment_round_trips_every_field_through_load_settings() -> None:
    custom = _non_default_settings()
    environ = to_environment(custom)
    assert all(isinstance(value, str) for value in environ.values())
    assert load_settings(environ=environ) == custom


def test_to_environment_of_defaults_round_trips() -> None:
    defaults = load_settings(environ={})
    environ = to_environment(defaults)
    assert "WA_SOURCE" not in environ  # None is left out, not written as "None"
    assert environ["WA_WORKERS"] == "auto"
    assert load_settings(environ=environ) == defaults


def test_every_field_has_env_doc_and_raw_default_that_parses_to_the_default() -> None:
    envs = []
    for item in setting_fields():
        metadata = item.metadata
        assert metadata["env"] and metadata["doc"], item.name
        assert isinstance(metadata["raw_default"], str), item.name
        assert metadata["parse"](metadata["raw_default"]) == item.default, item.name
        envs.append(metadata["env"])
    assert len(envs) == len(set(envs)), "two settings share one environment variable"


def test_markdown_table_has_a_row_per_setting() -> None:
    table = markdown_table()
    lines = table.splitlines()
    assert len(lines) == 2 + len(setting_fields())
    assert "| `--beam-size` | `WA_BEAM_SIZE` | `5` |" in table
    assert "| `--language` | `WA_LANGUAGE` | (empty) |" in table


# --- the click CLI: .env support and the settings command ---


def _printed(output: str, env: str) -> str:
    match = re.search(rf"^{env}\s+= (.*)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Run in an empty folder (the CLI reads .env from the current one) with no WA_ variable
    from outside. Whatever load_dotenv puts into os.environ is removed again afterwards (setenv
    first, so monkeypatch remembers the variable), and so is the CLI's logging setup."""
    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("WA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("WA_BEAM_SIZE", "placeholder")
    monkeypatch.delenv("WA_BEAM_SIZE")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield monkeypatch
    root.handlers[:] = handlers
    root.setLevel(level)


def test_dotenv_file_sets_a_value_for_the_cli(clean_environ: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WA_BEAM_SIZE=3\n")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    assert _printed(result.output, "WA_BEAM_SIZE") == "3"


def test_real_environment_variable_wins_over_dotenv(clean_environ: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    clean_environ.setenv("WA_BEAM_SIZE", "7")
    (tmp_path / ".env").write_text("WA_BEAM_SIZE=3\n")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    assert _printed(result.output, "WA_BEAM_SIZE") == "7"


def test_settings_command_reports_a_bad_value_as_usage_error(
        clean_environ: pytest.MonkeyPatch) -> None:
    clean_environ.setenv("WA_BEAM_SIZE", "zero")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 2
    assert "WA_BEAM_SIZE" in result.output and "a whole number >= 1" in result.output


def test_settings_markdown_prints_the_markdown_table(
        clean_environ: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["settings", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == markdown_table()


def test_settings_are_frozen() -> None:
    settings = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.beam_size = 1  # type: ignore[misc]


def test_every_fixed_tunable_has_a_doc_and_a_positive_value() -> None:
    for item in dataclasses.fields(Tuning):
        assert len(item.metadata.get("doc", "")) > 20, item.name
        assert getattr(TUNING, item.name) > 0, item.name
