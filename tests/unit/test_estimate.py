"""The estimate's audio total: from container headers, on the bundled samples, on a tree with
things that are not audio, and on S3 through ranged reads (moto) without fetching whole files;
and the arithmetic of the table. Timing a real model is in tests/integration/test_estimate.py."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import boto3
import pytest

from tests.support.cli import SAMPLES
from whisper_automation.jobs import estimate
from whisper_automation.jobs.estimate import (
    CALIBRATION_SPEECH,
    Calibration,
    Estimate,
    RangedReader,
    format_hours,
    source_audio,
    table,
)
from whisper_automation.settings import DEFAULT_EXTENSIONS, load_settings
from whisper_automation.storage.base import LocalStorage
from whisper_automation.web.media import open_media

EXTENSIONS = tuple(DEFAULT_EXTENSIONS.split())


def manifest_seconds() -> float:
    with open(SAMPLES / "MANIFEST.tsv", newline="") as stream:
        return sum(float(row["seconds"]) for row in csv.DictReader(stream, delimiter="\t"))


def test_samples_total_matches_the_manifest_from_headers_alone() -> None:
    audio = source_audio(LocalStorage(SAMPLES), EXTENSIONS)
    assert audio.files == 8 and audio.unreadable == []
    assert audio.seconds == pytest.approx(manifest_seconds(), abs=1.0)


def test_a_tree_counts_nested_folders_and_lists_files_without_a_readable_header(
        tmp_path: Path) -> None:
    tree = tmp_path / "years"
    for year in ("2019/spring", "2020/autumn/week 3"):
        shutil.copytree(SAMPLES, tree / year)
    (tree / "2020" / "broken.mp3").write_bytes(b"not audio at all" * 100)
    (tree / "notes.txt").write_text("not a recording")
    audio = source_audio(LocalStorage(tree), EXTENSIONS)
    assert audio.files == 17
    assert audio.unreadable == ["2020/broken.mp3"]
    assert audio.seconds == pytest.approx(2 * manifest_seconds(), abs=2.0)


def test_s3_headers_are_read_through_ranged_gets_not_whole_downloads(
        moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from whisper_automation.storage.s3 import S3Storage

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="recordings")
    for path in SAMPLES.rglob("*"):
        if path.is_file() and path.suffix.lstrip(".") in EXTENSIONS:
            client.upload_file(str(path), "recordings", "in/" + str(path.relative_to(SAMPLES)))
    storage = S3Storage("s3://recordings/in", client=client)
    ranges: list[str] = []
    original = client.get_object

    def counted_get(**kwargs):
        ranges.append(kwargs.get("Range", "whole object"))
        return original(**kwargs)

    monkeypatch.setattr(client, "get_object", counted_get)
    audio = source_audio(storage, EXTENSIONS)
    assert audio.files == 8 and audio.unreadable == []
    assert audio.seconds == pytest.approx(manifest_seconds(), abs=1.0)
    assert ranges and "whole object" not in ranges
    assert all(r.startswith("bytes=") for r in ranges)


def test_ranged_reader_reads_what_the_file_holds_at_any_offset() -> None:
    storage = LocalStorage(SAMPLES)
    media = open_media(storage, "speeches/jfk.flac", EXTENSIONS)
    data = (SAMPLES / "speeches/jfk.flac").read_bytes()
    reader = RangedReader(media)
    try:
        reader.seek(300_000)
        assert reader.read(1000) == data[300_000:301_000]
        reader.seek(-10, 2)
        assert reader.read() == data[-10:]
        assert reader.read(5) == b""
    finally:
        media.close()


def test_calibration_speech_is_bundled_and_a_minute_long() -> None:
    from whisper_automation.transcription.audio import probe_duration

    assert 55 <= probe_duration(str(CALIBRATION_SPEECH)) <= 65


@pytest.mark.parametrize(("seconds", "shown"), [
    (30, "0.5 min"), (59 * 60, "59.0 min"), (2 * 3600 + 5 * 60, "2 h 05 min"),
    (3 * 86400 + 3600, "3 d 1 h 00 min")])
def test_wall_times_read_as_minutes_hours_and_days(seconds: float, shown: str) -> None:
    assert format_hours(seconds) == shown


def test_table_rows_give_speed_of_all_workers_wall_time_and_known_accuracy() -> None:
    rows = [Estimate(Calibration("tiny.en", "cpu", "int8", 10.0, 1.0), 2, 3600 / 20),
            Estimate(Calibration("small", "cuda:0", "float16", 200.0, 3.0), 1, 3600 / 200)]
    text = table(rows)
    assert "| tiny.en | cpu | int8 | 2 | 20.0 | 3.0 min | WER 5.4 %" in text
    assert "| small | cuda:0 | float16 | 1 | 200.0 | 0.3 min | not measured |" in text


def test_accuracy_figures_are_those_of_docs_benchmarks() -> None:
    benchmarks = (Path(__file__).resolve().parents[2] / "docs/benchmarks.md").read_text()
    assert "bedtime 5.4 % against 7.0 %" in benchmarks
    assert "short clips 4.7 % against 3.9 %" in benchmarks
    assert estimate.MEASURED_ACCURACY["tiny.en"] == \
        "WER 5.4 % (story readings), 4.7 % (short clips)"


def test_only_models_already_on_this_machine_are_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(estimate, "is_local_model", lambda name: name in ("tiny.en", "base"))
    settings = load_settings(environ={})
    assert estimate.available_models(settings) == ["tiny.en", "base"]
    assert estimate.available_models(settings, ["small"]) == ["small"]


def test_runs_time_the_engine_once_per_machine_and_options(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from whisper_automation.jobs.devices import Device, DeviceKind

    timed: list[tuple[str, int]] = []

    def fake_calibrate(settings, model, device, threads):
        timed.append((model, settings.beam_size))
        return estimate.Calibration(model, str(device), "int8", 20.0 + len(timed), 1.5)

    monkeypatch.setattr(estimate, "calibrate", fake_calibrate)
    cache = tmp_path / "calibrations.json"
    settings, cpu = load_settings(environ={}), Device(DeviceKind.CPU)
    first = estimate.remembered_calibration(settings, "tiny.en", cpu, 1, cache=cache)
    again = estimate.remembered_calibration(settings, "tiny.en", cpu, 1, cache=cache)
    assert again == first and timed == [("tiny.en", 5)]
    greedy = replace(settings, beam_size=1)
    assert estimate.remembered_calibration(greedy, "tiny.en", cpu, 1, cache=cache) != first
    assert timed == [("tiny.en", 5), ("tiny.en", 1)]


def test_a_damaged_calibration_file_is_timed_again_not_fatal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from whisper_automation.jobs.devices import Device, DeviceKind

    monkeypatch.setattr(estimate, "calibrate", lambda *args: estimate.Calibration(
        "tiny.en", "cpu", "int8", 20.0, 1.5))
    cache = tmp_path / "calibrations.json"
    cache.write_text("{not json")
    calibration = estimate.remembered_calibration(load_settings(environ={}), "tiny.en",
                                                  Device(DeviceKind.CPU), 1, cache=cache)
    assert calibration.speed == 20.0 and "tiny.en" in cache.read_text()
