"""One module per `notifier` command: ``add_arguments(parser)`` and ``run(args) -> int``."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date
from shlex import quote

from notifier.alerts import operator_name, operator_ref, subscriber_command
from notifier.errors import InputError, json_error
from notifier.models import given_paper_id


def load(args):
    from notifier.config import load_config

    return load_config(args.config)


@contextmanager
def context(args, **kwargs):
    from notifier.context import open_context

    with open_context(load(args), **kwargs) as ctx:
        yield ctx


def named(sub) -> str:
    """A subscriber as the commands' texts name them (``alerts.operator_name``): their address, but
    an incoming webhook URL, a secret, by id."""
    return operator_name(sub.address, sub.id)


def subscribe_command(sub, options: str = "") -> str:
    """`notifier subscribe` of this subscriber with ``options`` (``subscribe`` takes an id for the address)."""
    return subscriber_command("subscribe", sub.address, sub.id, options)


def bring_back(sub) -> str:
    """What brings back someone who unsubscribed: their stored profiles come back with them."""
    return f"{subscribe_command(sub)} brings them back, with their profiles"


def note_declared(ctx, sub, then: str = "the file wins at the next start") -> None:
    """For a subscriber from the config file's [[subscribers]], a note on a change to them: where
    they are declared (the file read here, or, given no file or another, one not read here) and
    ``then``; nothing for a subscriber added with `notifier subscribe` or an import."""
    from notifier.subscribers import canonical_address

    if sub.origin != "config":
        return
    here = any(canonical_address(spec.email or spec.slack) == sub.address for spec in ctx.config.subscribers)
    where = ctx.config.path if here else "a configuration file not read here (--config)"
    print(f"note: {named(sub)} is declared in {where}; {then}")


def write_whole(path: str, write, label: str) -> None:
    """``write(fh)`` into a new file beside PATH, renamed to PATH once complete: a failed or
    interrupted (Ctrl-C) write leaves no half-written file (and an older one as it was), and no
    temporary one; InputError '<label>: cannot write'."""
    import os
    import tempfile

    tmp = None
    try:
        if os.path.isdir(path):             # (renaming onto it would say "busy" for / or a mount point)
            raise IsADirectoryError(21, "Is a directory")
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".notifier-")
        with open(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)       # as open() would have made it, not mkstemp's 0600
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise InputError(f"{label}: cannot write: {err.strerror or err}") from None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def parse_day(text: str, what: str = "--date", *, latest: date | None = None) -> date:
    """YYYY-MM-DD -> date; with ``latest``, a later day is refused (a digest day to fetch: a future
    one would be recorded as a failed fetch, and `status` and the alerts would report a source down)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} {text!r} {no_such_day(text) or 'must be a date as YYYY-MM-DD'}") from None
    if latest is not None and day > latest:
        raise InputError(f"{what} {day} is in the future (today is {latest})")
    return day


def no_such_day(text: str) -> str:
    """Why TEXT, written as YYYY-MM-DD, is no day ('does not exist: February has 28 days in 2026');
    '' when it is not written so."""
    import calendar
    import re

    found = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if not found:
        return ""
    year, month, _ = map(int, found.groups())
    if year == 0 or not 1 <= month <= 12:
        return f"does not exist: there is no {'year 0' if year == 0 else f'month {month}'}"
    days = calendar.monthrange(year, month)[1]
    return f"does not exist: {calendar.month_name[month]} has {days} days in {year}"


def max_items_help(default: str) -> str:
    """--max-items's help in subscribe and edit, with the range the configuration allows."""
    from notifier.config import MAX_ITEMS_RANGE

    return f"most papers per digest, {MAX_ITEMS_RANGE[0]}-{MAX_ITEMS_RANGE[1]}{default}"


def option(key: str) -> str:
    """A subscriber setting's key as the option that sets it: 'max_items' -> '--max-items'."""
    return "--" + key.replace("_", "-")


def find_subscriber(ctx, ref: str):
    """The subscriber REF names: its address (any case; @U… or U…) or id first, else its name.
    A name several subscribers share is an error listing them, never a guess."""
    from notifier.subscribers import canonical_address

    sub = ctx.store.find_subscriber(canonical_address(ref))
    if sub is not None:
        return sub
    called = ctx.store.subscribers_named(ref.strip())
    if len(called) > 1:
        raise InputError(f"'{ref}' is the name of {len(called)} subscribers: "
                         f"{', '.join(f'{named(s)} (id {s.id})' for s in called)}; use the address or id")
    if not called:
        raise InputError(f"no subscriber '{ref}' ({meant(ctx, ref) or 'see `notifier subscribers`'})")
    return called[0]


def meant(ctx, ref: str) -> str:
    """'did you mean ada@example.org?' for the one subscriber REF names nearly (``nearly``), or ''.
    Read only on this error: every subscriber's address and name."""
    from notifier.subscribers import canonical_address

    typed = canonical_address(ref)
    rows = ctx.store.subscriber_rows("id", "address", "name", active_only=False)
    near = {operator_ref(r.address, r.id) for r in rows if nearly(typed, r.address) or nearly(ref.strip(), r.name)}
    return f"did you mean {quote(near.pop())}?" if len(near) == 1 else ""


def nearly(typed: str, text: str) -> bool:
    """TYPED is TEXT (an address or name) typed nearly right: the part of an address before its @
    alone ('bob'); an address with one of its parts as it is and the other close (ada@exmaple.org,
    but not dan@example.org for ada@example.org: only the domain is shared); else close as a whole."""
    from difflib import SequenceMatcher

    (user, at, domain), (their_user, their_at, their_domain) = typed.rpartition("@"), text.rpartition("@")
    if their_at and not at:
        return typed == their_user
    if at and their_at:
        if (user == their_user) == (domain == their_domain):
            return False
        differs = (domain, their_domain) if user == their_user else (user, their_user)
        return SequenceMatcher(None, *differs).ratio() >= 0.75
    return SequenceMatcher(None, typed.lower(), text.lower()).ratio() >= 0.9     # a name in another case too


def read_jsonl(path: str) -> list:
    """A JSON-lines file -> its objects; one-line errors naming the file and line."""
    return [obj for _, obj in numbered_jsonl(path)]


def numbered_jsonl(path: str) -> list[tuple[int, object]]:
    """A JSON-lines file -> (line number, object) for each non-blank line. Read a line at a time
    (100,000 profiles: the file's lines held at once were ~90 MB); a bad line's error waits until
    the whole file is read, so a file that cannot be read is reported as such first, as before."""
    out, error = [], None
    try:
        with text_file(path) as fh:
            for n, line in enumerate(fh, 1):
                if error is None and line.strip():
                    try:
                        out.append((n, json_line(line)))
                    except (ValueError, RecursionError) as err:     # also a number of over 4300 digits, nesting too deep
                        error = InputError(f"{shown(path)}: line {n}: not valid JSON ({json_error(err)})")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{shown(path)}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    if error is not None:
        raise error
    return out


STDIN = "-"      # the file name that stands for standard input, as for `subscribers import`


def shown(path: str) -> str:
    """How messages name a file: "standard input" for ``STDIN``."""
    return "standard input" if path == STDIN else path


def text_file(path: str):
    """PATH opened as UTF-8 text; for ``STDIN``, standard input read whole as UTF-8 (whatever the locale)."""
    import io
    import sys

    if path == STDIN:
        return io.StringIO(sys.stdin.buffer.read().decode("utf-8"))
    return open(path, encoding="utf-8")


_decode = json.JSONDecoder().raw_decode


def json_line(line: str):
    """``json.loads(line)``, a third faster on a line that is one JSON value and JSON blanks (its
    decoder without the checks around it); any other line goes to ``json.loads``, for its verdict."""
    try:
        value, end = _decode(line)
    except json.JSONDecodeError:
        return json.loads(line)
    return value if not line[end:].strip(" \t\n\r") else json.loads(line)


PAPER_FIELDS = {"title": str, "abstract": str, "authors": list, "upvotes": int}


def read_papers(path: str) -> list[dict]:
    """Papers for `match` and `profile check`, one JSON object a line (as `notifier parse --jsonl`
    writes them: Paper.to_json), each checked here so a wrong type is a line-numbered error and
    not a crash in the matcher."""
    papers = []
    for n, paper in numbered_jsonl(path):
        where = f"{shown(path)}: line {n}"
        if not isinstance(paper, dict):
            lines = "; one paper a line, as `notifier parse PATH --jsonl` writes them" if isinstance(paper, list) else ""
            raise InputError(f"{where}: expected a JSON object (a paper), not {_json_type(paper)}{lines}")
        pid = given_paper_id(paper)
        if not isinstance(pid, (str, int)) or isinstance(pid, bool) or pid == "":
            raise InputError(f'{where}: a paper needs an "id" (or "arxiv_id")')
        check_paper_fields(paper, where)
        papers.append(paper)
    return papers


def check_paper_fields(paper: dict, where: str) -> None:
    """InputError naming ``where`` and the key when a paper's title, abstract, authors or upvotes
    has the wrong JSON type (the matcher takes them as they are)."""
    for key, kind in PAPER_FIELDS.items():
        value = paper.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise InputError(f'{where}: "{key}" must be {_JSON_NAME[kind]}, not {_json_type(value)}')
    if not all(isinstance(a, str) for a in paper.get("authors") or []):
        raise InputError(f'{where}: "authors" must be a list of strings')


_JSON_NAME = {str: "a string", list: "a list of strings", int: "a whole number"}


def _json_type(value) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)
