"""Kaldi data directories in memory: load, build, check and write them.

A data directory is a folder of small ``key value`` tables (see CONTRIBUTING.md):
``wav.scp``, ``utt2spk``/``spk2utt``, optional ``segments``, ``text``, ``utt2lang``,
``utt2dur`` and the label files ``utt2labels``, ``utt2category``, ``utt2attrs``.
:class:`DataDir` holds them as typed dicts. Every file goes through one parser per
kind of value, both when it is read from disk and before it is written, so that a
corpus preparer can never leave a directory behind that a later stage rejects.

The value of each line is parsed and formatted by :mod:`voxrecipes.data.values`. The
rules that span files (utt2spk against spk2utt, the key sets of the per-utterance
files, segments against wav.scp) are checked here too, by :func:`check_data_dir`,
whenever a directory is loaded or written: they are what makes a set of tables one
directory. What a stage may ask on top (files it needs, label names from its class
list, decodable audio) is :mod:`voxrecipes.data.validate`'s.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from voxrecipes.data.table import read_table, sort_keys, write_table
from voxrecipes.data.values import format_value, parse_value
from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_dir

#: Files with one line per utterance (their key sets must agree with utt2spk).
PER_UTT_FILES = ("utt2spk", "text", "utt2lang", "utt2dur", "utt2labels", "utt2category", "utt2attrs", "segments")
#: Per-utterance files that may be absent (attribute name == file name).
OPTIONAL_PER_UTT_FILES = PER_UTT_FILES[1:]
#: Every file this module reads and writes; other files in a directory are left alone.
DATA_FILES = ("wav.scp", "spk2utt") + PER_UTT_FILES
_FIX_HINT = "run utils/fix_data_dir.sh to keep only the utterances every file has"


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
        ``validate`` the cross-file rules (:func:`check_data_dir`) are checked too;
        ``validate=False, check_sorted=False`` reads a directory that
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
                value = format_value(name, table[key])
                if "\n" in value or "\r" in value:
                    raise DataError(self.file_path(name), lineno, f"value of '{key}' contains a newline")
                out[key] = value
            tables[name] = out
        return tables

    def check(self) -> None:
        """Raise :class:`DataError` unless this directory, once written, passes validation.

        Errors name the line each entry will have in the written file.
        """
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


# ----------------------------------------------------------------------------------------------
# Cross-file rules: every error names the file and line of the entry that breaks it.

def check_data_dir(dd: DataDir) -> None:
    """Raise :class:`DataError` for the first cross-file rule that ``dd`` breaks (see the module docstring)."""
    utt2spk_path = dd.file_path("utt2spk")
    if not dd.utt2spk:
        raise DataError(utt2spk_path, None, "no utterances")
    _check_spk2utt(dd)
    utts = set(dd.utt2spk)
    for name in OPTIONAL_PER_UTT_FILES:
        table = dd.table(name)
        if table is None:
            continue
        _check_same_keys(dd, name, table, utts)
    _check_recordings(dd)


def _check_spk2utt(dd: DataDir) -> None:
    path = dd.file_path("spk2utt")
    expected = derive_spk2utt(dd.utt2spk)
    for spk, utts in dd.spk2utt.items():
        line = dd.line_of("spk2utt", spk)
        if spk not in expected:
            raise DataError(path, line, f"speaker '{spk}' has no utterance in utt2spk; utt2spk and spk2utt disagree, "
                                        "run utils/fix_data_dir.sh")
        want = set(expected[spk])
        for utt in utts:
            if utt not in want:
                said = dd.utt2spk.get(utt)
                where = f"utt2spk gives speaker '{said}'" if said is not None else "it is not in utt2spk"
                raise DataError(path, line, f"utterance '{utt}' listed for speaker '{spk}' but {where}")
        have = set(utts)
        for utt in expected[spk]:
            if utt not in have:
                raise DataError(path, line, f"utterance '{utt}' of speaker '{spk}' in utt2spk "
                                            f"(line {dd.line_of('utt2spk', utt)}) is missing from this line")
    for spk in expected:
        if spk not in dd.spk2utt:
            utt = expected[spk][0]
            raise DataError(path, None, f"speaker '{spk}' of utt2spk (line {dd.line_of('utt2spk', utt)}) "
                                        "has no line here; run utils/fix_data_dir.sh")


def _check_same_keys(dd: DataDir, name: str, table: dict, utts: set[str]) -> None:
    path = dd.file_path(name)
    for key in table:
        if key not in utts:
            raise DataError(path, dd.line_of(name, key), f"utterance '{key}' is not in utt2spk; {_FIX_HINT}")
    if len(table) != len(utts):
        for utt in dd.utts:
            if utt not in table:
                raise DataError(path, None, f"utterance '{utt}' of utt2spk (line {dd.line_of('utt2spk', utt)}) "
                                            f"is missing here; {_FIX_HINT}")


def _check_recordings(dd: DataDir) -> None:
    wav_path = dd.file_path("wav.scp")
    if dd.segments is not None:
        for utt, (rec, _, _) in dd.segments.items():
            if rec not in dd.wav_scp:
                raise DataError(dd.file_path("segments"), dd.line_of("segments", utt),
                                f"recording '{rec}' of utterance '{utt}' is not in wav.scp")
        return
    utts = set(dd.utt2spk)
    for rec in dd.wav_scp:
        if rec not in utts:
            raise DataError(wav_path, dd.line_of("wav.scp", rec),
                            f"recording '{rec}' has no utterance in utt2spk (without a segments file recording ids "
                            f"are utterance ids); {_FIX_HINT}")
    if len(dd.wav_scp) != len(utts):
        for utt in dd.utts:
            if utt not in dd.wav_scp:
                raise DataError(wav_path, None, f"utterance '{utt}' of utt2spk (line {dd.line_of('utt2spk', utt)}) "
                                                f"has no wav.scp entry and there is no segments file; {_FIX_HINT}")


def _checked_tables(dd: DataDir, path: Path) -> dict[str, dict[str, str]]:
    """Serialise ``dd`` and validate the text as it will be read back from ``path``."""
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
        line_maps[name] = {key: lineno for lineno, key in enumerate(raw, start=1)}
        parsed[name] = {key: parse_value(name, value, file, lineno)
                        for lineno, (key, value) in enumerate(raw.items(), start=1)}
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
        DataDir.load(tmp)  # read back what was written, with every rule, before it replaces ``path``
