"""Keep (or drop) the lines of a table whose key is in an id list, like Kaldi's filter_scp.pl.

``python -m voxrecipes.bin.filter_scp [--exclude] [--field N] ID_LIST TABLE > OUT``

The id list holds one id per line (the first field is used). Output lines keep
the order of TABLE.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voxrecipes.cli import run
from voxrecipes.data.table import iter_lines
from voxrecipes.errors import DataError


def filter_lines(id_list: Path, table: Path, *, exclude: bool = False, field: int = 1) -> list[str]:
    """Return TABLE's lines whose ``field``-th token (1-based) is (or, with exclude, is not) listed.

    Both files are read as UTF-8 lines (a leading BOM skipped, a ``\\r\\n`` ending trimmed);
    bytes that are not UTF-8 are a :class:`DataError` naming the file and line.
    """
    if not id_list.is_file():
        raise DataError(id_list, None, "id list not found")
    if not table.is_file():
        raise DataError(table, None, "table not found")
    ids = {line.split()[0] for _, line in iter_lines(id_list) if line.strip()}
    kept = []
    for lineno, line in iter_lines(table):
        tokens = line.split()
        if len(tokens) < field:
            raise DataError(table, lineno, f"fewer than {field} fields")
        if (tokens[field - 1] in ids) != exclude:
            kept.append(line)
    return kept


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="filter_scp", description=__doc__.splitlines()[0])
    parser.add_argument("--exclude", action="store_true", help="keep the lines whose key is NOT listed")
    parser.add_argument("--field", type=int, default=1, help="1-based field of TABLE that holds the key")
    parser.add_argument("id_list", type=Path, help="file with one id per line")
    parser.add_argument("table", type=Path, help="table to filter (wav.scp, utt2spk, feats.scp, ...)")
    return parser


def main(args: argparse.Namespace) -> None:
    lines = filter_lines(args.id_list, args.table, exclude=args.exclude, field=args.field)
    sys.stdout.write("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    run(main, get_parser())
