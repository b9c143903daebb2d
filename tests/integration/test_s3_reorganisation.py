"""A library that survives reorganisation, on S3 (LocalStack host mode): a key renamed (copy +
delete), a duplicate, the same bytes uploaded again under a new ETag, changed bytes, a deleted
object (orphan, prune), re-transcription with another model, a crash mid-move, the stored
SHA-256 checksum used without reading, and `run` end to end."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from tests.support.cli import REPO, SAMPLES, cli_environment, run_cli
from tests.support.counting_engine import read_calls
from tests.support.reorganisation import CrashingStorage, DirectorRig, forget_fingerprints
from whisper_automation.settings import load_settings
from whisper_automation.storage.base import Storage, StorageError
from whisper_automation.storage.catalog import read_catalog
from whisper_automation.storage.prune import find_orphans, prune
from whisper_automation.storage.records import read_records
from whisper_automation.storage.s3 import S3Storage

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(localstack):
    return boto3.client("s3", endpoint_url=localstack.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture
def bucket(s3, monkeypatch: pytest.MonkeyPatch, localstack) -> str:
    for name, value in (("AWS_ENDPOINT_URL", localstack.endpoint),
                        ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "test"),
                        ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(name, value)
    name = f"wa-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


class Bucket(DirectorRig):
    """Recordings under in/, transcripts under out/."""

    def __init__(self, s3, bucket: str) -> None:
        super().__init__()
        self.s3, self.bucket = s3, bucket
        self.source: Storage = S3Storage(f"s3://{bucket}/in")
        self.destination: Storage = S3Storage(f"s3://{bucket}/out")

    def put(self, key: str, data: bytes, **extra: object) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=f"in/{key}", Body=data, **extra)

    def rename(self, old: str, new: str) -> None:
        self.s3.copy_object(Bucket=self.bucket, Key=f"in/{new}",
                            CopySource={"Bucket": self.bucket, "Key": f"in/{old}"})
        self.s3.delete_object(Bucket=self.bucket, Key=f"in/{old}")

    def transcripts(self) -> set[str]:
        return {key for key in self.destination.list_keys()
                if not key.startswith(".whisper-automation/")}


@pytest.fixture
def store(s3, bucket) -> Bucket:
    store = Bucket(s3, bucket)
    for key in ("a.mp3", "b.mp3", "talks/one.mp3"):
        store.put(key, f"bytes of {key}".encode())
    store.run()
    store.run()  # steady state: the catalog's marker written (storage/backfill.py)
    store.transcribed.clear()
    return store


def test_a_renamed_key_moves_its_transcripts(store: Bucket) -> None:
    store.rename("talks/one.mp3", "lectures/one.mp3")
    plan = store.run()
    assert store.transcribed == [] and plan.reorganised.counts["moved"] == 1
    assert store.transcripts() == {"a.txt", "a.srt", "b.txt", "b.srt", "lectures/one.txt",
                                   "lectures/one.srt"}
    assert set(read_records(store.destination).done) == {"a.mp3", "b.mp3", "lectures/one.mp3"}


def test_a_key_done_before_fingerprints_is_fingerprinted_once_then_moved(store: Bucket) -> None:
    assert forget_fingerprints(store.destination) == 3
    store.run()  # the first run after the upgrade fingerprints what is done
    assert len(read_catalog(store.destination)) == 3 and store.transcribed == []
    store.rename("talks/one.mp3", "lectures/one.mp3")
    plan = store.run()
    assert store.transcribed == [] and plan.reorganised.counts["moved"] == 1
    assert "lectures/one.txt" in store.transcripts() and "talks/one.txt" not in store.transcripts()


def test_a_rename_seen_in_two_halves_still_ends_as_a_move(store: Bucket) -> None:
    store.s3.copy_object(Bucket=store.bucket, Key="in/a2.mp3",
                         CopySource={"Bucket": store.bucket, "Key": "in/a.mp3"})
    assert store.run().reorganised.counts["copied"] == 1  # the copy, seen alone
    store.s3.delete_object(Bucket=store.bucket, Key="in/a.mp3")
    assert store.run().reorganised.leftovers_removed == 1
    assert "a.txt" not in store.transcripts() and "a2.txt" in store.transcripts()
    assert store.transcribed == []


def test_the_same_bytes_under_a_new_etag_are_taken_over(store: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "a.mp3"
    path.write_bytes(b"bytes of a.mp3")
    # A multipart upload: another ETag ("...-1") and a composite checksum, so it is read.
    store.s3.upload_file(str(path), store.bucket, "in/a.mp3",
                         Config=TransferConfig(multipart_threshold=1))
    assert store.source.version("a.mp3").etag.endswith("-1")
    plan = store.run()
    assert store.transcribed == [] and plan.reorganised.counts["taken over"] == 1


def test_changed_bytes_are_transcribed_again_and_a_duplicate_is_copied(store: Bucket) -> None:
    store.put("b.mp3", b"bytes of b.mp4")
    store.put("copy of a.mp3", b"bytes of a.mp3")
    plan = store.run()
    assert store.transcribed == ["b.mp3"] and plan.reorganised.counts["copied"] == 1
    assert "copy of a.txt" in store.transcripts()


def test_the_stored_checksum_is_used_without_reading(store: Bucket) -> None:
    data = b"bytes with a stored checksum"
    store.put("sum.mp3", data, ChecksumAlgorithm="SHA256")

    def no_reading(**_: object) -> None:
        raise AssertionError("read the object")

    store.source.client.get_object = no_reading
    assert store.source.fingerprint("sum.mp3") == f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_a_deleted_object_is_an_orphan_until_pruned(store: Bucket) -> None:
    store.s3.delete_object(Bucket=store.bucket, Key="in/b.mp3")
    store.run()
    orphans = find_orphans(store.source, store.destination, load_settings(environ={}).extensions)
    assert [orphan.key for orphan in orphans.items] == ["b.mp3"]
    assert "b.txt" in store.transcripts()
    prune(store.destination, orphans)
    assert "b.txt" not in store.transcripts()
    assert "b.mp3" not in read_records(store.destination).done


def test_recordings_done_with_another_model_are_transcribed_again(store: Bucket) -> None:
    store.model = "small"
    plan = store.run(retranscribe_other_models=True)
    assert sorted(store.transcribed) == ["a.mp3", "b.mp3", "talks/one.mp3"]
    assert plan.retranscribe == 3
    assert {entry.model for entry in read_catalog(store.destination)} == \
        {"faster-whisper small"}
    assert store.plan(retranscribe_other_models=True).jobs == []


@pytest.mark.parametrize("method,nth", [("write_atomic", 3), ("delete", 4), ("delete", 7)])
def test_a_crash_mid_move_is_finished_by_the_next_run(store: Bucket, method: str,
                                                      nth: int) -> None:
    store.rename("a.mp3", "moved/a.mp3")
    real = store.destination
    store.destination = CrashingStorage(real, method, nth)
    with pytest.raises(StorageError):
        store.run()
    store.destination = real
    store.run()
    assert store.transcribed == []
    assert {"moved/a.txt", "moved/a.srt"} <= store.transcripts()
    assert not {"a.txt", "a.srt"} & store.transcripts()


def test_run_moves_a_renamed_key_instead_of_transcribing_it(s3, bucket, localstack,
                                                           engine_log: Path) -> None:
    s3.upload_file(str(SAMPLES / "speeches/jfk.flac"), bucket, "in/speeches/jfk.flac")
    env = cli_environment(engine_log, AWS_ENDPOINT_URL=localstack.endpoint,
                          AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test",
                          AWS_SECRET_ACCESS_KEY="test",
                          # this checkout's code, even where the installed package is another's
                          PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "src")]))
    first = run_cli("run", f"s3://{bucket}/in", f"s3://{bucket}/out", env=env)
    assert first.returncode == 0, first.stderr
    engine_log.unlink()
    Bucket(s3, bucket).rename("speeches/jfk.flac", "kennedy/inaugural.flac")
    again = run_cli("run", f"s3://{bucket}/in", f"s3://{bucket}/out", env=env)
    assert again.returncode == 0, again.stderr
    assert not engine_log.exists() or read_calls(engine_log) == []
    assert "moved 1" in again.stderr and "moved 1" in again.stdout
    stored = Bucket(s3, bucket).transcripts()
    assert "kennedy/inaugural.txt" in stored and "speeches/jfk.txt" not in stored
