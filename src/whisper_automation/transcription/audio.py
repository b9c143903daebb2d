"""Reading recordings: is there audio, how long is it, and its samples as a bounded stream."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from contextlib import contextmanager

import av
import numpy as np

from whisper_automation.transcription.speech import SAMPLE_RATE, AudioError

# The only demuxers ffmpeg may use: audio and video containers. Probing picks a demuxer from
# the file's content, whatever its name, and some demuxers open other files or URLs (concat
# scripts, HLS/DASH playlists, image sequences): a text file named talk.mp3 must not make a
# worker read anything else. A name matches any alias of a demuxer ("mov" = mp4, m4a, 3gp).
MEDIA_DEMUXERS = ",".join((
    "mp3", "mov", "matroska", "wav", "w64", "flac", "ogg", "aac", "loas", "asf", "aiff", "amr",
    "amrnb", "amrwb", "avi", "mpeg", "mpegts", "flv", "caf", "ac3", "eac3", "dts", "truehd",
    "ape", "wv", "tta", "au", "mpc", "mpc8", "tak", "dsf", "voc", "xwma", "rm"))
NOT_MEDIA = ("not an audio or video file: ffmpeg does not read it as a media container (a "
             "playlist, a script such as ffconcat, an image or text?), so it is not opened")


@contextmanager
def open_media(path: str) -> Iterator[av.container.InputContainer]:
    """The file opened by an audio/video demuxer only; AudioError if no such demuxer reads it."""
    try:
        container = av.open(path, metadata_errors="ignore",
                            options={"format_whitelist": MEDIA_DEMUXERS})
    except av.error.ArgumentError:  # EINVAL: probed as a demuxer outside MEDIA_DEMUXERS
        raise AudioError(NOT_MEDIA) from None
    with container:
        yield container


def probe_duration(path: str) -> float:
    """Seconds of audio in the file's first audio stream; AudioError if there is none.

    Reads only the container header (plus a little of the stream when the header has no
    duration), so it costs milliseconds even for hour-long files.
    """
    try:
        with open_media(path) as container:
            if not container.streams.audio:
                raise AudioError("the file has no audio stream")
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
            return 0.0
    except av.error.PermissionError:
        # Not the recording's fault (a wrong user id, a locked folder): retryable, not final.
        raise PermissionError("permission denied (check the file's owner and mode)") from None
    except av.error.FFmpegError as error:
        raise AudioError(f"not a readable audio file ({_describe(error)})") from None


def _describe(error: av.error.FFmpegError) -> str:
    return getattr(error, "strerror", None) or str(error)


def declared_duration(path: str) -> float:
    """What the file says it holds. For WAV the header's data size counts (PyAV estimates from
    the file size, which hides truncation); for other containers, the probed duration."""
    duration = probe_duration(path)
    try:
        with wave.open(path, "rb") as riff:
            duration = max(duration, riff.getnframes() / float(riff.getframerate()))
    except (wave.Error, EOFError, OSError, ZeroDivisionError):
        pass  # not PCM WAV: the container's own figure stands
    return duration


def check_complete(declared: float, decoded: float) -> None:
    """AudioError if far less audio decoded than the file declares: a truncated recording."""
    if declared - decoded > max(1.0, 0.05 * declared):
        raise AudioError(
            f"truncated: {decoded:.1f} s of audio decoded but the file declares {declared:.1f} s "
            "(repair or re-export it; a changed file is transcribed again automatically)")


def stream_samples(path: str, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """The recording as 16 kHz mono float32, `block_seconds` at a time, however long it is.

    faster-whisper's decode_audio returns the whole file as one array (about 230 MB an hour
    before any model work); this yields blocks of the same samples instead, so memory stays
    bounded. Damaged packets are skipped like decode_audio does; a file that cannot be opened or
    decoded at all raises AudioError.
    """
    resampler = av.audio.resampler.AudioResampler(format="flt", layout="mono",
                                                  rate=SAMPLE_RATE)
    block = int(block_seconds * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    held = 0
    try:
        with open_media(path) as container:
            if not container.streams.audio:
                raise AudioError("the file has no audio stream")
            for frame in _decoded_frames(container):
                for resampled in resampler.resample(frame):
                    pending.append(resampled.to_ndarray().reshape(-1))
                    held += pending[-1].size
                if held >= block:
                    yield np.concatenate(pending)
                    pending, held = [], 0
            for resampled in resampler.resample(None):  # flush the resampler's tail
                pending.append(resampled.to_ndarray().reshape(-1))
    except av.error.PermissionError:
        raise PermissionError("permission denied (check the file's owner and mode)") from None
    except av.error.FFmpegError as error:
        raise AudioError(f"cannot decode audio ({_describe(error)})") from None
    if pending:
        yield np.concatenate(pending)


def _decoded_frames(container: av.container.InputContainer) -> Iterator[av.AudioFrame]:
    frames = container.decode(audio=0)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue  # one damaged packet; the truncation check catches real losses
        frame.pts = None  # the resampler must not insist on continuous timestamps
        yield frame
