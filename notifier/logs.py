"""Logging for journald and terminals: one line per event, key=value context, no secrets."""
from __future__ import annotations

import logging
import os
import sys


class KeyValueFormatter(logging.Formatter):
    """``LEVEL logger: message key=value ...`` on one line; under journald no timestamp
    (journald adds its own) and the syslog priority prefix so `journalctl -p` works."""

    PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def __init__(self, journald: bool):
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        context = getattr(record, "ctx", None) or {}
        parts = [record.getMessage().replace("\n", " ")]
        parts += [f"{k}={_quote(v)}" for k, v in context.items() if v is not None]
        line = " ".join(parts)
        if record.exc_info and not self.journald:
            line += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        if self.journald:
            return f"<{self.PRIORITY.get(record.levelno, 6)}>{record.name}: {line}"
        return f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname} {record.name}: {line}"


def _quote(value) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def setup_logging(verbose: bool = False) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_notifier", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter(journald=bool(os.environ.get("JOURNAL_STREAM"))))
    handler._notifier = True
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "apscheduler.executors.default", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def event(logger: logging.Logger, message: str, level: int = logging.INFO, **ctx) -> None:
    """Log one event with context: ``event(log, "fetched", source="hf_daily", new=3)``."""
    logger.log(level, message, extra={"ctx": ctx})
