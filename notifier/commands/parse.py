"""`notifier parse PATH_OR_URL [--json]`: parse one digest input, format detected from content."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from notifier.errors import InputError, ParseError


def add_arguments(p):
    p.add_argument("input", metavar="PATH_OR_URL",
                   help="a saved HF API JSON, HF day/search/paper page, arXiv RSS or Atom file, or an http(s) URL")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print a JSON array of papers, each with arxiv_id, title, "
                     "abstract, authors, upvotes, published and url")
    out.add_argument("--jsonl", action="store_true", help="the same papers as JSON lines, one a line: what "
                     "`notifier match --papers` and `notifier profile check --papers` read")


def read_input(where: str, args) -> str:
    if where.startswith(("http://", "https://")):
        return _read_url(_valid_url(where), args)
    try:
        return decoded(where, Path(where).read_bytes())
    except OSError as e:
        reason = e.strerror or str(e)
        if isinstance(e, FileNotFoundError) and re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", where):
            reason = "only http:// and https:// URLs are fetched"       # ftp://, file://: not a file here either
        raise unreadable(where, reason) from None


def unreadable(where: str, reason: str) -> InputError:
    """The error for an input that could not be read, worded as every command words it."""
    return InputError(f"{where}: cannot read: {reason}")


def decoded(where: str, data: bytes) -> str:
    """The file's text as a fetch reads the same answer (httpx decodes with replacement): a byte
    that is not UTF-8 becomes U+FFFD and its entry is kept, with a warning naming the first."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        print(f"notifier: warning: {where}: not UTF-8 at byte offset {err.start} (0x{data[err.start]:02x}): "
              "read as U+FFFD, as a fetch reads it", file=sys.stderr)
        return data.decode("utf-8", errors="replace")


def _valid_url(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        if not urlsplit(url).hostname:
            raise ValueError("no host")
    except ValueError as err:
        raise unreadable(url, f"not a valid URL ({err})") from None
    return url


def _read_url(url: str, args) -> str:
    from notifier.commands import load
    from notifier.fetch import Fetcher

    with Fetcher.from_config(load(args)) as f:      # its contact, timeouts and size limit
        resp = f.get(url)
    if resp.status_code != 200:
        raise unreadable(url, f"HTTP {resp.status_code}")
    return resp.text


def run(args) -> int:
    from notifier.parse import parse_text

    text = read_input(args.input, args)
    try:
        papers = parse_text(text)
    except ParseError as e:
        raise ParseError(f"{args.input}: {e}") from None
    for reason in papers.skipped:
        print(f"notifier: warning: {args.input}: skipped {reason}", file=sys.stderr)
    if args.json:
        json.dump([p.to_json() for p in papers], sys.stdout, ensure_ascii=False, indent=2)
        print()
    elif args.jsonl:
        for p in papers:
            print(json.dumps(p.to_json(), ensure_ascii=False))
    else:
        _table(papers)
    return 0


def _table(papers) -> None:
    for p in papers:
        up = "" if p.upvotes is None else f"{p.upvotes:>4}▲ "
        authors = ", ".join(p.authors[:3]) + (" et al." if len(p.authors) > 3 else "")
        print(f"{p.arxiv_id:<16} {up}{p.title}\n{'':<17}{authors}")
    print(f"{len(papers)} paper(s)")
