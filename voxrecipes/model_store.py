"""One on-disk format for the numpy models (LDA/LR backend, PLDA backend, LR fusion): arrays in .npz, rest in JSON.

A model directory holds two files named by the model's :class:`ModelFormat`: an ``.npz``
of numeric arrays, read back with ``allow_pickle=False`` (opening a model file never runs
code, the project's rule against pickle), and a JSON object with everything else: the
class names, the training options and counts, and two keys this module owns,
``model_kind`` (which model wrote the files) and ``format_version`` (their layout). The
npz is written first and the JSON last, each atomically, so a model directory with its
JSON is complete.

:func:`load_model` refuses, with a :class:`~voxrecipes.errors.DataError` naming the file
and saying what to do: a missing file, a JSON that is not an object, another kind of
model, a format version this code does not read, an npz without an array the model needs
or with a non-numeric one. Models written before this module existed have no
``model_kind``/``format_version``; a format whose layout did not change since then says
which version such files are (``legacy_version``), and they load as that version.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.jsonio import read_json_object

#: The JSON keys the store writes and checks (they are not part of a model's metadata).
KIND_KEY = "model_kind"
VERSION_KEY = "format_version"


@dataclass(frozen=True)
class ModelFormat:
    """What one kind of model is stored as, and what its files must say."""

    kind: str  # the JSON's model_kind
    version: int  # the format_version written and the only one read
    arrays_file: str  # the .npz file name inside the model directory
    meta_file: str  # the JSON file name inside the model directory
    title: str  # the model's name in messages ("PLDA", "LDA/LR backend" ...)
    writer: str  # the stage that writes it, named in "run ... first"
    legacy_version: int | None = None  # the version of files without model_kind/format_version (None: refused)


def save_model(model_dir: str | os.PathLike, fmt: ModelFormat, arrays: Mapping[str, np.ndarray],
               meta: Mapping[str, Any]) -> None:
    """Write ``arrays`` to ``<model_dir>/<fmt.arrays_file>``, then ``meta`` with kind and version to the JSON.

    ``model_dir`` is created if needed. An array of a non-numeric type (objects, strings)
    is a ``ValueError``: the npz is read without pickle, and names belong in the JSON.
    """
    model_dir = Path(model_dir)
    for name, value in arrays.items():
        kind = np.asarray(value).dtype.kind
        if kind not in "biuf":
            raise ValueError(f"array '{name}' has dtype {np.asarray(value).dtype}; the model store keeps numbers "
                             "only (put names and options in the metadata)")
    model_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    with atomic_write(model_dir / fmt.arrays_file, mode="wb") as handle:
        handle.write(buffer.getvalue())
    record = {KIND_KEY: fmt.kind, VERSION_KEY: fmt.version}
    record.update((k, v) for k, v in meta.items() if k not in record)
    text = json.dumps(record, indent=2)
    with atomic_write(model_dir / fmt.meta_file) as handle:
        handle.write(text + "\n")


def load_model(model_dir: str | os.PathLike, fmt: ModelFormat, required: Sequence[str],
               optional: Sequence[str] = ()) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, meta)`` of the model in ``model_dir``: the ``required`` arrays, those of ``optional`` present.

    ``meta`` is the JSON object without ``model_kind`` and ``format_version``. Every problem
    is a DataError naming the file (see the module docstring).
    """
    model_dir = Path(model_dir)
    meta_path, npz_path = model_dir / fmt.meta_file, model_dir / fmt.arrays_file
    meta = read_meta(meta_path, fmt)
    if not npz_path.is_file():
        raise DataError(npz_path, None, f"{fmt.title} model arrays not found next to {meta_path.name}; "
                                        f"run {fmt.writer} again")
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            missing = [name for name in required if name not in data.files]
            if missing:
                raise DataError(npz_path, None, f"not a {fmt.title} model: missing arrays {', '.join(missing)}")
            arrays = {name: np.array(data[name]) for name in [*required, *optional] if name in data.files}
    except (OSError, ValueError, EOFError) as err:  # not a zip, truncated, or an array that needs pickle
        raise DataError(npz_path, None, f"cannot read the {fmt.title} model arrays: {err}") from None
    bad = [name for name, value in arrays.items() if value.dtype.kind not in "biuf"]
    if bad:
        raise DataError(npz_path, None, f"arrays {', '.join(bad)} are not numeric; not a {fmt.title} model")
    return arrays, meta


def read_meta(meta_path: Path, fmt: ModelFormat) -> dict[str, Any]:
    """The JSON metadata of a ``fmt`` model, checked for kind and version, without those two keys."""
    record = read_json_object(meta_path, f"{fmt.title} model not found; run {fmt.writer} first (did it finish?)",
                              f"expected a JSON object; not the metadata of a {fmt.title} model")
    if KIND_KEY not in record and VERSION_KEY not in record:
        if fmt.legacy_version is None:
            raise DataError(meta_path, None, f"no {KIND_KEY}/{VERSION_KEY}: a model written before format "
                                             f"{fmt.version} of the {fmt.title} files, which is not read any more; "
                                             f"retrain it with {fmt.writer}")
        record = {KIND_KEY: fmt.kind, VERSION_KEY: fmt.legacy_version, **record}
    kind, version = record.pop(KIND_KEY, None), record.pop(VERSION_KEY, None)
    if kind != fmt.kind:
        raise DataError(meta_path, None, f"{KIND_KEY} is {kind!r}, not {fmt.kind!r}: this is not a {fmt.title} "
                                         f"model (written by {fmt.writer}); check the model directory")
    if version != fmt.version:
        raise DataError(meta_path, None, f"{fmt.title} model of {VERSION_KEY} {version!r}; this version of "
                                         f"voxrecipes reads {fmt.version} only: retrain it with {fmt.writer}")
    return record
