"""The value of one line of each data-directory file: parse it from text, format it back.

Each file of a Kaldi data directory (see CONTRIBUTING.md) holds ``<key> <value>``
lines whose value has one kind: a speaker id, a transcript, a duration, a segment, a
list of class names, three attributes ... This module has one parser (value text ->
typed value, or a :class:`~voxrecipes.errors.DataError` naming the file, line and
reason) and one formatter (typed value -> the text written) per file, so that reading
and writing agree and a value that cannot be read back is never written.
Rules that span lines or files belong to :mod:`voxrecipes.data.datadir`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from voxrecipes.data.table import c_sort_key, sort_keys
from voxrecipes.errors import DataError
from voxrecipes.labels import parse_attrs, parse_category, parse_float, parse_labels


def format_float(value: float) -> str:
    """Shortest text that reads back as the same float (``4.0`` is written ``4``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _parse_token(what: str) -> Callable[[str, Path, int], str]:
    def parse(value: str, path: Path, line: int) -> str:
        if len(value.split()) != 1:
            raise DataError(path, line, f"expected one {what}, found {len(value.split())} fields: '{value}'")
        return value
    return parse


def _parse_text(value: str, path: Path, line: int) -> str:
    if not value.strip():
        raise DataError(path, line, "empty transcript")
    return value


def _parse_dur(value: str, path: Path, line: int) -> float:
    if len(value.split()) != 1:
        raise DataError(path, line, f"expected one duration in seconds, found '{value}'")
    dur = parse_float(value, path, line, "duration")
    if dur <= 0:
        raise DataError(path, line, f"duration must be positive, found {value}")
    return dur


def _parse_segment(value: str, path: Path, line: int) -> tuple[str, float, float]:
    fields = value.split()
    if len(fields) != 3:
        raise DataError(path, line, f"expected '<utt> <recording> <start> <end>', found {len(fields) + 1} fields")
    rec = fields[0]
    start = parse_float(fields[1], path, line, "segment start")
    end = parse_float(fields[2], path, line, "segment end")
    if start < 0:
        raise DataError(path, line, f"segment start {fields[1]} is negative")
    if end <= start:
        raise DataError(path, line, f"segment end {fields[2]} is not after its start {fields[1]}")
    return (rec, start, end)


def _parse_spk2utt(value: str, path: Path, line: int) -> list[str]:
    utts = value.split()
    for prev, cur in zip(utts, utts[1:]):
        if c_sort_key(cur) <= c_sort_key(prev):
            raise DataError(path, line, f"utterance ids not sorted and unique (C locale): '{cur}' after '{prev}'; "
                                        "run utils/fix_data_dir.sh")
    return utts


def _parse_wav(value: str, path: Path, line: int) -> str:
    if not value.strip() or value.strip() == "|":
        raise DataError(path, line, "empty audio path or command")
    return value


_PARSERS: dict[str, Callable[[str, Path, int], Any]] = {
    "wav.scp": _parse_wav,
    "utt2spk": _parse_token("speaker id"),
    "spk2utt": _parse_spk2utt,
    "segments": _parse_segment,
    "text": _parse_text,
    "utt2lang": _parse_token("language code"),
    "utt2dur": _parse_dur,
    "utt2labels": parse_labels,
    "utt2category": parse_category,
    "utt2attrs": parse_attrs,
}

_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "wav.scp": str,
    "utt2spk": str,
    "spk2utt": lambda utts: " ".join(sort_keys(utts)),
    "segments": lambda seg: f"{seg[0]} {format_float(seg[1])} {format_float(seg[2])}",
    "text": str,
    "utt2lang": str,
    "utt2dur": format_float,
    "utt2labels": lambda labels: labels if isinstance(labels, str) else " ".join(labels),
    "utt2category": str,
    "utt2attrs": lambda attrs: " ".join(format_float(a) for a in attrs),
}

def parse_value(name: str, value: str, path: Path, line: int) -> Any:
    """The typed value of one line of file ``name`` (read from ``path``, 1-based ``line``)."""
    return _PARSERS[name](value, path, line)


def format_value(name: str, value: Any) -> str:
    """The text that file ``name`` stores for the typed ``value`` (the inverse of :func:`parse_value`)."""
    return _FORMATTERS[name](value)
