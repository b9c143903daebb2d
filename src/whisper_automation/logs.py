"""Logging: one line per event, as text for people or JSON for machines; libraries kept quiet."""

from __future__ import annotations

import json
import logging
import sys
import time

from whisper_automation.storage.layout import printable

NOISY_LIBRARIES = ("botocore", "boto3", "urllib3", "faster_whisper", "werkzeug", "moto",
                   "numba", "ctranslate2", "httpx", "huggingface_hub")
STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        entry.update({key: value for key, value in vars(record).items()
                      if key not in STANDARD_ATTRIBUTES})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """One line per message: control characters in it (a newline in a file name) are escaped,
    so nothing logged can forge a line or drive the terminal. A traceback keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # logging's name
        original = record.message
        record.message = printable(original)
        try:
            return super().formatMessage(record)
        finally:
            record.message = original


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(message)s",
                                           datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
