"""Done records written exactly as a worker writes them, for tests of what reads them."""

from __future__ import annotations

from whisper_automation.storage.base import Storage
from whisper_automation.storage.layout import Version
from whisper_automation.storage.records import Transcription, write_done
from whisper_automation.transcription.speech import Result, Segment


def finish(destination: Storage, key: str, segments: list[tuple[float, float, str]],
           size: int = 1000, language: str = "en") -> None:
    """What a worker writes when it finishes a recording: transcripts, then the done record.
    A different `size` is a different version of the recording (transcribed again)."""
    result = Result(text=" ".join(text for _, _, text in segments), language=language,
                    duration=segments[-1][1] if segments else 0.0,
                    segments=[Segment(start=s, end=e, text=" " + t, words=[], id=i)
                              for i, (s, e, t) in enumerate(segments)])
    write_done(destination, Transcription(key=key, version=Version(size=size, mtime_ns=size),
                                    output_stem=key.rpartition(".")[0], result=result,
                                    engine="test", model="none", options={},
                                    transcribe_seconds=0.1, worker="w", started_at=0.0),
               formats=("txt",))
