"""Checks of the files ESPnet training reads and writes, with errors that name the file.

ESPnet reads ``--{train,valid}_data_path_and_name_and_type`` lists lazily and fails deep
inside a DataLoader worker when an utterance lacks an entry. These checks run first and
fail with the file that lacks the utterance, the list it should match, and the first
missing id.
"""

from __future__ import annotations

from collections.abc import Sequence

from voxrecipes.errors import ConfigError, DataError


def table_keys(path: str) -> list[str]:
    """The first column of a Kaldi-style table (``utt value...``), in file order."""
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.split(maxsplit=1)[0] for line in handle if line.strip()]
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None


def data_paths(entries: Sequence[Sequence[str]], required: Sequence[str], phase: str) -> dict[str, str]:
    """``name -> path`` of ESPnet's ``(path, name, type)`` entries; a required name missing is a ConfigError."""
    paths = {name: path for path, name, _ in entries}
    missing = [name for name in required if name not in paths]
    if missing:
        raise ConfigError(f"--{phase}_data_path_and_name_and_type needs "
                          f"{' and '.join(repr(n) for n in required)} entries (missing: {', '.join(missing)})")
    return paths


def check_covers(paths: dict[str, str], name: str, what: str | None = None, reference: str = "speech") -> None:
    """Every utterance of ``paths[reference]`` must be in ``paths[name]``; else a DataError naming both files."""
    have = set(table_keys(paths[name]))
    missing = [u for u in table_keys(paths[reference]) if u not in have]
    if missing:
        raise DataError(paths[name], None, f"{len(missing)} utterances of {paths[reference]} have no "
                                           f"{what or name} here (first: '{missing[0]}')")
