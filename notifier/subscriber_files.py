"""Subscribers to and from files: CSV or JSON lines, the columns of `notifier subscribers --json`.

Reading checks every row with ``subscribers.new_subscriber`` (the one place the rules live) and
collects every bad line, so a file is imported whole or not at all. In CSV a subscriber's several
profiles are one cell, one profile per line.
"""
from __future__ import annotations

import codecs
import csv
import json
import re
import sys
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from notifier.errors import InputError, json_error
from notifier.store import Subscriber
from notifier.subscribers import own_name, stored_profiles

COLUMNS = ("id", "name", "address", "channel", "profiles", "timezone", "time", "frequency", "weekday",
           "max_items", "threshold", "active", "origin", "paused")
IGNORED = ("id", "origin")            # the store assigns them
MAX_REPORTED = 20                     # bad lines listed before "... and N more"
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
WORKBOOKS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")   # zip (.xlsx, .ods), OLE2 (.xls)
WORKBOOK_HINT = 'a spreadsheet workbook, not CSV: use a .csv file, which spreadsheets open and save (Excel: "CSV UTF-8")'
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")   # a spreadsheet runs a cell starting so as a formula
STDIN = "-"                           # the file name that stands for standard input (or output)


def shown_name(path: str) -> str:
    """How messages name the file: "standard input" for ``STDIN``."""
    return "standard input" if path == STDIN else path


def file_format(path: str, given: str | None) -> str:
    fmt = given or FORMATS.get(Path(path).suffix.lower())
    if fmt is None and Path(path).suffix.lower() in WORKBOOKS:
        raise InputError(f"{path}: {WORKBOOK_HINT}")
    if fmt is None:
        raise InputError(f"{path}: cannot tell the format from the name; name it .csv or .jsonl, or give --format")
    return fmt


def to_row(sub: Subscriber) -> dict:
    """A stored subscriber as one line of `subscribers --json` / an export."""
    return {"id": sub.id, "name": own_name(sub.name), "address": sub.address, "channel": sub.channel,
            "profiles": stored_profiles(sub), "timezone": sub.timezone, "time": sub.delivery_time,
            "frequency": sub.frequency, "weekday": sub.weekday, "max_items": sub.max_items,
            "threshold": sub.threshold, "active": sub.active, "origin": sub.origin, "paused": sub.paused}


def write(fh, rows: list[dict], fmt: str, *, bom: bool = False) -> None:
    """``bom``: start a CSV with U+FEFF, without which Excel reads UTF-8 as Windows-1252 ("ZoÃ«")."""
    if fmt == "jsonl":
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    fh.write("\ufeff" if bom else "")
    out = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
    out.writeheader()
    for row in rows:
        out.writerow({k: _guarded(_cell(v)) for k, v in row.items()})


def _cell(value) -> str:
    if isinstance(value, list):
        return "\n".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _guarded(text: str) -> str:
    """"'-diffusion" for "-diffusion": Excel and LibreOffice run a cell that starts with = + - @, a
    tab, CR or NUL as a formula (a name from the web sign-up can be "=HYPERLINK(...)"), and show one
    that starts with ' as text. A text that already starts with apostrophes before such a character
    gets one more, so that reading takes exactly one off (``_unguarded``) and gives back any text."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_START) else text


def _unguarded(text: str) -> str:
    """What ``_guarded`` wrote -> the text it was given; any other cell (one written by hand) as it is."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_START) else text


def read(path: str, fmt: str, default_timezone: str,
         stored_profiles: Callable[[list[str]], dict[str, list[str]]] = lambda addresses: {}
         ) -> tuple[list[tuple[int, dict]], str, list[tuple[int, str]]]:
    """-> (line, checked subscriber as ``subscribers.written`` values) for every good row of the
    file (``STDIN``: standard input), the encoding it was read in, and (line, what is wrong) for
    every bad one, for ``fail`` (with what the caller finds wrong: one list, one fix pass). Rows
    are read one at a time: only the checked values are kept, and the rows refused for a profile.
    ``stored_profiles``: addresses -> the profiles stored for those that are stored (``_as_stored``)."""
    text, encoding = _decoded(path)
    checked, errors, refused = [], [], {}
    for line, row in (_csv_rows if fmt == "csv" else _jsonl_rows)(text, errors):
        try:
            checked.append((line, _subscriber(row, default_timezone)))
        except InputError as err:
            errors.append((line, str(err)))
            if err.key == "keywords":
                refused[line] = row
    again = dict(_as_stored(refused, default_timezone, stored_profiles)) if refused else {}
    subs, twice = _once_each(sorted(checked + list(again.items()), key=lambda x: x[0]))
    return subs, encoding, [e for e in errors if e[0] not in again] + twice


def _as_stored(refused: dict[int, dict], default_timezone: str,
               stored_profiles: Callable[[list[str]], dict[str, list[str]]]) -> Iterator[tuple[int, dict]]:
    """(line, subscriber) for the refused rows whose profiles are those stored for their address,
    read as stored (``check_typed``'s kept, as `notifier edit` keeps them): a backup imported onto
    its own database was refused for a profile that only a check added since rejects. Only the
    refused rows' addresses are read."""
    from notifier.subscribers import canonical_address

    kept = stored_profiles([canonical_address(row["address"]) for row in refused.values()])
    for line, row in refused.items():
        try:
            yield line, _subscriber(row, default_timezone, kept.get(canonical_address(row["address"]), ()))
        except InputError:
            pass                                        # its error is the one read gave


def _once_each(checked: list[tuple[int, dict]]) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """The rows of addresses not on an earlier line, and (line, error) for the others."""
    seen: dict[str, int] = {}
    subs, errors = [], []
    for line, sub in checked:
        if sub["address"] in seen:
            errors.append((line, f"'{sub['address']}' is also on line {seen[sub['address']]}"))
        else:
            seen[sub["address"]] = line
            subs.append((line, sub))
    return subs, errors


def _decoded(path: str) -> tuple[str, str]:
    """The file's text and the encoding it was read in (``decode``)."""
    data = _contents(path)
    if data.startswith(WORKBOOK_SIGNATURES):       # a workbook renamed .csv: "neither UTF-8 nor Windows-1252"
        raise InputError(f"{shown_name(path)}: {WORKBOOK_HINT}")
    return decode(shown_name(path), data)


def _contents(path: str) -> bytes:
    if path == STDIN:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None


def decode(path: str, data: bytes) -> tuple[str, str]:
    """A file's bytes -> (text, encoding): UTF-16 after its byte order mark (Excel's "Unicode Text"),
    else UTF-8 (a BOM or none), else, for bytes that are not UTF-8, Windows-1252: what Excel on
    Windows writes for "CSV" (not "CSV UTF-8"). Bytes that are neither: InputError naming the line."""
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
        return data.decode("utf-16" if utf16 else "utf-8-sig"), "UTF-16" if utf16 else "UTF-8"
    except UnicodeDecodeError as err:
        first = err
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        line = data[:first.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: neither UTF-8 nor Windows-1252 (byte 0x{data[first.start]:02x}): "
                         "save it as UTF-8 (Excel: \"CSV UTF-8\") and import it again") from None


def fail(path: str, errors: list[tuple[int, str]]) -> None:
    """Raise one InputError naming every bad line (the first MAX_REPORTED), if there are any."""
    if not errors:
        return
    errors.sort()
    lines = [f"{path}: line {n}: {msg}" for n, msg in errors[:MAX_REPORTED]]
    if len(errors) > MAX_REPORTED:
        lines.append(f"{path}: ... and {len(errors) - MAX_REPORTED} more bad lines")
    lines.append(f"{path}: nothing imported ({len(errors)} bad line{'s' if len(errors) > 1 else ''})")
    raise InputError.report(lines)


def _jsonl_rows(text: str, errors: list) -> Iterator[tuple[int, dict]]:
    """(line, object) for each JSON line; what is wrong with any other appended to ``errors``."""
    body = text.lstrip()
    if body.startswith("["):           # a .json file as other tools write it: every line would be "not valid JSON"
        errors.append((text[:len(text) - len(body)].count("\n") + 1, "a JSON array: write one JSON object per line "
                       "(JSON lines, as `notifier subscribers export` writes)"))
        return
    for n, line in enumerate(_lines(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as err:     # also a number of over 4300 digits, nesting too deep
            errors.append((n, f"not valid JSON ({json_error(err)})"))
            continue
        if isinstance(row, dict):
            yield n, row
        else:
            errors.append((n, "must be a JSON object"))


# A line and its end: \n, \r\n or \r, as a file opened with newline="" gives them (str.splitlines
# also ends one at U+2028 and U+2029, which a name or profile may hold: an exported row would be cut
# in two). Found one by one: io.StringIO(text) held four bytes a character, 57 MB for 100,000 rows.
LINE = re.compile(r".*?(?:\r\n|\r|\n)|.+", re.S)


def _lines(text: str) -> Iterator[str]:
    """The lines of a text, one by one, without their ends."""
    return (m.group().removesuffix("\n").removesuffix("\r") for m in LINE.finditer(text))


def _csv_rows(text: str, errors: list) -> Iterator[tuple[int, dict]]:
    """(line a record starts on, its cells by column) for each record; what is wrong with any
    other appended to ``errors``."""
    lines = (m.group() for m in LINE.finditer(text))
    reader = csv.reader(lines, delimiter=_delimiter(text), skipinitialspace=True)
    try:
        yield from _csv_records(reader, errors)
    except csv.Error as err:            # a cell over the csv module's limit (128 KB) stops the reader
        errors.append((reader.line_num, f"not readable as CSV: {err}"))


def _csv_records(reader, errors: list) -> Iterator[tuple[int, dict]]:
    typed = next(reader, None) or []
    header = [h.strip().lower() for h in typed]          # "Address " as a spreadsheet user types it
    error = _header_error(typed, header)
    if error:
        errors.append((1, error))
        return
    start = reader.line_num + 1
    for cells in reader:
        if any(c.strip() for c in cells):
            row, error = _csv_row(header, cells)
            if error:
                errors.append((start, error))
            else:
                yield start, row
        start = reader.line_num + 1


def _csv_row(header: list[str], cells: list[str]) -> tuple[dict, str | None]:
    """One record's cells by column name, or what is wrong with it. A column without a name is
    one that Excel saves right of the table (",," at each line's end) when it once held something."""
    if len(cells) != len(header):
        return {}, f"{len(cells)} cells, the header has {len(header)}"
    row = {k: _unguarded(v.strip()) for k, v in zip(header, cells) if v.strip()}
    unnamed = row.pop("", None)
    return row, None if unnamed is None else f"'{unnamed}' is in a column without a name in the header"


def _header_error(typed: list[str], header: list[str]) -> str | None:
    """What is wrong with a CSV's first line, if anything: a column named twice took the last
    one's cells, and a missing address or profiles column made every row an error of its own."""
    if not any(header):
        return "empty file: expected a header line naming the columns"
    unknown = [t for t, h in zip(typed, header) if h and h not in COLUMNS]
    if unknown:
        return unknown_column(unknown[0])
    twice = next((h for h in header if h and header.count(h) > 1), None)
    if twice:
        return f"column '{twice}' is there twice: keep one"
    missing = next((c for c in ("address", "profiles") if c not in header), None)
    return f"no '{missing}' column: every row needs one" if missing else None


def _delimiter(text: str) -> str:
    """',' or what else separates the header's column names: Excel writes ';' where the decimal
    mark is a comma (German, French, ... settings), and a tab for "Text (Tab delimited)"."""
    header = text.split("\n", 1)[0].strip()
    return next((d for d in ";\t" if d in header and all(c.strip().strip('"').lower() in (*COLUMNS, "")
                                                           for c in header.split(d))), ",")


# The config file's [[subscribers]] keys that a file of subscribers names otherwise
IN_CONFIG = {"email": "address", "slack": "address", "keywords": "profiles"}


def unknown_column(name: str) -> str:
    """The error for a column no subscriber has; a [[subscribers]] key (email, keywords) is
    answered with this file's name for it."""
    meant = IN_CONFIG.get(name.strip().lower())
    if meant:
        return f"unknown column '{name}': did you mean '{meant}'? (the config file's [[subscribers]] say '{name}')"
    return f"unknown column '{name}' (columns: {', '.join(COLUMNS)})"


def _subscriber(row: dict, default_timezone: str, kept: Collection[str] = ()) -> dict:
    """A row's subscriber, checked (its profiles in ``kept`` only parsed), as ``subscribers.written`` values."""
    from notifier.subscribers import in_files, new_subscriber, written

    unknown = [k for k in row if k not in COLUMNS]
    if unknown:
        raise InputError(unknown_column(unknown[0]))
    if not isinstance(row.get("address"), str) or not row["address"].strip():
        raise InputError("'address' is required")
    frequency = _text(row, "frequency") or "daily"
    if row.get("weekday") and ":" not in frequency:
        frequency = f"{frequency}:{_text(row, 'weekday')}"
    sub = new_subscriber(address=row["address"], keywords=_profiles(row.get("profiles")), name=_text(row, "name"),
                         timezone=_text(row, "timezone") or default_timezone, time=_text(row, "time") or None,
                         frequency=frequency, max_items=_number(row, "max_items", int),
                         threshold=_number(row, "threshold", float), origin="cli", kept=kept, named=in_files)
    if row.get("channel") not in (None, sub.channel):
        raise InputError(f"channel '{row['channel']}' does not fit '{sub.address}' (a {sub.channel} address)")
    return written(sub, active=None if row.get("active") is None else _flag(row, "active"),   # None: as it is
                   paused=None if row.get("paused") is None else _flag(row, "paused"))


def _text(row: dict, key: str) -> str:
    value = row.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"'{key}' must be text, not {json.dumps(value)}")
    return value or ""


def _profiles(value) -> list[str]:
    if isinstance(value, str):
        return list(_lines(value))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InputError("'profiles' is required: a keyword profile, or a list of them")


def _number(row: dict, key: str, kind: type):
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        try:
            number = float(_decimal_point(value) if kind is float else value)
        except ValueError:
            number = None
        if number is not None and (kind is float or number.is_integer()):
            return kind(number)
    raise InputError(f"'{key}' must be a {'whole ' if kind is int else ''}number, not {json.dumps(value)}")


def _decimal_point(value):
    """'0,3' -> '0.3': a threshold as Excel writes it where the decimal mark is a comma (the
    settings that also separate cells with ';'). Only for fractions: '1,000' stays no whole number."""
    if isinstance(value, str) and value.count(",") == 1 and "." not in value:
        return value.replace(",", ".")
    return value


def _flag(row: dict, key: str) -> bool:
    value = row[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise InputError(f"'{key}' must be true or false, not {json.dumps(value)}")
