"""Re-transcription with a better model, selectively (WA_RETRANSCRIBE_OTHER_MODELS).

Recordings done with another engine or model than the current one are queued again like any
work, marked with the label they are redone for (Job.redo): the worker transcribes a done
recording only for such a message, and only while its record still names another model, so a
re-delivered message or a second run never redoes it twice. The old transcripts stay until the
new ones are written (records.commit_done writes every transcript, then the record), so an
interrupted re-transcription is resumed by the next run and nothing is ever missing.
"""

from __future__ import annotations

from whisper_automation.jobs.messages import Job
from whisper_automation.storage.base import Storage
from whisper_automation.storage.catalog import Entry, model_label
from whisper_automation.storage.layout import Version
from whisper_automation.storage.records import read_done


def plan_retranscription(destination: Storage, done: dict[str, Version], stems: dict[str, str],
                         entries: list[Entry], engine: str, model: str) -> list[Job]:
    """Jobs for the done recordings ({key: current version}) whose transcription came from
    another engine or model. A done record without a catalog entry (written before the catalog
    existed) is read to learn its model."""
    wanted = model_label(engine, model)
    labels = {(entry.key, entry.token): entry.model for entry in entries}
    jobs = []
    for key, version in sorted(done.items()):
        label = labels.get((key, version.token())) or _label_of_record(destination, key, version)
        if label != wanted:
            jobs.append(Job(key, version, stems[key], redo=wanted))
    return jobs


def _label_of_record(destination: Storage, key: str, version: Version) -> str:
    record = read_done(destination, key, version.token()) or {}
    return model_label(str(record.get("engine")), str(record.get("model")))
