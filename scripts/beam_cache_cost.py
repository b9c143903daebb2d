"""What a prompt costs CTranslate2's beam search: CPU per batch by prompt length.

Four 30 s clips of one recording are encoded once and decoded as one batch (the defaults'
batches of 4), first without a prompt, then with each clip's prompt taken from the other clips'
own words, cut to each length asked for. Prints the process CPU per batch and the tokens
written. Run it under `perf record` to see which share is the copying of the cached keys and
values (glibc's memmove) rather than arithmetic; with --perf-fifo, perf samples only the timed
batches:

    mkfifo /tmp/perf.ctl
    perf record -D -1 --control fifo:/tmp/perf.ctl -F 499 -o /tmp/p90.data \
        .venv/bin/python scripts/beam_cache_cost.py --prompts 90 --perf-fifo /tmp/perf.ctl
    perf report -i /tmp/p90.data --no-children --sort symbol -n --stdio | head -20
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel, decode_audio
from faster_whisper.tokenizer import Tokenizer

from whisper_automation.transcription.engines.models import resolve_faster_whisper_model

CLIP_SAMPLES = 30 * 16000
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared/corpus/bedtime/cfb_06.mp3"


def encoded_clips(model: WhisperModel, path: Path, clips: int, skip_seconds: float):
    audio = decode_audio(str(path))
    start = int(skip_seconds * 16000)
    pieces = [audio[start + i * CLIP_SAMPLES:start + (i + 1) * CLIP_SAMPLES] for i in range(clips)]
    features = np.stack([model.feature_extractor(p)[:, :3000] for p in pieces]).astype(np.float32)
    return model.model.encode(ctranslate2.StorageView.from_array(features), to_cpu=False)


def prompted(tokenizer: Tokenizer, own_words: list[list[int]], length: int) -> list[list[int]]:
    """Each clip's decoder input: the other clips' words, last `length` tokens, as its prompt."""
    start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    if not length:
        return [start] * len(own_words)
    inputs = []
    for i in range(len(own_words)):
        others = [token for j, words in enumerate(own_words) if j != i for token in words]
        inputs.append([tokenizer.sot_prev, *others[-length:], *start])
    return inputs


def perf_control(fifo: Path | None, command: str) -> None:
    if fifo:
        with fifo.open("w") as control:
            control.write(command + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--prompts", default="0,90,180", help="prompt lengths in tokens")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--perf-fifo", type=Path, help="perf control fifo")
    args = parser.parse_args()
    model = WhisperModel(resolve_faster_whisper_model(args.model), device="cpu",
                         compute_type="int8", cpu_threads=1)
    encoded = encoded_clips(model, args.file, clips=4, skip_seconds=20)
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                          language="en")
    first = model.model.generate(encoded, prompted(tokenizer, [[]] * 4, 0), beam_size=args.beam)
    own_words = [result.sequences_ids[0] for result in first]
    for length in (int(n) for n in args.prompts.split(",")):
        inputs = prompted(tokenizer, own_words, length)
        perf_control(args.perf_fifo, "enable")
        started = time.process_time()
        for _ in range(args.repeat):
            results = model.model.generate(encoded, inputs, beam_size=args.beam)
        cpu = (time.process_time() - started) / args.repeat
        perf_control(args.perf_fifo, "disable")
        tokens = sum(len(r.sequences_ids[0]) for r in results)
        print(f"prompt {length:4d} tokens, beam {args.beam}: {cpu:.3f} s of CPU per batch, "
              f"{tokens} tokens written")


if __name__ == "__main__":
    main()
