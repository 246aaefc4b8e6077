"""Reading and writing Kaldi's one-fact-per-line text tables.

A table file holds ``<key> <value>`` lines: the key is the first whitespace-free
token, the value the rest of the line. Kaldi requires keys that are unique and
sorted in the C locale (byte order); :func:`read_table` checks both and names
the file and line of the first violation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_write


def c_sort_key(key: str) -> bytes:
    """Sort key that reproduces ``LC_ALL=C sort`` (byte order of UTF-8)."""
    return key.encode("utf-8")


def read_table(path: str | os.PathLike, *, check_sorted: bool = True,
               allow_empty_value: bool = False) -> dict[str, str]:
    """Read ``key value`` lines into an insertion-ordered dict.

    Raises :class:`DataError` for a missing file, an empty line, a line without a
    value (unless ``allow_empty_value``), a duplicate key, or (with
    ``check_sorted``) a key out of C-locale order.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    table: dict[str, str] = {}
    previous: bytes | None = None
    with open(path, encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                raise DataError(path, lineno, "empty line")
            if line != line.strip():
                raise DataError(path, lineno, "leading or trailing whitespace")
            parts = line.split(maxsplit=1)
            key = parts[0]
            value = parts[1] if len(parts) > 1 else ""
            if not value and not allow_empty_value:
                raise DataError(path, lineno, f"key '{key}' has no value")
            if key in table:
                raise DataError(path, lineno, f"duplicate key '{key}'")
            sort_key = c_sort_key(key)
            if check_sorted and previous is not None and sort_key < previous:
                raise DataError(path, lineno, f"keys not sorted (C locale): '{key}' after a larger key; "
                                              "run utils/fix_data_dir.sh")
            previous = sort_key
            table[key] = value
    return table


def write_table(path: str | os.PathLike, table: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
    """Write ``key value`` lines sorted in C-locale order, atomically."""
    items = list(table.items()) if isinstance(table, Mapping) else list(table)
    items.sort(key=lambda kv: c_sort_key(kv[0]))
    with atomic_write(path) as handle:
        for key, value in items:
            if not key or any(c.isspace() for c in key):
                raise ValueError(f"{path}: invalid key {key!r}")
            value = str(value)
            if "\n" in value:
                raise ValueError(f"{path}: value of '{key}' contains a newline")
            handle.write(f"{key} {value}\n" if value != "" else f"{key}\n")
