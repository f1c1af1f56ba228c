"""The one exception tree of digest-notifier.

    NotifierError                 anything we raise on purpose; the CLI prints it in one line
    ├── ConfigError               bad configuration file, key or value (names the key / line)
    ├── ProfileError              malformed keyword profile (names the term)
    ├── InputError                a bad command-line value or unreadable input file
    ├── StoreError                database unreadable, corrupt, newer than us, disk full
    │   ├── StoreBusy             another process held the database's write lock longer than we wait
    │   └── StoreFull             no room to write the database (disk full, file size limit) or a failing disk
    ├── FetchError                a source could not be fetched (after retries)
    │   └── HeldOff               not asked: its host's Retry-After ends later than a fetch waits
    └── ParseError                a page fetched fine but did not parse into papers

Delivery problems are not exceptions: a sender returns a ``SendResult`` (sent, retry, failed,
unknown) that the pipeline records (notifier/channels/base.py).

Exit codes: 0 fine, 1 expected error (any NotifierError), 2 usage error, 3 needs attention (`status`;
`run`: a digest failed or waits for a retry).
"""
from contextlib import contextmanager


class NotifierError(Exception):
    """Base class: ``str(err)`` is the one line shown to the user; ``lines``, when set, a report of
    several (every bad line of a file), shown one a line."""

    lines: tuple[str, ...] = ()

    @classmethod
    def report(cls, lines: list[str]) -> "NotifierError":
        err = cls("\n".join(lines))
        err.lines = tuple(lines)
        return err


def json_error(err: ValueError | RecursionError) -> str:
    """Why a JSON text was refused: the decoder's message, or the first clause of a limit's ('Exceeds
    the limit (4300 digits) for integer string conversion', 'maximum recursion depth exceeded ...'),
    without Python's advice to change the limit."""
    return getattr(err, "msg", None) or str(err).split(":")[0].split(";")[0] or type(err).__name__


def visible(text: str) -> str:
    """``text`` with each control or format character (a newline, a terminal escape, a bidi
    override) written as its escape (\\n, \\x1b, \\u202e): a value quoted in an error message,
    such as a file or subscriber name, cannot split the line, hide text or drive the terminal."""
    import unicodedata

    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")
                   else c for c in text)


class ConfigError(NotifierError):
    pass


class ProfileError(NotifierError):
    def __init__(self, message: str, term: str | None = None):
        super().__init__(message)
        self.term = term


class InputError(NotifierError):
    """``key``: the setting whose value was refused ('time', 'keywords'), when one was; a caller
    that read the settings from a file names that key's line."""

    key: str = ""

    @classmethod
    def about(cls, key: str, message: str) -> "InputError":
        err = cls(message)
        err.key = key
        return err


@contextmanager
def refusing(key: str):
    """An ``InputError`` raised inside is about the setting KEY (unless it names one already); so is
    a ``ConfigError`` of a check the config file shares (``check_timezone``), made an InputError."""
    try:
        yield
    except InputError as err:
        err.key = err.key or key
        raise
    except ConfigError as err:
        raise InputError.about(key, str(err)) from None


class StoreError(NotifierError):
    @property
    def problem(self) -> str:
        """What went wrong with the database (``StoreFull``: without saying nothing was written)."""
        return str(self)


class StoreBusy(StoreError):
    """The database stayed locked by another process (the daemon delivering, say) past the busy
    timeout: its transaction was rolled back whole (on SQLite it never began: BEGIN IMMEDIATE is
    what waits), so nothing was changed; the same call can succeed a moment later (the web
    answers 503 with Retry-After)."""


class StoreFull(StoreError):
    """The database could not be written for want of room, or its disk failed: the transaction was
    rolled back whole, which the message says. ``problem`` is the message without that, for a caller
    whose own effect outlived the rollback (an email that went out) and says what that means instead."""

    def __init__(self, problem: str):
        super().__init__(f"{problem} (nothing was half-written)")
        self._problem = problem

    @property
    def problem(self) -> str:
        return self._problem


class FetchError(NotifierError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class HeldOff(FetchError):
    pass


class ParseError(NotifierError):
    pass

