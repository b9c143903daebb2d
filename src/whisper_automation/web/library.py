"""The transcripts behind the status page: search, the folder tree and one transcript, as JSON.

The index is brought up to date from the done records before answering, at most every
SYNC_SECONDS however many browsers ask (one sync at a time; the others wait for it rather than
answer from a half-built index).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from whisper_automation.storage.base import Storage
from whisper_automation.web.media import url_path
from whisper_automation.web.searchindex import (
    Filters,
    SearchIndex,
    SearchUnavailable,
    folder_prefix,
)

SYNC_SECONDS = 2.0
MAX_LIMIT = 500

log = logging.getLogger(__name__)


@dataclass
class Answer:
    status: int
    body: object


class Library:
    def __init__(self, source: Storage, destination: Storage, index: SearchIndex,
                 extensions: Iterable[str], sounds_like: bool = True) -> None:
        self.source = source
        self.destination = destination
        self.search_index = index
        self.extensions = tuple(extensions)
        self.sounds_like = sounds_like
        self._lock = threading.Lock()
        self._synced_at: float | None = None

    def current_index(self) -> SearchIndex:
        with self._lock:
            if self._synced_at is None or time.monotonic() - self._synced_at > SYNC_SECONDS:
                try:
                    report = self.search_index.sync(self.destination)
                    if report.indexed or report.removed:
                        log.info("search index: %d (re)indexed, %d removed in %.2f s",
                                 report.indexed, report.removed, report.seconds)
                except SearchUnavailable:
                    raise
                except Exception as error:  # answer from what is indexed; say why it is stale
                    log.warning("search index not updated: %s", error)
                self._synced_at = time.monotonic()
        return self.search_index

    def answer(self, route: str, params: dict[str, list[str]]) -> Answer:
        """The JSON answer to /api/<route>?params."""
        def param(name: str, default: str = "") -> str:
            return params.get(name, [default])[0]

        try:
            index = self.current_index()
            if route == "search":
                limit = min(max(int(param("limit", "50") or 50), 1), MAX_LIMIT)
                filters = Filters(folder=folder_prefix(param("folder")),
                                  language=param("lang") or None)
                hits = index.search(param("q"), limit, self.sounds_like, filters)
                return Answer(200, [hit.to_dict() for hit in hits])
            if route == "folder":
                return Answer(200, index.folder(folder_prefix(param("path"))))
            if route == "filters":  # what the page's folder and language choices offer
                return Answer(200, {"folders": index.folders(), "languages": index.languages()})
            if route == "transcript":
                transcript = index.transcript(param("key"))
                if transcript is None:
                    return Answer(404, {"error": "no transcript for this recording"})
                return Answer(200, dict(transcript, audio="/audio/" + url_path(param("key"))))
        except SearchUnavailable as error:
            return Answer(503, {"error": str(error)})
        except ValueError:
            return Answer(400, {"error": "limit must be a whole number"})
        return Answer(404, {"error": f"no such API: {route}"})
