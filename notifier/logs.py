"""Logging for journald and terminals: one line per event, key=value context, no secrets.

Every line goes through ``Redact`` (Slack webhook URLs, Slack and Hugging Face tokens, and every
secret read (``config.read_secret``) are replaced by ``[redacted]``, also in third-party library messages)
and through the formatter, which escapes control characters in the message and in every value,
so text from a source can never start a line of its own (a forged journald priority).
"""
from __future__ import annotations

import logging
import os
import re
import sys
from contextlib import contextmanager
from typing import Iterator

REDACTED = "[redacted]"
SECRET_PATTERNS = re.compile(
    r"https://hooks\.slack\.com/[^\s\"'<>,]+"       # incoming webhook URLs
    r"|\bxox[a-z]-[A-Za-z0-9-]+"                    # Slack tokens (xoxb-, xoxp-, xoxa-, ...)
    r"|\bhf_[A-Za-z0-9]{8,}"                         # Hugging Face tokens
    r"|(?<=Bearer )[^\s\"',}]+")                     # any Authorization header value
_secrets: set[str] = set()
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def redact_value(value: str | None) -> str | None:
    """Remember a secret so it never appears in a log line; returns it unchanged."""
    if value and len(value) >= 6:
        _secrets.add(value)
    return value


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return SECRET_PATTERNS.sub(REDACTED, text)


def escape(text: str) -> str:
    """Control characters as visible escapes (\\n, \\r, \\t, \\xNN, \\uNNNN): one line, always."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return CONTROL.sub(lambda m: named.get(m.group()) or (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                                          else f"\\u{ord(m.group()):04x}"), text)


class Redact(logging.Filter):
    """Rewrites a record's message, context and traceback with secrets replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        ctx = getattr(record, "ctx", None)
        if ctx:
            record.ctx = {k: _redacted(v) for k, v in ctx.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class SdkEcho(logging.Filter):
    """Drops slack-sdk's own ERROR line for a request that raised ("Failed to send a request to
    Slack API server: ...") or whose answer was no JSON ("Failed to decode Slack API response: ...",
    a 500 page): the SDK raises, and the channel reports the same failure as a delivery event with
    the digest's context (a retry at WARNING); the operator read each failure twice, once as ERROR."""

    ECHOED = ("Failed to send a request to Slack API server", "Failed to decode Slack API response")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("slack_sdk.") and record.levelno == logging.ERROR
                    and record.getMessage().startswith(self.ECHOED))


def _redacted(value):
    """A context value with secrets replaced; left as it is (an int stays an int) if it has none."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    clean = redact(text)
    return value if clean == text else clean


class KeyValueFormatter(logging.Formatter):
    """``LEVEL logger: message key=value ...`` on one line; under journald no timestamp
    (journald adds its own) and the syslog priority prefix so `journalctl -p` works."""

    PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def __init__(self, journald: bool):
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        context = getattr(record, "ctx", None) or {}
        parts = [escape(record.getMessage())]
        parts += [f"{k}={_quote(v)}" for k, v in context.items() if v is not None]
        line = " ".join(parts)
        if record.exc_info:         # under journald a field, as pipeline's traceback= (a bug's only record)
            trace = record.exc_text or self.formatException(record.exc_info)
            line += f" traceback={_quote(trace)}" if self.journald else " | " + escape(trace.replace("\n", " | "))
        if self.journald:
            return f"<{self.PRIORITY.get(record.levelno, 6)}>{record.name}: {line}"
        return f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname} {record.name}: {line}"


def _quote(value) -> str:
    text = str(value)
    if text and not CONTROL.search(text) and not any(c in text for c in ' "=\\'):
        return text
    return '"' + escape(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


class _StandardError(logging.StreamHandler):
    """A handler writing to ``sys.stderr`` as it is at each record: while a progress bar is live
    (``progress_console``), rich has put its own there, which prints the line above the bar."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _ignored):
        pass


def make_handler(stream=None, journald: bool | None = None) -> logging.Handler:
    """Our handler: redacting, one escaped key=value line per record (on ``stream``, else on
    standard error as it is at each record)."""
    handler = logging.StreamHandler(stream) if stream else _StandardError()
    if journald is None:
        journald = bool(os.environ.get("JOURNAL_STREAM"))
    handler.setFormatter(KeyValueFormatter(journald=journald))
    handler.addFilter(SdkEcho())
    handler.addFilter(Redact())
    handler._notifier = True
    return handler


@contextmanager
def stderr_logging(verbose: bool = False) -> Iterator[None]:
    """Our handler on the root logger (on today's ``sys.stderr``) for one run of a command, taken
    off again after it with the root level it had: an in-process caller (a test, a script calling
    ``main()``) keeps no handler writing to a stream that is closed by then. A handler of ours
    already there (the caller's) is used as it is, not doubled."""
    root, level = logging.getLogger(), logging.getLogger().level
    handler = None if any(getattr(h, "_notifier", False) for h in root.handlers) else make_handler()
    if handler:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "apscheduler.executors.default", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        yield
    finally:
        if handler:
            root.removeHandler(handler)
        root.setLevel(level)


def event(logger: logging.Logger, message: str, level: int = logging.INFO, **ctx) -> None:
    """Log one event with context: ``event(log, "fetched", source="hf_daily", new=3)``."""
    logger.log(level, message, extra={"ctx": ctx})


def progress_console():
    """rich's console on standard error for a progress bar, when that is a terminal and this is not
    a CI run (which sets CI, and often FORCE_COLOR, which rich takes for a terminal), else None:
    piped (cron mail, a log file) a bar left a blank first line. While a bar on it is live, rich
    stands in for ``sys.stderr`` and prints what is written there above the bar, so our log lines
    (``make_handler``) get a line of their own: they landed right after the bar's text."""
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_interactive and not os.environ.get("CI") else None
