"""Where a key is set in a TOML text: the line a configuration message names. tomllib gives values
without their lines, so a message finds its key's line by reading the file again (a file that
loaded: valid TOML). Strings are matched whole, so a multi-line string or array holding text like
`[table]` or `key =` is never read as one."""
from __future__ import annotations

import re
import tomllib

_STRING = r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\''
_KEY = r'[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\''
_PATH = rf"(?:{_KEY})(?:[ \t]*\.[ \t]*(?:{_KEY}))*"
_STATEMENT = re.compile(rf"[ \t]*(?:\[\[[ \t]*({_PATH})[ \t]*\]\]|\[[ \t]*({_PATH})[ \t]*\]|({_PATH})[ \t]*=)")
_VALUE_TOKEN = re.compile(rf"{_STRING}|#[^\n]*|[\[{{]|[\]}}]|\n", re.S)


def line_of(text: str, key: str) -> int | None:
    """The line (from 1) of TOML TEXT that sets KEY, dotted as config names keys
    ('sources.hf_daily.min_interval_seconds', 'subscribers[1].time'), or the table or key holding it
    (a key of an inline table is on its table's line); None when the text sets none of them."""
    lines = _key_lines(text)
    return next((lines[k] for k in _holders(key) if k in lines), None)


def _holders(key: str) -> list[str]:
    """KEY and the keys holding it, innermost first: 'subscribers[1].time' -> itself,
    'subscribers[1]', 'subscribers'."""
    return [key] + [key[:m.start()] for m in reversed(list(re.finditer(r"\.|\[", key)))]


def _key_lines(text: str) -> dict[str, int]:
    """Each table and key a TOML text sets, dotted as config names them ('sources.hf_daily',
    'subscribers[0].keywords'), -> the line it is first set on (from 1)."""
    lines: dict[str, int] = {}
    arrays: dict[str, int] = {}
    table, pos, line = "", 0, 1
    while pos < len(text):
        found = _STATEMENT.match(text, pos)
        end = text.find("\n", pos) + 1 or len(text)
        if found:
            table, named = _statement(found, table, arrays)
            for key in _holders(named):
                lines.setdefault(key, line)
            if found.group(3):
                end = _value_end(text, found.end())
        line, pos = line + text.count("\n", pos, end), end
    return lines


def _statement(found: re.Match, table: str, arrays: dict[str, int]) -> tuple[str, str]:
    """A ``_STATEMENT`` in TABLE -> (the table from there on, the table or key it names); ARRAYS
    counts the [[tables]] of each array so far."""
    array, header, key = found.groups()
    if array:
        name = _dotted(array)
        arrays[name] = arrays.get(name, -1) + 1
        return f"{name}[{arrays[name]}]", f"{name}[{arrays[name]}]"
    if header:
        return _dotted(header), _dotted(header)
    return table, _dotted(key, table)


def _dotted(path: str, table: str = "") -> str:
    """A TOML key path as written ('hf_daily . "min_interval_seconds"') -> 'TABLE.hf_daily.min_interval_seconds'."""
    parts, value = [], tomllib.loads(f"{path} = 0")
    while isinstance(value, dict):
        (key, value), = value.items()
        parts.append(key)
    return ".".join(([table] if table else []) + parts)


def _value_end(text: str, pos: int) -> int:
    """Where the value starting at POS ends: past the line break closing it outside any string,
    array or inline table."""
    depth = 0
    for token in _VALUE_TOKEN.finditer(text, pos):
        kind = token.group()
        if kind in ("[", "{"):
            depth += 1
        elif kind in ("]", "}"):
            depth -= 1
        elif kind == "\n" and depth == 0:
            return token.end()
    return len(text)
