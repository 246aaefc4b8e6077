"""Atomic writes honour the umask, as open() and mkdir() do: colleagues can read what a stage wrote."""

from __future__ import annotations

import os

import pytest

from voxrecipes.data.table import write_table
from voxrecipes.fileio import atomic_dir, atomic_write, current_umask


@pytest.fixture
def umask():
    """Set a umask for one test and restore the previous one."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750),
                                                     (0o077, 0o600, 0o700)])
def test_atomic_outputs_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    assert current_umask() == mask
    with atomic_write(tmp_path / "a.txt") as handle:
        handle.write("x\n")
    with atomic_write(tmp_path / "b.bin", "wb") as handle:
        handle.write(b"\0")
    write_table(tmp_path / "t", {"k": "v"})
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "f").write_text("y\n")
    plain = tmp_path / "plain"
    plain.write_text("z\n")  # what open() gives, for reference
    assert plain.stat().st_mode & 0o777 == file_mode
    for name in ("a.txt", "b.bin", "t"):
        assert (tmp_path / name).stat().st_mode & 0o777 == file_mode, name
    assert (tmp_path / "d").stat().st_mode & 0o777 == dir_mode
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin", "d", "plain", "t"]  # no temporary left
