"""Atomic writes, so that nothing downstream ever sees a half-written file.

Files are written under a temporary name in the same directory and renamed into
place only when the writer finished without an exception; a directory is built
under ``<name>.tmp`` and renamed the same way.

``tempfile.mkstemp`` creates files with mode 0600 whatever the umask; the temporary
file is given the mode ``open()`` would have given it (``0666 & ~umask``), so that on a
shared cluster colleagues can read dumps, data dirs and metrics as with any other file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

#: Mode of a new file before the umask is applied (what ``open()`` uses).
NEW_FILE_MODE = 0o666


def current_umask() -> int:
    """The process umask, read from ``/proc/self/status`` where possible (no change, thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the only portable way to read it is to set it and set it back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open ``path`` for writing through a temporary file renamed on success.

    On an exception the temporary file is removed and ``path`` is left as it was.
    The file gets the mode a plain ``open()`` would give it (the umask applies).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, NEW_FILE_MODE & ~current_umask())
        finally:
            os.close(fd)
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": "\n"}
        with open(tmp, mode, **kwargs) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory that replaces ``path`` on success.

    The temporary directory is ``<path>.tmp``; an existing ``path`` is replaced
    only after the block finished without an exception, and on failure the
    temporary directory is removed so that no partial output looks complete.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        old = path.with_name(path.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)
