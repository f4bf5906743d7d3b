"""Find the line of a TOML document that a validation error points at.

tomllib keeps no positions, so this walks the text: the section header for tables and arrays
of tables, then ``key =`` lines within the section, then inline tables counted inside an array.
It assumes the documented layout (one key per line, field rows as inline tables) and falls
back to the nearest enclosing line it can find.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _header_name(raw: str) -> str:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', raw)
    return ".".join(a or b or c for a, b, c in parts)


def _sections(lines: Sequence[str]) -> list[tuple[int, str, bool]]:
    """(line index, dotted name, is array-of-tables) for every header."""
    out = []
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            out.append((i, _header_name(m.group(2)), m.group(1) == "[["))
    return out


def _section_end(lines: Sequence[str], start: int) -> int:
    for j in range(start + 1, len(lines)):
        if _HEADER.match(lines[j]):
            return j
    return len(lines)


def _key_line(lines: Sequence[str], start: int, end: int, key: str) -> int | None:
    name = re.escape(key)
    # key = ..., "key" = ..., 'key' = ..., or a dotted key such as key.sub = ...
    pattern = re.compile(rf"^\s*(\"{name}\"|'{name}'|{name})\s*[=.]")
    for j in range(start, end):
        if pattern.match(lines[j]):
            return j
    return None


def _inline_items(lines: Sequence[str], start: int, end: int) -> list[int]:
    """Line index of each top-level ``{`` of the array that begins on line ``start``."""
    items: list[int] = []
    depth, in_string = 0, ""
    began = False
    for j in range(start, end):
        line = lines[j]
        k = line.index("=") + 1 if j == start and "=" in line else 0
        while k < len(line):
            ch = line[k]
            if in_string:
                if ch == "\\" and in_string == '"':
                    k += 1
                elif ch == in_string:
                    in_string = ""
            elif ch in "\"'":
                in_string = ch
            elif ch == "#":
                break
            elif ch == "[":
                depth += 1
                began = True
            elif ch == "]":
                depth -= 1
                if began and depth == 0:
                    return items
            elif ch == "{":
                if depth == 1:
                    items.append(j)
                depth += 1
            elif ch == "}":
                depth -= 1
            k += 1
    return items


def locate(text: str, path: Sequence[str | int]) -> int:
    """1-based line number for a validation error location, 0 if nothing matches."""
    # Lines end at \n only, as tomllib and editors count them (splitlines would also break
    # at \x0c, \x85 or \u2028 inside a comment or a string and shift every later line).
    lines = text.split("\n")
    sections = _sections(lines)
    if not path:
        return 0
    head, rest = path[0], list(path[1:])
    start: int | None = None
    if head == "mappings" and rest and isinstance(rest[0], int):
        found = [i for i, name, arr in sections if arr and name == "mappings"]
        if rest[0] < len(found):
            start = found[rest[0]]
        rest = rest[1:]
    elif head in ("systems", "tables") and rest:
        wanted = f"{head}.{rest[0]}"
        found = [i for i, name, _ in sections if name == wanted]
        if found:
            start = found[0]
            rest = rest[1:]
            # a sub-table written as its own section, e.g. [systems.erp.options]
            while rest and isinstance(rest[0], str):
                deeper = [i for i, name, _ in sections if name == f"{wanted}.{rest[0]}"]
                if not deeper:
                    break
                wanted, start, rest = f"{wanted}.{rest[0]}", deeper[0], rest[1:]
    if start is None and isinstance(head, str):
        # [head] itself, or a header that defines a table inside it such as [head.sub].
        found = [i for i, name, _ in sections if name == head or name.startswith(f"{head}.")]
        start = found[0] if found else None
        if start is None:
            line = _key_line(lines, 0, sections[0][0] if sections else len(lines), head)
            return line + 1 if line is not None else 0
    if start is None:
        return 0
    best = start
    end = _section_end(lines, start)
    if rest and isinstance(rest[0], str):
        key_line = _key_line(lines, start + 1, end, rest[0])
        if key_line is not None:
            best = key_line
            rest = rest[1:]
            if rest and isinstance(rest[0], int):
                items = _inline_items(lines, key_line, end)
                if rest[0] < len(items):
                    best = items[rest[0]]
    return best + 1
