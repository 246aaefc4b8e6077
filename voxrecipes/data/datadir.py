"""Kaldi data directories in memory: load, build and write them.

A data directory is a folder of small ``key value`` tables (see CONTRIBUTING.md):
``wav.scp``, ``utt2spk``/``spk2utt``, optional ``segments``, ``text``, ``utt2lang``,
``utt2dur`` and the label files ``utt2labels``, ``utt2category``, ``utt2attrs``.
:class:`DataDir` holds them as typed dicts. Every file goes through one parser per
kind of value, both when it is read from disk and before it is written, so that a
corpus preparer can never leave a directory behind that a later stage rejects.

Cross-file rules (keys that agree, utt2spk against spk2utt) live in
:mod:`voxrecipes.data.validate`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from voxrecipes.data.table import c_sort_key, read_table, write_table
from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_dir
from voxrecipes.labels import ATTR_RANGE, ATTRIBUTES  # noqa: F401  (re-exported: data-dir vocabulary)
from voxrecipes.labels import parse_attrs as _parse_attrs
from voxrecipes.labels import parse_float as _parse_float
from voxrecipes.labels import parse_labels as _parse_labels

#: Files with one line per utterance (their key sets must agree with utt2spk).
PER_UTT_FILES = ("utt2spk", "text", "utt2lang", "utt2dur", "utt2labels", "utt2category", "utt2attrs", "segments")
#: Per-utterance files that may be absent (attribute name == file name).
OPTIONAL_PER_UTT_FILES = PER_UTT_FILES[1:]
#: Every file this module reads and writes; other files in a directory are left alone.
DATA_FILES = ("wav.scp", "spk2utt") + PER_UTT_FILES


def sort_keys(keys) -> list[str]:
    """Keys sorted in C-locale (byte) order, as Kaldi wants them."""
    return sorted(keys, key=c_sort_key)


def format_float(value: float) -> str:
    """Shortest text that reads back as the same float (``4.0`` is written ``4``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


# ----------------------------------------------------------------------------------------------
# Parsers: (value text, file path, line) -> typed value, raising DataError with the reason.

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
    dur = _parse_float(value, path, line, "duration")
    if dur <= 0:
        raise DataError(path, line, f"duration must be positive, found {value}")
    return dur


def _parse_segment(value: str, path: Path, line: int) -> tuple[str, float, float]:
    fields = value.split()
    if len(fields) != 3:
        raise DataError(path, line, f"expected '<utt> <recording> <start> <end>', found {len(fields) + 1} fields")
    rec = fields[0]
    start = _parse_float(fields[1], path, line, "segment start")
    end = _parse_float(fields[2], path, line, "segment end")
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


_PARSERS: dict[str, Callable] = {
    "wav.scp": _parse_wav,
    "utt2spk": _parse_token("speaker id"),
    "spk2utt": _parse_spk2utt,
    "segments": _parse_segment,
    "text": _parse_text,
    "utt2lang": _parse_token("language code"),
    "utt2dur": _parse_dur,
    "utt2labels": _parse_labels,
    "utt2category": _parse_token("class name"),
    "utt2attrs": _parse_attrs,
}

_FORMATTERS: dict[str, Callable] = {
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


def _attr(name: str) -> str:
    return {"wav.scp": "wav_scp"}.get(name, name)


def derive_spk2utt(utt2spk: dict[str, str]) -> dict[str, list[str]]:
    """``speaker -> sorted utterance ids``, speakers in C-locale order."""
    spk2utt: dict[str, list[str]] = {}
    for utt in sort_keys(utt2spk):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return {spk: spk2utt[spk] for spk in sort_keys(spk2utt)}


@dataclass
class DataDir:
    """The tables of one Kaldi data directory, parsed.

    ``segments`` maps an utterance to ``(recording, start_s, end_s)``; without it
    recording ids are utterance ids. Optional tables are ``None`` when absent.
    ``spk2utt`` is derived from ``utt2spk`` when not given.
    """

    path: Path | None
    wav_scp: dict[str, str]
    utt2spk: dict[str, str]
    spk2utt: dict[str, list[str]] | None = None
    segments: dict[str, tuple[str, float, float]] | None = None
    text: dict[str, str] | None = None
    utt2lang: dict[str, str] | None = None
    utt2dur: dict[str, float] | None = None
    utt2labels: dict[str, list[str]] | None = None
    utt2category: dict[str, str] | None = None
    utt2attrs: dict[str, tuple[float, float, float]] | None = None
    #: file name -> key -> 1-based line in the file it was read from (for error messages)
    lines: dict[str, dict[str, int]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.path is not None:
            self.path = Path(self.path)
        if self.spk2utt is None:
            self.spk2utt = derive_spk2utt(self.utt2spk)

    # -- access -----------------------------------------------------------------------------
    @property
    def utts(self) -> list[str]:
        """Utterance ids in C-locale order."""
        return sort_keys(self.utt2spk)

    def table(self, name: str) -> dict | None:
        """The parsed table of file ``name`` (``wav.scp``, ``utt2spk``, ...), or ``None``."""
        return getattr(self, _attr(name))

    def present_files(self) -> list[str]:
        """Names of the files this directory has, in :data:`DATA_FILES` order."""
        return [name for name in DATA_FILES if self.table(name) is not None]

    def file_path(self, name: str) -> Path:
        """Path of file ``name`` for messages (just ``name`` for an in-memory directory)."""
        return Path(name) if self.path is None else self.path / name

    def line_of(self, name: str, key: str) -> int | None:
        """1-based line of ``key`` in file ``name``: as read, else its position once written."""
        lines = self.lines.get(name)
        if lines is None:
            table = self.table(name)
            if table is None:
                return None
            lines = {k: i for i, k in enumerate(sort_keys(table), start=1)}
            self.lines[name] = lines
        return lines.get(key)

    def recording_of(self, utt: str) -> tuple[str, float, float | None]:
        """``(recording id, start_s, end_s or None for the whole recording)`` of ``utt``."""
        if self.segments is not None:
            rec, start, end = self.segments[utt]
            return rec, start, end
        return utt, 0.0, None

    def select(self, utts) -> DataDir:
        """A new in-memory directory with only ``utts`` (unknown ids ignored); wav.scp pruned."""
        keep = set(utts) & set(self.utt2spk)
        kwargs = {}
        for name in PER_UTT_FILES:
            table = self.table(name)
            kwargs[name] = None if table is None else {k: v for k, v in table.items() if k in keep}
        if self.segments is not None:
            recs = {kwargs["segments"][u][0] for u in kwargs["segments"]}
        else:
            recs = keep
        wav_scp = {k: v for k, v in self.wav_scp.items() if k in recs}
        return DataDir(path=None, wav_scp=wav_scp, **kwargs)

    # -- reading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, *, validate: bool = True, check_sorted: bool = True) -> DataDir:
        """Read and parse every data file present in ``path``.

        Each line is checked (sorted unique keys, values of the right kind). With
        ``validate`` the cross-file rules of :mod:`voxrecipes.data.validate` are
        checked too; ``validate=False, check_sorted=False`` reads a directory that
        :func:`voxrecipes.data.manipulate.fix_data_dir` is about to repair.
        """
        path = Path(path)
        if not path.is_dir():
            raise DataError(path, None, "data directory not found")
        tables: dict[str, dict[str, str]] = {}
        for name in DATA_FILES:
            file = path / name
            if name == "spk2utt" and not check_sorted:
                continue  # a directory under repair gets spk2utt regenerated from utt2spk
            if name in ("wav.scp", "utt2spk") or file.is_file():
                tables[name] = read_table(file, check_sorted=check_sorted,
                                          allow_empty_value=name in ("text", "utt2labels"))
        dd = _from_tables(path, tables)
        if validate:
            from voxrecipes.data.validate import check_data_dir

            if "spk2utt" not in tables:
                raise DataError(path / "spk2utt", None, "file not found; utils/fix_data_dir.sh creates it from utt2spk")
            check_data_dir(dd)
        return dd

    # -- writing ----------------------------------------------------------------------------
    def to_tables(self) -> dict[str, dict[str, str]]:
        """Every present file as ``key -> value text``, keys in C-locale order (spk2utt derived)."""
        tables: dict[str, dict[str, str]] = {}
        spk2utt = derive_spk2utt(self.utt2spk)
        for name in DATA_FILES:
            table = spk2utt if name == "spk2utt" else self.table(name)
            if table is None:
                continue
            out: dict[str, str] = {}
            for lineno, key in enumerate(sort_keys(table), start=1):
                if not isinstance(key, str) or not key or any(c.isspace() for c in key):
                    raise DataError(self.file_path(name), lineno, f"invalid key {key!r} (empty or with whitespace)")
                value = _FORMATTERS[name](table[key])
                if "\n" in value or "\r" in value:
                    raise DataError(self.file_path(name), lineno, f"value of '{key}' contains a newline")
                out[key] = value
            tables[name] = out
        return tables

    def check(self) -> None:
        """Raise :class:`DataError` unless this directory, once written, passes validation.

        Errors name the line each entry will have in the written file.
        """
        from voxrecipes.data.validate import check_data_dir

        check_data_dir(_from_tables(self.path, self.to_tables()))

    def write(self, path: str | os.PathLike | None = None, *, replace: bool = False) -> Path:
        """Write every present table to ``path`` (default: ``self.path``), after validating them.

        spk2utt is derived from utt2spk. A new directory (or any, with ``replace``) is
        built as ``<path>.tmp`` and renamed over ``path`` as a whole; into an existing
        one each file is renamed into place and data files this directory does not
        have are removed (so that no stale ``segments`` or label file disagrees),
        while other files (``feats.scp``, ``conf/`` ...) stay.
        """
        if path is None and self.path is None:
            raise ValueError("DataDir.write needs a path")
        path = Path(path if path is not None else self.path)
        tables = _checked_tables(self, path)
        if replace or not path.exists():
            with atomic_dir(path) as tmp:
                _write_tables(tmp, tables)
            return path
        stage = path.with_name(path.name + ".tmp")
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(parents=True)
        try:
            _write_tables(stage, tables)
            for name in DATA_FILES:
                if name in tables:
                    os.replace(stage / name, path / name)
                elif (path / name).exists():
                    (path / name).unlink()
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return path


def _checked_tables(dd: DataDir, path: Path) -> dict[str, dict[str, str]]:
    """Serialise ``dd`` and validate the text as it will be read back from ``path``."""
    from voxrecipes.data.validate import check_data_dir

    named = DataDir(path=path, wav_scp=dd.wav_scp, utt2spk=dd.utt2spk, segments=dd.segments, text=dd.text,
                    utt2lang=dd.utt2lang, utt2dur=dd.utt2dur, utt2labels=dd.utt2labels,
                    utt2category=dd.utt2category, utt2attrs=dd.utt2attrs)
    tables = named.to_tables()
    check_data_dir(_from_tables(path, tables))
    return tables


def _write_tables(directory: Path, tables: dict[str, dict[str, str]]) -> None:
    for name, table in tables.items():
        write_table(directory / name, table)


def _from_tables(path: Path | None, tables: dict[str, dict[str, str]]) -> DataDir:
    """Parse raw tables (insertion order == line order) into a :class:`DataDir`."""
    parsed: dict[str, dict | None] = {}
    line_maps: dict[str, dict[str, int]] = {}
    for name in DATA_FILES:
        raw = tables.get(name)
        if raw is None:
            parsed[name] = None
            continue
        file = Path(name) if path is None else Path(path) / name
        parser = _PARSERS[name]
        line_maps[name] = {key: lineno for lineno, key in enumerate(raw, start=1)}
        parsed[name] = {key: parser(value, file, lineno) for lineno, (key, value) in enumerate(raw.items(), start=1)}
    dd = DataDir(path=path, wav_scp=parsed["wav.scp"] or {}, utt2spk=parsed["utt2spk"] or {},
                 spk2utt=parsed["spk2utt"], segments=parsed["segments"], text=parsed["text"],
                 utt2lang=parsed["utt2lang"], utt2dur=parsed["utt2dur"], utt2labels=parsed["utt2labels"],
                 utt2category=parsed["utt2category"], utt2attrs=parsed["utt2attrs"])
    dd.lines = line_maps
    return dd


def write_data_dir(path: str | os.PathLike, *, wav_scp: dict[str, str], utt2spk: dict[str, str],
                   text: dict[str, str] | None = None, utt2lang: dict[str, str] | None = None,
                   segments: dict[str, tuple[str, float, float]] | None = None,
                   utt2labels: dict[str, list[str]] | None = None, utt2category: dict[str, str] | None = None,
                   utt2attrs: dict[str, tuple[float, float, float]] | None = None,
                   utt2dur: dict[str, float] | None = None) -> None:
    """Write a complete data directory (spk2utt derived) that replaces ``path`` as a whole.

    The tables are validated before anything is written (errors name ``path/<file>``
    and the line the entry would have); the files are written into ``<path>.tmp``
    and renamed, so an invalid or half-written directory never appears.
    """
    path = Path(path)
    dd = DataDir(path=path, wav_scp=dict(wav_scp), utt2spk=dict(utt2spk), segments=segments, text=text,
                 utt2lang=utt2lang, utt2dur=utt2dur, utt2labels=utt2labels, utt2category=utt2category,
                 utt2attrs=utt2attrs)
    tables = _checked_tables(dd, path)
    with atomic_dir(path) as tmp:
        _write_tables(tmp, tables)
        from voxrecipes.data.validate import validate_data_dir

        validate_data_dir(tmp)
