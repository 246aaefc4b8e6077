"""Exceptions that carry the file, the line and the reason of a bad input.

Every reader in voxrecipes raises :class:`DataError` so that a stage can print one
line a researcher can act on (``data/train/utt2spk:17: keys not sorted ...``) and
exit non-zero without a traceback.
"""

from __future__ import annotations

import os


class VoxError(Exception):
    """Base class of the errors a stage reports to the user without a traceback."""


class DataError(VoxError):
    """A problem with an input file, located by path and (1-based) line number."""

    def __init__(self, path: str | os.PathLike | None, line: int | None, reason: str):
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.reason = reason
        super().__init__(self.location() + reason)

    def location(self) -> str:
        """``path:line: `` or ``path: `` or the empty string."""
        if self.path is None:
            return ""
        if self.line is None:
            return f"{self.path}: "
        return f"{self.path}:{self.line}: "


class ConfigError(VoxError):
    """A bad option or configuration value."""
