"""Shared plumbing of the ``python -m voxrecipes.bin.<name>`` entry points.

Each entry point builds an :class:`argparse.ArgumentParser`, then calls
:func:`run` with its ``main``. :func:`run` sets up logging in ESPnet's format,
which names the module and line of every message so that a log line leads
straight to the code, and turns a :class:`~voxrecipes.errors.VoxError` into one
``ERROR:`` line and exit status 1 instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from typing import Callable, Sequence

from voxrecipes.errors import VoxError

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"


def setup_logging(verbose: int = 1) -> None:
    """Log to stderr in ESPnet's format; ``verbose`` 0 warnings, 1 info, 2 debug."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format=LOG_FORMAT, force=True)


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """Add the ``--verbose`` option every entry point has."""
    parser.add_argument("--verbose", type=int, default=1, help="0: warnings, 1: info, 2: debug")


def run(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser,
        argv: Sequence[str] | None = None) -> None:
    """Parse ``argv``, log the command line, call ``main`` and map errors to exit 1."""
    if not any(a.dest == "verbose" for a in parser._actions):
        add_verbose(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    logging.getLogger(__name__).info("%s", " ".join(shlex.quote(a) for a in
                                                    [parser.prog] + list(sys.argv[1:] if argv is None else argv)))
    try:
        main(args)
    except VoxError as err:
        logging.getLogger(__name__).error("%s", err)
        print(f"ERROR: {err}", file=sys.stderr)
        sys.exit(1)
