"""kaldiio ark/scp pairs written atomically and read with located errors.

:func:`write_ark_scp` writes ``<prefix>.ark`` and ``<prefix>.scp`` under temporary
names and renames them only when every matrix was written, so that an interrupted
job never leaves an scp that points into a truncated ark. The scp written by kaldiio
names the temporary ark, so its paths are rewritten to the final name before the
rename; the scp is renamed last because its presence marks the job as done.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import kaldiio
import numpy as np

from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_write


def write_ark_scp(prefix: str | os.PathLike, items: Iterable[tuple[str, np.ndarray]]) -> int:
    """Write ``(key, array)`` pairs to ``<prefix>.ark``/``<prefix>.scp``; return the count.

    The scp names the ark by ``<prefix>.ark`` exactly as given (relative prefixes stay
    relative to the working directory, as in Kaldi recipes).
    """
    prefix = os.fspath(prefix)
    ark, scp = prefix + ".ark", prefix + ".scp"
    Path(ark).parent.mkdir(parents=True, exist_ok=True)
    tmp_ark, tmp_scp = prefix + ".ark.tmp", prefix + ".scp.tmp"
    count = 0
    try:
        with kaldiio.WriteHelper(f"ark,scp:{tmp_ark},{tmp_scp}") as writer:
            for key, array in items:
                writer(key, np.ascontiguousarray(array))
                count += 1
        with open(tmp_scp, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        with atomic_write(scp) as out:
            for line in lines:
                key, location = line.split(" ", 1)
                path, offset = location.rsplit(":", 1)
                if path != tmp_ark:
                    raise RuntimeError(f"unexpected ark path {path!r} in {tmp_scp}")
                out.write(f"{key} {ark}:{offset}\n")
            os.replace(tmp_ark, ark)
    finally:
        for tmp in (tmp_ark, tmp_scp):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return count


#: an scp location that names a byte offset (``file.ark:1234``, optionally ``[slices]``): it can be read
#: from an already open ark, because kaldiio seeks to the offset first
_AT_OFFSET = re.compile(r":\d+(\[[^\]]*\])?$")


def iter_scp(path: str | os.PathLike) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(key, array)`` from an scp in file order, with file:line errors.

    Checks the line format, unique keys, that the referenced ark can be read and
    that every value is finite. Each ark is opened once and kept open while the scp is
    read (kaldiio's ``fd_dict``), instead of once per entry: an scp of 100k embeddings
    in one ark costs one ``open``, not 100k. Locations without an offset and pipes are
    opened per entry, as kaldiio does.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "scp file not found")
    seen: set[str] = set()
    open_arks: dict = {}  # ark path -> open file, shared by the entries that point into it
    try:
        with open(path, encoding="utf-8") as handle:
            for lineno, raw in enumerate(handle, start=1):
                parts = raw.split(maxsplit=1)
                if len(parts) != 2:
                    raise DataError(path, lineno, "expected '<key> <ark>:<offset>'")
                key, location = parts[0], parts[1].strip()
                if key in seen:
                    raise DataError(path, lineno, f"duplicate key '{key}'")
                seen.add(key)
                try:
                    cache = open_arks if _AT_OFFSET.search(location) else None
                    array = np.asarray(kaldiio.load_mat(location, fd_dict=cache))
                except Exception as err:  # kaldiio raises many kinds for a bad ark
                    raise DataError(path, lineno, f"cannot read '{location}' for '{key}': {err}") from None
                if not np.all(np.isfinite(array)):
                    raise DataError(path, lineno, f"NaN or infinite value in '{key}'")
                yield key, array
    finally:
        for fd in open_arks.values():
            fd.close()


def read_scp(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every entry of an scp into an insertion-ordered dict (see :func:`iter_scp`)."""
    return dict(iter_scp(path))


def read_embeddings(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read an scp of equal-length vectors into ``(keys, matrix)`` (float64)."""
    keys: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    for lineno, (key, array) in enumerate(iter_scp(path), start=1):
        vector = np.asarray(array, dtype=np.float64).reshape(-1)
        if array.ndim != 1 and not (array.ndim == 2 and 1 in array.shape):
            raise DataError(path, lineno, f"'{key}' is a {array.shape} matrix, expected a vector")
        if dim is None:
            dim = vector.size
        elif vector.size != dim:
            raise DataError(path, lineno, f"'{key}' has dimension {vector.size}, earlier entries {dim}")
        keys.append(key)
        rows.append(vector)
    if not keys:
        raise DataError(path, None, "no entries")
    return keys, np.stack(rows)
