"""Reading and writing Kaldi's one-fact-per-line text tables.

A table file holds ``<key> <value>`` lines: the key is the first whitespace-free
token, the value the rest of the line. Kaldi requires keys that are unique and
sorted in the C locale (byte order); :func:`read_table` checks both and names
the file and line of the first violation.

Files are UTF-8. Bytes that are not (a Latin-1 transcript, a stray binary) are a
:class:`DataError` at their line rather than a bare ``UnicodeDecodeError``; a UTF-8
byte-order mark at the start of a file (which some editors write) is skipped, as the
CSV and manifest readers do, so that it never becomes part of the first key (where it
would look unsorted and make ``fix_data_dir`` drop that utterance from every file).
"""

from __future__ import annotations

import codecs
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_write

logger = logging.getLogger(__name__)

UTF8_BOM = codecs.BOM_UTF8
BOM_CHAR = "\ufeff"


def c_sort_key(key: str) -> bytes:
    """Sort key that reproduces ``LC_ALL=C sort`` (byte order of UTF-8)."""
    return key.encode("utf-8")


def sort_keys(keys: Iterable[str]) -> list[str]:
    """Keys sorted in C-locale (byte) order, as Kaldi wants them."""
    return sorted(keys, key=c_sort_key)


def missing_keys(keys: Iterable[str], present: Iterable[str], path: str | os.PathLike,
                 other_path: str | os.PathLike) -> str | None:
    """``"N utterances of <path> are missing from <other_path> (first: 'k')"``, or ``None`` if none is missing.

    ``keys`` are those of ``path``, ``present`` those of ``other_path``; the first missing
    key is the lowest in C-locale order, so the message does not depend on the order the
    keys come in. Every check that two files cover the same utterances words it this way.
    """
    missing = set(keys).difference(present)
    if not missing:
        return None
    first = min(missing, key=c_sort_key)
    return (f"{len(missing)} utterances of {os.fspath(path)} are missing from {os.fspath(other_path)} "
            f"(first: '{first}')")


def key_mismatch(keys: Iterable[str], other_keys: Iterable[str], path: str | os.PathLike,
                 other_path: str | os.PathLike) -> str | None:
    """What :func:`missing_keys` says in each direction, joined by ``"; "``, or ``None`` if the key sets agree."""
    keys, other_keys = set(keys), set(other_keys)
    parts = [missing_keys(keys, other_keys, path, other_path), missing_keys(other_keys, keys, other_path, path)]
    message = "; ".join(part for part in parts if part is not None)
    return message or None


def decode_text(data: bytes, path: str | os.PathLike, *, encoding: str = "utf-8", first_line: int = 1,
                hint: str = "") -> str:
    """Decode ``data`` (read from ``path``) strictly; a UTF-8 BOM at its start is dropped.

    A byte sequence that is not valid in ``encoding`` is a :class:`DataError` naming the
    line (counted from ``first_line``), the byte and its column; ``hint`` is appended
    to the reason (e.g. the option that selects another encoding).
    """
    if first_line == 1 and codecs.lookup(encoding).name == "utf-8" and data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = first_line + data.count(b"\n", 0, err.start)
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        name = "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
        raise DataError(path, line, f"not valid {name} (byte 0x{data[err.start]:02x} at column {column}){hint}") \
            from None


def read_text(path: str | os.PathLike, *, encoding: str = "utf-8", hint: str = "") -> str:
    """The whole of ``path`` decoded by :func:`decode_text` (missing file: :class:`DataError`)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    return decode_text(path.read_bytes(), path, encoding=encoding, hint=hint)


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line, text)`` of a UTF-8 file split at ``\\n`` only, line ends removed.

    A ``\\r\\n`` ending loses its ``\\r``; a leading BOM is skipped; invalid UTF-8 is a
    :class:`DataError` at its line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if lineno == 1 and raw.startswith(UTF8_BOM):
                logger.warning("%s: starts with a UTF-8 byte-order mark, which is ignored "
                               "(utils/fix_data_dir.sh rewrites a data directory without it)", path)
            yield lineno, decode_text(raw, path, first_line=lineno)


def read_table(path: str | os.PathLike, *, check_sorted: bool = True,
               allow_empty_value: bool = False) -> dict[str, str]:
    """Read ``key value`` lines into an insertion-ordered dict.

    Raises :class:`DataError` for a missing file, bytes that are not UTF-8, an empty
    line, a line without a value (unless ``allow_empty_value``), a carriage return or a
    byte-order mark inside the file (an encoding artefact that would otherwise become
    part of a key), a duplicate key, or (with ``check_sorted``) a key out of C-locale order.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    table: dict[str, str] = {}
    previous: bytes | None = None
    for lineno, line in iter_lines(path):
        if not line.strip():
            raise DataError(path, lineno, "empty line")
        if line != line.strip():
            raise DataError(path, lineno, "leading or trailing whitespace")
        if "\r" in line:
            raise DataError(path, lineno, "carriage return inside the line (lines end with \\n)")
        if BOM_CHAR in line:
            raise DataError(path, lineno, "byte-order mark (U+FEFF) inside the file (files with one concatenated?); "
                                          "remove it")
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
