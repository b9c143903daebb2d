"""Command line: `run`, `estimate`, `director`, `worker`, `status`, `prune`, `search`,
`collect` and `settings`.
Options are generated from the settings table, so the help text, the env vars and the defaults
are the table's own."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from dotenv import find_dotenv, load_dotenv

from whisper_automation.settings import (
    SettingError,
    Settings,
    field_by_name,
    load_settings,
    markdown_table,
)

LOGGING = ("log_level", "log_format")
QUEUE = ("queue_name", "sqs_endpoint_url", "endpoint_url", "region")
ENGINE = ("engine", "model", "model_name", "language", "device", "compute_type", "beam_size", "vad",
          "batch_size", "window_seconds", "recover_seconds", "quieter_voice_db", "threads")
FILES = ("formats", "extensions")

RUN_OPTIONS = ("workers", "cpu_pool", *ENGINE, *FILES, "retranscribe_other_models",
               "stable_seconds", "visibility_timeout", "heartbeat_seconds", "max_receives",
               *LOGGING)
DIRECTOR_OPTIONS = (*QUEUE, *FILES, "retranscribe_other_models", "engine", "model",
                    "model_name", "stable_seconds", "watch_seconds", "visibility_timeout",
                    "max_receives", *LOGGING)
PRUNE_OPTIONS = ("extensions", *LOGGING)
ESTIMATE_OPTIONS = ("workers", *ENGINE, "extensions", *LOGGING)
STATUS_OPTIONS = (*QUEUE, "extensions", "sounds_like", *LOGGING)
WORKER_OPTIONS = ("source", "destination", *QUEUE, *ENGINE, *FILES, "visibility_timeout",
                  "heartbeat_seconds", "idle_exit_seconds", "queue_retry_seconds", *LOGGING)


def setting_options(names: tuple[str, ...]) -> Callable:
    """Decorate a command with one --option per setting, parsed by the table's own parser."""
    def decorate(command: Callable) -> Callable:
        for name in reversed(names):
            item = field_by_name(name)
            default = item.metadata["raw_default"] or "empty"
            command = click.option(
                "--" + name.replace("_", "-"), name, default=None, metavar="VALUE",
                callback=_parse_option,
                help=f"{item.metadata['doc']} [env {item.metadata['env']}; default {default}]",
            )(command)
        return command
    return decorate


def _parse_option(context: click.Context, parameter: click.Parameter, raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return field_by_name(parameter.name).metadata["parse"](raw)
    except ValueError as error:
        raise click.BadParameter(f"{raw!r}: expected {error}") from None


def build_settings(options: dict[str, Any]) -> Settings:
    from whisper_automation.logs import setup_logging

    try:
        settings = load_settings(options)
    except SettingError as error:
        raise click.UsageError(str(error)) from None
    setup_logging(settings.log_level, settings.log_format)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="whisper-automation")
def main() -> None:
    """Transcribe a folder tree of recordings into a mirrored tree of transcripts, resumably,
    with parallel workers fed by an SQS FIFO queue. Settings also come from the environment
    and from a .env file in the current folder."""
    load_dotenv(find_dotenv(usecwd=True), override=False)


@main.command()
@click.argument("source", required=False)
@click.argument("destination", required=False)
@click.option("--retry-failed", is_flag=True, help="Queue files that failed before again.")
@setting_options(RUN_OPTIONS)
def run(source: str | None, destination: str | None, retry_failed: bool, **options: Any) -> None:
    """Transcribe SOURCE into DESTINATION on this machine (embedded queue, N workers)."""
    from whisper_automation.jobs.runner import run_pipeline

    settings = build_settings(dict(options, source=source, destination=destination))
    _require_folders(settings)
    with store_errors_reported(), device_errors_reported():
        code = run_pipeline(settings, retry_failed)
    sys.exit(code)


@main.command()
@click.argument("source", required=False)
@click.option("--models", default="", metavar="NAMES",
              help="Models to calibrate, comma-separated (default: every model already on this "
                   "machine, no download).")
@setting_options(ESTIMATE_OPTIONS)
def estimate(source: str | None, models: str, **options: Any) -> None:
    """How long SOURCE (a folder or s3://bucket/prefix) would take: its audio totalled from the
    recordings' headers, then each model available here timed on a minute of bundled speech on
    each device (CPU, GPU), with the accuracy measured in docs/benchmarks.md."""
    from whisper_automation.jobs.estimate import (
        audio_line,
        available_models,
        estimates,
        source_audio,
        table,
    )
    from whisper_automation.storage.base import open_storage

    settings = build_settings(dict(options, source=source))
    if not settings.source:
        raise click.UsageError("give SOURCE (or set WA_SOURCE)")
    with store_errors_reported(), device_errors_reported():
        audio = source_audio(open_storage(settings.source), settings.extensions)
        click.echo(f"{settings.source}: {audio_line(audio)}")
        names = available_models(settings, [n for n in models.split(",") if n.strip()])
        if not names:
            raise click.ClickException("no model is available on this machine to time")
        click.echo(f"timing {', '.join(names)} on the bundled speech (about a minute)...",
                   err=True)
        click.echo(table(list(estimates(settings, audio, names))))


@main.command()
@click.argument("source", required=False)
@click.argument("destination", required=False)
@click.option("--retry-failed", is_flag=True, help="Queue files that failed before again.")
@click.option("--watch", is_flag=True,
              help="Keep running: rescan every --watch-seconds and queue new or changed files.")
@setting_options(DIRECTOR_OPTIONS)
def director(source: str | None, destination: str | None, retry_failed: bool, watch: bool,
             **options: Any) -> None:
    """Create the queues, diff SOURCE against DESTINATION and queue every missing file."""
    from whisper_automation.jobs.director import run_director, watch_director

    settings = build_settings(dict(options, source=source, destination=destination))
    _require_folders(settings)
    if watch:
        import threading

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        with store_errors_reported():
            watch_director(settings, stop, retry_failed)
        return
    with store_errors_reported():
        plan = run_director(settings, retry_failed)
    click.echo(plan.summary())


@main.command()
@setting_options(WORKER_OPTIONS)
def worker(**options: Any) -> None:
    """Take files from the queue and transcribe them until the queue stays empty."""
    from whisper_automation.jobs.devices import DeviceUnavailable
    from whisper_automation.jobs.lifecycle import ShutdownGuard
    from whisper_automation.jobs.worker import QueueUnavailable, run_worker
    from whisper_automation.transcription.engines.models import ModelUnavailable

    settings = build_settings(options)
    _require_folders(settings)
    guard = ShutdownGuard()
    guard.install()
    try:
        run_worker(settings, guard)
    except (QueueUnavailable, ModelUnavailable, DeviceUnavailable) as error:
        raise click.ClickException(str(error)) from None


@main.command()
@click.argument("source", required=False)
@click.argument("destination", required=False)
@click.option("--json", "as_json", is_flag=True,
              help="Print the status as JSON (stable schema: docs/status.md).")
@click.option("--watch", is_flag=True, help="Refresh in place until Ctrl-C.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between refreshes.")
@click.option("--serve", is_flag=True, help="Serve a self-refreshing status page.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address of the status page (keep 127.0.0.1 outside containers).")
@click.option("--port", default=8765, show_default=True, help="Port of the status page.")
@setting_options(STATUS_OPTIONS)
def status(source: str | None, destination: str | None, as_json: bool, watch: bool,
           interval: float, serve: bool, host: str, port: int, **options: Any) -> None:
    """Show recordings done, to do and failed, the queue, the live workers, throughput and an
    ETA. Read-only: it never receives or changes a queued message."""
    from whisper_automation.jobs.status import collect_status
    from whisper_automation.storage.base import open_storage

    settings = build_settings(dict(options, source=source, destination=destination))
    _require_folders(settings)
    durations: dict[str, float | None] = {}  # probed audio lengths, kept between refreshes

    def collect():
        return collect_status(settings, durations)

    if serve:
        from whisper_automation.web.library import Library
        from whisper_automation.web.searchindex import SearchIndex
        from whisper_automation.web.statuspage import make_server

        library = Library(open_storage(settings.source), open_storage(settings.destination),
                          SearchIndex.for_destination(settings.destination), settings.extensions,
                          settings.sounds_like)
        server = make_server(collect, host, port, library)
        # SIGTERM (`docker stop`) as Ctrl-C: as a container's PID 1 it would otherwise be
        # ignored, and every `./build.sh down` would wait out Docker's 10 s stop timeout.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        click.echo(f"status page on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.server_close()
        return
    while True:
        with store_errors_reported():
            result = collect()
        text = result.to_json() if as_json else result.to_text()
        if watch:
            click.clear()
            text += f"\n(refreshing every {interval:g} s; Ctrl-C stops)"
        click.echo(text)
        if not watch:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return


@main.command()
@click.argument("source", required=False)
@click.argument("destination", required=False)
@click.option("--yes", is_flag=True, help="Remove them; without it, only show what would go.")
@setting_options(PRUNE_OPTIONS)
def prune(source: str | None, destination: str | None, yes: bool, **options: Any) -> None:
    """Remove the transcripts and records of recordings gone from SOURCE (orphans, as `status`
    lists them). Shows what it would remove unless --yes is given. Run the director first:
    recordings that were moved or renamed are then no orphans, their transcripts follow them."""
    from whisper_automation.storage.base import open_storage
    from whisper_automation.storage.prune import find_orphans
    from whisper_automation.storage.prune import prune as remove_orphans

    settings = build_settings(dict(options, source=source, destination=destination))
    _require_folders(settings)
    with store_errors_reported():
        target = open_storage(settings.destination)
        orphans = find_orphans(open_storage(settings.source), target, settings.extensions)
        for orphan in orphans.items:
            click.echo(f"{'removing' if yes else 'would remove'} {orphan.key}: "
                       + (", ".join(orphan.files) or "no transcripts") + " and its records")
        if not yes:
            click.echo(f"{len(orphans.items)} orphan(s); nothing removed (--yes removes them)")
            return
        click.echo(f"removed {remove_orphans(target, orphans)} orphan(s)")


@main.command()
@click.argument("destination")
@click.argument("query")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of hits (key, start, end, text, marked, matches, segment, "
                   "kind: exact or sounds like, language).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="Most hits to show, best first.")
@click.option("--folder", default="", metavar="PATH",
              help="Only recordings in this folder of the destination (and its subfolders).")
@click.option("--language", default=None, metavar="CODE",
              help="Only transcripts detected (or set) in this language, e.g. en.")
@setting_options(("sounds_like",))
def search(destination: str, query: str, as_json: bool, limit: int, folder: str,
           language: str | None, sounds_like: bool | None) -> None:
    """Find QUERY in every transcript of DESTINATION (a folder or s3://bucket/prefix): words
    (all of them, any order), "a quoted phrase", prefix* - any case, accents optional. Each hit
    is a recording, the start and end of the passage, and its text with the match marked.
    Exact hits come first; then, marked "~", passages where a word sounds or is spelled like
    one searched for (a misheard name), unless --sounds-like false."""
    import json

    from whisper_automation.storage.base import open_storage
    from whisper_automation.web.searchindex import (
        Filters,
        HitKind,
        SearchIndex,
        SearchUnavailable,
        folder_prefix,
        format_clock,
    )

    settings = build_settings({"sounds_like": sounds_like})

    if not destination.startswith("s3://") and not Path(destination).is_dir():
        raise click.UsageError(f"{destination!r} is not a folder (give the transcripts' "
                               f"destination, or an s3:// location)")
    index = SearchIndex.for_destination(destination)

    def progress(done: int, total: int) -> None:
        if total >= 500:  # a first build over many records: say why it takes a while
            click.echo(f"indexing transcripts: {done}/{total}", err=True)

    try:
        index.sync(open_storage(destination), progress)
        hits = index.search(query, limit, settings.sounds_like,
                            Filters(folder=folder_prefix(folder), language=language or None))
    except SearchUnavailable as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps([hit.to_dict() for hit in hits], ensure_ascii=False, indent=1))
        return
    if not hits:
        click.echo(f"no matches for {query!r}", err=True)
    from whisper_automation.storage.layout import printable

    for hit in hits:  # names and text escaped: a newline in a name must not forge a hit
        sounds_like_mark = "  ~ sounds like:" if hit.kind is HitKind.SOUNDS_LIKE else ""
        click.echo(f"{printable(hit.key)}  {format_clock(hit.start)}-{format_clock(hit.end)}"
                   f"{sounds_like_mark}  {printable(hit.marked())}")


@main.command()
@click.argument("destination")
@click.argument("folder", default="")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Where to write, without extension (default: the folder's name, here).")
@click.option("--formats", "formats", default="md,docx", show_default=True,
              help="md, docx or both, comma-separated.")
@click.option("--title", default=None, help="The document's title (default: the folder's name).")
def collect(destination: str, folder: str, output: Path | None, formats: str,
            title: str | None) -> None:
    """Gather the transcripts of FOLDER (a folder of DESTINATION, with its subfolders; empty =
    all) into one document in name order, each recording a chapter: Markdown and DOCX, read
    from the done records (nothing is transcribed again)."""
    from whisper_automation.storage.base import open_storage
    from whisper_automation.web.collection import (
        COLLECTION_FORMATS,
        collection_title,
        gather,
        write_collection,
    )

    chosen = [name.strip().lower() for name in formats.split(",") if name.strip()]
    if not chosen or any(name not in COLLECTION_FORMATS for name in chosen):
        raise click.BadParameter(f"{formats!r}: expected md, docx or md,docx",
                                 param_hint="--formats")
    with store_errors_reported():
        chapters = gather(open_storage(destination), folder)
    if not chapters:
        raise click.ClickException(f"no transcribed recordings in {folder or destination!r}")
    title = title or collection_title(folder)
    for path in write_collection(chapters, title, output or Path(title), chosen):
        click.echo(f"{path}  ({len(chapters)} recordings)")


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the README's configuration table.")
def show_settings(markdown: bool) -> None:
    """Show every setting with its env var, default and current value."""
    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    settings = build_settings({})
    from dataclasses import fields

    for item in fields(Settings):
        click.echo(f"{item.metadata['env']:<24} = {getattr(settings, item.name)!r}")


@contextmanager
def store_errors_reported() -> Iterator[None]:
    """A source, destination or queue that cannot be used ends the command with its reason, not
    a traceback."""
    from whisper_automation.jobs.queue import QueueError
    from whisper_automation.storage.base import StorageError

    try:
        yield
    except (StorageError, QueueError) as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def device_errors_reported() -> Iterator[None]:
    """A GPU asked for and not usable ends the command with what is missing."""
    from whisper_automation.jobs.devices import DeviceUnavailable

    try:
        yield
    except DeviceUnavailable as error:
        raise click.ClickException(str(error)) from None


def _require_folders(settings: Settings) -> None:
    if not settings.source or not settings.destination:
        raise click.UsageError("give SOURCE and DESTINATION (or set WA_SOURCE and "
                               "WA_DESTINATION)")
