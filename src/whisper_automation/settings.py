"""The one table of settings: every setting has a name, an env var, a default and a line of doc.

The `Settings` dataclass *is* the table. The CLI options, `whisper-automation settings` and the
README's configuration table are all generated from it, so they cannot drift apart.
Precedence: command-line option > environment > `.env` file > default.
Where AWS has a standard variable (endpoint, region, credentials) we use it instead of a new name;
boto3 reads those by itself, and they are listed here only so that they are documented and checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any

ENGINES = ("faster-whisper", "openai-whisper", "whisper.cpp")
FORMATS = ("txt", "vtt", "srt", "tsv", "json", "md", "docx")
# "auto": float16 on a GPU, int8 on a CPU (devices.compute_type_for).
COMPUTE_TYPES = ("auto", "int8", "int8_float32", "int16", "float32", "float16", "int8_float16",
                 "default")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_EXTENSIONS = (
    "mp3 m4a m4b aac wav flac ogg oga opus wma aiff aif amr mp4 m4v mov mkv webm avi 3gp"
)


class SettingError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what it accepts."""


# --- parsers: each takes the raw string and returns the value or raises ValueError(accepted) ---


def _text(raw: str) -> str:
    return raw.strip()


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"a whole number >= {minimum}") from None
        if value < minimum:
            raise ValueError(f"a whole number >= {minimum}")
        return value

    return parse


def _optional_int_at_least(minimum: int) -> Callable[[str], int | None]:
    parse_int = _int_at_least(minimum)

    def parse(raw: str) -> int | None:
        if raw.strip() == "":
            return None
        try:
            return parse_int(raw)
        except ValueError:
            raise ValueError(f"a whole number >= {minimum}, or empty for the default") from None

    return parse


def _float_at_least(minimum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"a number >= {minimum:g}") from None
        if value < minimum:
            raise ValueError(f"a number >= {minimum:g}")
        return value

    return parse


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("one of true, false, 1, 0, yes, no, on, off")


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if value not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return value

    return parse


def _upper_choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    choose = _choice(choices)
    return lambda raw: choose(raw.strip().upper())


def _engine(raw: str) -> str:
    value = raw.strip()
    # "package.module:factory" lets a custom engine (or a test's wrapper) be plugged in.
    if value in ENGINES or re.fullmatch(r"[\w.]+:\w+", value):
        return value
    raise ValueError("one of " + ", ".join(ENGINES) + ", or 'package.module:factory'")


def _formats(raw: str) -> tuple[str, ...]:
    names = [part for part in re.split(r"[\s,]+", raw.strip().lower()) if part]
    if names == ["all"]:
        return FORMATS
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise ValueError("a comma-separated list of " + ", ".join(FORMATS) + " (or 'all')")
    return tuple(dict.fromkeys(names))


def _extensions(raw: str) -> tuple[str, ...]:
    names = [part.lstrip(".").lower() for part in re.split(r"[\s,]+", raw.strip()) if part]
    if not names or not all(re.fullmatch(r"[a-z0-9]+", name) for name in names):
        raise ValueError("a list of file extensions such as 'mp3 m4a wav'")
    return tuple(dict.fromkeys(names))


def _auto_or_count(raw: str) -> int:
    """'auto' (stored as 0: decided later, per machine or per recording) or a whole number."""
    value = raw.strip().lower()
    if value == "auto":
        return 0
    try:
        return _int_at_least(1)(value)
    except ValueError:
        raise ValueError("'auto' or a whole number >= 1") from None


def _device(raw: str) -> str:
    """auto, cpu, cuda or cuda:N (devices.Device parses it; kept a string so the table's values
    stay plain)."""
    from whisper_automation.jobs.devices import (
        parse_device,  # devices imports nothing heavy at module level
    )

    return str(parse_device(raw))


def _unparse(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def setting(env: str, default: str, doc: str, parse: Callable[[str], Any],
            unparse: Callable[[Any], str] = _unparse) -> Any:
    """Declare one row of the table: the default is written as it would be in the environment.

    `unparse` turns a value back into its environment form (parse(unparse(v)) == v), so a child
    process started with `to_environment` sees exactly the same settings.
    """
    return field(default=parse(default), metadata={"env": env, "raw_default": default,
                                                   "doc": doc, "parse": parse,
                                                   "unparse": unparse})


@dataclass(frozen=True)
class Settings:
    source: str | None = setting(
        "WA_SOURCE", "", "Folder (or s3://bucket/prefix) of recordings, scanned recursively.",
        _optional_text)
    destination: str | None = setting(
        "WA_DESTINATION", "", "Folder (or s3://bucket/prefix) for transcripts; mirrors the source.",
        _optional_text)
    queue_name: str = setting(
        "WA_QUEUE_NAME", "whisper-automation.fifo",
        "SQS FIFO queue name (must end in .fifo); the dead-letter queue adds -dlq.", _text)
    sqs_endpoint_url: str | None = setting(
        "AWS_ENDPOINT_URL_SQS", "",
        "SQS endpoint (LocalStack: http://127.0.0.1:4566); empty = AWS or AWS_ENDPOINT_URL.",
        _optional_text)
    endpoint_url: str | None = setting(
        "AWS_ENDPOINT_URL", "", "Endpoint for every AWS service; empty = real AWS.",
        _optional_text)
    region: str = setting("AWS_DEFAULT_REGION", "us-east-1", "AWS region of the queue.", _text)
    engine: str = setting(
        "WA_ENGINE", "faster-whisper",
        "Engine: faster-whisper (fast, default), openai-whisper (reference) or whisper.cpp.",
        _engine)
    model: str = setting(
        "WA_MODEL", "tiny.en",
        "Model name (tiny.en, base, small, ...) or a local model path (whisper.cpp: a ggml "
        "file, or a CTranslate2 model converted once).", _text)
    model_name: str | None = setting(
        "WA_MODEL_NAME", "",
        "What records and status call the model when WA_MODEL is a path (the Docker worker's "
        "/models/current is named after its MODEL); empty = WA_MODEL.", _optional_text)
    language: str | None = setting(
        "WA_LANGUAGE", "", "Spoken language code (en, fr, ...); empty = detect.", _optional_text)
    device: str = setting(
        "WA_DEVICE", "auto", "Where the model runs: auto (a GPU when the engine sees one, else "
        "the CPU), cpu, cuda (stop if no GPU is usable) or cuda:N (that GPU).", _device)
    compute_type: str = setting(
        "WA_COMPUTE_TYPE", "auto", "faster-whisper weight type; auto = float16 on a GPU, int8 on "
        "a CPU.", _choice(COMPUTE_TYPES))
    beam_size: int = setting(
        "WA_BEAM_SIZE", "5", "Beam search width, Whisper's own 5 by default; auto = 5 up to 2 "
        "minutes, greedy (1) for longer recordings: about 1.3x faster there, but 1-3 points "
        "more WER on noisy long readings (docs/benchmarks.md).", _auto_or_count,
        unparse=lambda value: str(value) if value else "auto")
    vad: bool = setting(
        "WA_VAD", "true", "Skip silence with voice activity detection (needed to cut windows at "
        "pauses and to find skipped speech).",
        _boolean)
    batch_size: int = setting(
        "WA_BATCH_SIZE", "4",
        "faster-whisper: a window's <= 30 s clips decoded together (batched pipeline); "
        "0 = one after another.",
        _int_at_least(0))
    window_seconds: float = setting(
        "WA_WINDOW_SECONDS", "300",
        "Recordings are decoded and transcribed in windows this long (cut at a breath, joined "
        "at a sentence end): memory stays flat however long a recording is.",
        _float_at_least(60))
    recover_seconds: float = setting(
        "WA_RECOVER_SECONDS", "2",
        "Speech the VAD hears but no word covers, this long or longer, is transcribed again "
        "on its own; 0 = off.", _float_at_least(0))
    quieter_voice_db: float = setting(
        "WA_QUIETER_VOICE_DB", "10",
        "Skipped speech this many dB or more below the voice transcribed on each side of it is "
        "another voice in the room (a television, the next room): reported as uncovered, not "
        "transcribed again; 0 = transcribe it too.", _float_at_least(0))
    retranscribe_other_models: bool = setting(
        "WA_RETRANSCRIBE_OTHER_MODELS", "false",
        "Queue recordings done with another engine or model than WA_ENGINE and WA_MODEL again; "
        "each keeps its old transcripts until the new ones are written.", _boolean)
    formats: tuple[str, ...] = setting(
        "WA_FORMATS", "txt,vtt,srt", "Output formats: txt, vtt, srt, tsv, json, md (Markdown "
        "prose: paragraphs at pauses), docx (the same as a Word document) or all.",
        _formats)
    extensions: tuple[str, ...] = setting(
        "WA_EXTENSIONS", DEFAULT_EXTENSIONS,
        "File extensions treated as recordings (case-insensitive).", _extensions)
    visibility_timeout: int | None = setting(
        "WA_VISIBILITY_TIMEOUT", "",
        "Seconds a received file stays hidden from other workers; empty = create_queue.json.",
        _optional_int_at_least(10))
    heartbeat_seconds: int | None = setting(
        "WA_HEARTBEAT_SECONDS", "",
        "Seconds between visibility extensions; empty = a third of the visibility timeout.",
        _optional_int_at_least(1))
    max_receives: int | None = setting(
        "WA_MAX_RECEIVES", "",
        "Attempts per file before it goes to the dead-letter queue; empty = create_queue.json.",
        _optional_int_at_least(1))
    workers: int = setting(
        "WA_WORKERS", "auto", "Worker processes for `run` (auto = one per GPU, each on its "
        "own; without a GPU one per CPU, memory permitting).", _auto_or_count,
        unparse=lambda value: str(value) if value else "auto")
    threads: int = setting(
        "WA_THREADS", "0", "CPU threads per worker; 0 = the CPUs this worker may use.",
        _int_at_least(0))
    cpu_pool: str | None = setting(
        "WA_CPU_POOL", "",
        "CPUs shared by the workers of one machine: an idle worker lends its CPU to a busy "
        "one, batch by batch. A folder of tokens; empty = `run` makes one; off = none.",
        _optional_text)
    idle_exit_seconds: float = setting(
        "WA_IDLE_EXIT_SECONDS", "60",
        "A worker exits after the queue stays empty this long; 0 = never.", _float_at_least(0))
    queue_retry_seconds: float = setting(
        "WA_QUEUE_RETRY_SECONDS", "300",
        "A worker retries an unreachable queue this long (with backoff), then exits.",
        _float_at_least(0))
    storage_retry_seconds: float = setting(
        "WA_STORAGE_RETRY_SECONDS", "300",
        "A worker retries an unreachable source or destination this long (with backoff) while "
        "it holds the file's message, then leaves the file queued.", _float_at_least(0))
    watch_seconds: float = setting(
        "WA_WATCH_SECONDS", "30", "`director --watch`: seconds between rescans of the source.",
        _float_at_least(1))
    stable_seconds: float = setting(
        "WA_STABLE_SECONDS", "2",
        "A file changed within this many seconds is still being written and waits.",
        _float_at_least(0))
    sounds_like: bool = setting(
        "WA_SOUNDS_LIKE", "true", "Search: after the exact hits, also find words that sound "
        "or are spelled nearly alike (a misheard 'knot' for 'not'), marked as such.", _boolean)
    log_level: str = setting("WA_LOG_LEVEL", "INFO", "Log level: DEBUG, INFO, WARNING, ERROR.",
                             _upper_choice(LOG_LEVELS))
    log_format: str = setting("WA_LOG_FORMAT", "text", "Log format: text or json (one object "
                              "per line).", _choice(LOG_FORMATS))

    @property
    def queue_endpoint(self) -> str | None:
        return self.sqs_endpoint_url or self.endpoint_url

    @property
    def recorded_model(self) -> str:
        """The model as done records name it: re-transcription compares these names."""
        return self.model_name or self.model


def tunable(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Tuning:
    """Fixed tunables: numbers the code needs but nobody should have to set. Each is documented
    here, once, with the reason for its value; change them here, not where they are used."""

    long_poll_seconds: int = tunable(
        20, "Longest SQS receive wait (SQS's own maximum); shorter when an idle exit is near.")
    retry_backoff_first_seconds: float = tunable(
        1.0, "First wait before retrying an unreachable queue or store; doubles each time.")
    retry_backoff_max_seconds: float = tunable(
        30.0, "Longest wait between two retries of an unreachable queue or store.")
    aws_max_attempts: int = tunable(
        5, "Attempts botocore makes per AWS call (standard retry mode) before an error shows.")
    aws_connect_timeout_seconds: float = tunable(
        5.0, "Connecting to SQS or S3 takes longer than this only when it is unreachable.")
    queue_read_timeout_seconds: float = tunable(
        40.0, "SQS read timeout: above the 20 s long poll, or every receive would time out.")
    s3_read_timeout_seconds: float = tunable(
        30.0, "S3 read timeout per socket read (not per object): a silent store fails fast.")
    presence_write_seconds: float = tunable(
        15.0, "A worker rewrites its presence record at least this often while alive.")
    presence_stale_seconds: float = tunable(
        120.0, "A presence record not rewritten for this long belongs to a worker that is "
        "gone (eight missed rewrites).")
    presence_recent_files: int = tunable(
        50, "Finished files a presence record keeps (time, audio, wall) for throughput.")
    throughput_window_seconds: float = tunable(
        600.0, "Status throughput and ETA: audio finished by all workers in this window.")
    duration_sample_files: int = tunable(
        40, "Status: to-do files probed for their length; the rest is extrapolated.")
    run_poll_seconds: float = tunable(
        0.25, "`run` reads the queue counters this often (cheap): it ends this soon after the "
        "last file.")
    run_progress_seconds: float = tunable(
        2.0, "`run` recomputes the progress bar this often (lists records, probes headers).")
    run_feed_window: int = tunable(
        20, "Messages `run` keeps waiting in the embedded queue (moto scans every message it "
        "holds on each send, so thousands at once would take minutes).")
    sounds_like_alternatives: int = tunable(
        12, "Search: most sound-alike words tried per searched word, the nearest spelling "
        "first (a short phonetic key such as 'NT' is shared by dozens of words).")
    sounds_like_min_letters: int = tunable(
        3, "Search: shorter words are only matched exactly ('a', 'I' and 'of' sound like "
        "too much).")
    paragraph_pause_seconds: float = tunable(
        1.2, "md/docx: a pause this long between two segments starts a new paragraph (a "
        "reader's breath between sentences is shorter; a new thought is longer).")
    paragraph_max_words: int = tunable(
        180, "md/docx: a paragraph this long breaks at its next sentence end even without a "
        "pause, so a fast reader's chapter does not become one wall of text.")
    run_estimate_min_audio_seconds: float = tunable(
        600.0, "`run` times its model on the bundled speech (about 10 s with tiny.en on 2 "
        "cores) for its estimate only when at least this much audio is to do: a shorter run "
        "is over about as soon.")
    run_stop_grace_seconds: float = tunable(
        10.0, "`run` waits this long for workers to hand back their files before killing them.")

    status_idle_timeout_seconds: float = tunable(
        30.0, "The status page closes a connection silent for this long (a browser's idle "
        "keep-alive, or a client that never finishes its request), so none holds a thread.")


TUNING = Tuning()


def setting_fields() -> tuple[Field, ...]:
    return fields(Settings)


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, then apply already-typed overrides (CLI options).

    Raises SettingError naming the variable, the bad value and the accepted values.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for item in setting_fields():
        raw = environ.get(item.metadata["env"])
        if raw is not None:
            values[item.name] = parse_value(item, raw)
    settings = Settings(**values)
    explicit = {name: value for name, value in (overrides or {}).items() if value is not None}
    return replace(settings, **explicit) if explicit else settings


def parse_value(item: Field, raw: str) -> Any:
    try:
        return item.metadata["parse"](raw)
    except ValueError as error:
        raise SettingError(
            f"{item.metadata['env']}={raw!r} is not valid: expected {error}") from None


def field_by_name(name: str) -> Field:
    for item in setting_fields():
        if item.name == name:
            return item
    raise KeyError(name)


def to_environment(settings: Settings) -> dict[str, str]:
    """The settings as environment variables, so a child process sees exactly the same values."""
    return {item.metadata["env"]: item.metadata["unparse"](getattr(settings, item.name))
            for item in setting_fields() if getattr(settings, item.name) is not None}


def markdown_table() -> str:
    """The README's configuration table, generated from the dataclass above."""
    rows = ["| Setting | Environment variable | Default | Meaning |", "|---|---|---|---|"]
    for item in setting_fields():
        default = item.metadata["raw_default"]
        shown = f"`{default}`" if default else "(empty)"
        option = "--" + item.name.replace("_", "-")
        rows.append(f"| `{option}` | `{item.metadata['env']}` | {shown} | {item.metadata['doc']} |")
    return "\n".join(rows) + "\n"
