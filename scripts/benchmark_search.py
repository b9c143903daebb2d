"""How fast search stays over a lifetime of transcripts: the index over N synthetic segments.

    .venv/bin/python scripts/benchmark_search.py [--recordings 1000] [--segments 100]
                                                 [--repeat 20] [--keep DIR]

Writes --recordings done records of --segments segments each (about 12 words a segment, with
per-word timings like the engine's, from a Zipf-distributed vocabulary of 20,000 made-up words
plus some accented names) into a destination folder through records.write_done, exactly as
workers do. Then times:
  - the first build of the index (every record read and indexed);
  - a sync that finds nothing new (what each page request pays, at most every 2 s);
  - the sync after one finished file (a new record) and after one re-transcribed file (a new
    version of an existing record), medians over --repeat files;
  - searches of several kinds (medians over --repeat runs, 20 hits asked for), in-process,
    and the whole `whisper-automation search --json` command (Python start-up included).
Prints Markdown tables and the index's size on disk. With --keep DIR the records are kept, and
a later run with the same sizes reuses them (writing 1,000 records takes minutes).
"""

from __future__ import annotations

import argparse
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from whisper_automation.storage.base import LocalStorage
from whisper_automation.storage.layout import Version
from whisper_automation.storage.records import Transcription, latest_done, write_done
from whisper_automation.transcription.speech import Result, Segment, Word
from whisper_automation.web.searchindex import SearchIndex
from whisper_automation.web.searchquery import to_fts_query

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "en", "dra", "pel", "gor", "ith",
             "un", "bas", "tre", "wy", "zo", "quen", "al"]
NAMES = ["José", "Zoë", "Élodie", "Björn", "Ágnes", "François", "Søren", "Łucja"]
QUERIES = {  # kind -> query; the words are chosen from the vocabulary by rank below
    "rare word": "{rare}",
    "common word": "{common}",
    "two words": "{common} {middle}",
    "phrase": '"{phrase}"',
    "prefix": "{prefix}*",
    "accent-free name": "elodie",
    "no match": "zzzzqx",
    # Not in any transcript as typed: found (after this change) only through a word that
    # sounds or is spelled alike, as a misheard word is.
    "misheard word (one letter off)": "{misheard}",
    "misheard with a right word": "{common} {misheard}",
}


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)  # by rank: the Zipf weights follow this order
    return ordered


def make_record(number: int, segments: int, words: list[str], weights: list[float],
                rng: random.Random, version: int = 1) -> Transcription:
    parts, clock = [], 0.0
    for position in range(segments):
        chosen = rng.choices(words, weights, k=12)
        if rng.random() < 0.02:
            chosen[rng.randrange(12)] = rng.choice(NAMES)
        timed, start = [], clock
        for word in chosen:
            timed.append(Word(start=round(clock, 2), end=round(clock + 0.35, 2), word=" " + word,
                              probability=0.9))
            clock += 0.4
        parts.append(Segment(start=round(start, 2), end=round(clock, 2),
                             text=" " + " ".join(chosen), words=timed, id=position))
    result = Result(text=" ".join(part.text for part in parts), segments=parts, language="en",
                    duration=clock)
    key = f"year{number % 20:02d}/month{number % 12:02d}/story-{number:06d}.mp3"
    return Transcription(key=key, version=Version(size=1000 + version, mtime_ns=version),
                   output_stem=key[:-4], result=result, engine="synthetic", model="none",
                   options={}, transcribe_seconds=1.0, worker="bench", started_at=0.0)


def misheard(word: str, vocabulary: set[str]) -> str:
    """`word` with its last vowel changed into one that makes no word of the vocabulary."""
    for position in reversed(range(len(word))):
        if word[position] in "aeiou":
            for vowel in "aeiouy":
                other = word[:position] + vowel + word[position + 1:]
                if other not in vocabulary:
                    return other
    return word + "h"


def timed(action, repeat: int = 1) -> float:
    """Median wall seconds of `repeat` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def matching(index: SearchIndex, query: str) -> int:
    expression = to_fts_query(query)
    if expression is None:
        return 0
    with index.connection() as connection:
        return connection.execute("SELECT count(*) FROM segments_text WHERE segments_text "
                                  "MATCH ?", (expression,)).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=1000)
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args()

    rng = random.Random(15)
    words = vocabulary(20_000, rng)
    weights = [1.0 / rank for rank in range(1, len(words) + 1)]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="wa-search-bench-"))
    destination = LocalStorage(folder)
    total = args.recordings * args.segments
    print(f"machine: {platform.node()}, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}")
    existing = len(latest_done(destination))
    if existing >= args.recordings:  # --keep DIR from an earlier run
        total = existing * args.segments
        print(f"reusing the {existing:,} done records ({total:,} segments) in {folder}",
              flush=True)
    else:
        print(f"writing {args.recordings:,} done records x {args.segments} segments "
              f"= {total:,} segments into {folder} ...", flush=True)
        started = time.perf_counter()
        for number in range(args.recordings):
            write_done(destination, make_record(number, args.segments, words, weights, rng), ())
        print(f"  written in {time.perf_counter() - started:.1f} s")
        existing = args.recordings
    for stale in folder.glob(".whisper-automation/search.sqlite*"):
        stale.unlink()  # the first build is measured from nothing
    print()

    index = SearchIndex.for_destination(str(folder))
    build = timed(lambda: index.sync(destination))
    idle = timed(lambda: index.sync(destination), args.repeat)
    added = iter(range(existing, existing + args.repeat))  # new keys
    changed = iter(range(args.repeat))
    new_version = time.time_ns()  # a version no earlier run wrote

    def finish(number: int, version: int = 1) -> None:
        write_done(destination, make_record(number, args.segments, words, weights, rng,
                                            version), ())

    def after(write) -> float:
        write()
        return timed(lambda: index.sync(destination))

    per_new = statistics.median(after(lambda: finish(next(added)))
                                for _ in range(args.repeat))
    per_changed = statistics.median(after(lambda: finish(next(changed), new_version))
                                    for _ in range(args.repeat))

    print("| index operation | seconds |")
    print("|---|---:|")
    print(f"| first build, {total:,} segments in {existing:,} records | {build:.2f} |")
    print(f"| sync with nothing new (one listing of the records) | {idle:.3f} |")
    print(f"| sync after one finished file (listing, its record read and indexed) | "
          f"{per_new:.3f} |")
    print(f"| sync after one re-transcribed file (old version's segments replaced) | "
          f"{per_changed:.3f} |")
    size = sum(path.stat().st_size for path in index.path.parent.glob("search.sqlite*"))
    print(f"\nindex on disk: {size / 1e6:.1f} MB "
          f"({size / (total + args.repeat * args.segments * 2):.0f} bytes per segment)\n")

    samples = {"rare": words[15_000], "common": words[0], "middle": words[200],
               "phrase": f"{words[0]} {words[1]}", "prefix": words[300][:3],
               "misheard": misheard(words[5_000], set(words))}
    print("| search | segments matching exactly | hits (20 asked) | median ms in-process | "
          "whole command s (start-up included) |")
    print("|---|---:|---:|---:|---:|")
    command = [str(Path(sys.executable).with_name("whisper-automation")), "search",
               str(folder)]
    for kind, template in QUERIES.items():
        query = template.format(**samples)
        hits = matching(index, query)
        seconds = timed(lambda query=query: index.search(query, 20), args.repeat)
        whole = timed(lambda query=query: subprocess.run(
            [*command, query, "--json"], check=True, capture_output=True), 3)
        returned = len(index.search(query, 20))
        print(f"| {kind}: `{query}` | {hits} | {returned} | {seconds * 1000:.1f} | "
              f"{whole:.2f} |")
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
