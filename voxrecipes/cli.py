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
from collections.abc import Callable, Sequence

from voxrecipes.errors import VoxError

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"


def setup_logging(verbose: int = 1) -> None:
    """Log to stderr in ESPnet's format; ``verbose`` 0 warnings, 1 info, 2 debug."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format=LOG_FORMAT, force=True)


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """Add the ``--verbose`` option every entry point has."""
    parser.add_argument("--verbose", type=int, default=1, help="0: warnings, 1: info, 2: debug")


def add_config(parser: argparse.ArgumentParser) -> None:
    """Add ``--config FILE.yaml``: a YAML mapping of option names to default values."""
    parser.add_argument("--config", default=None,
                        help="YAML file whose keys are option names (as in --help, with underscores); "
                             "its values replace the defaults, options on the command line win")


def apply_config(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> None:
    """Read ``--config`` (if given) and install its values as parser defaults."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--config", default=None)
    known, _ = probe.parse_known_args(argv)
    if known.config is None:
        return
    import yaml

    try:
        with open(known.config, encoding="utf-8") as handle:
            values = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        parser.error(f"--config {known.config}: file not found")
    except yaml.YAMLError as err:
        parser.error(f"--config {known.config}: not valid YAML: {err}")
    if not isinstance(values, dict):
        parser.error(f"--config {known.config}: expected a mapping of option names to values")
    dests = {a.dest for a in parser._actions}
    unknown = sorted(str(k).replace("-", "_") for k in values if str(k).replace("-", "_") not in dests)
    if unknown:
        parser.error(f"--config {known.config}: unknown option(s) {', '.join(unknown)}")
    parser.set_defaults(**{str(k).replace("-", "_"): v for k, v in values.items()})


def run(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser,
        argv: Sequence[str] | None = None) -> None:
    """Parse ``argv`` (with ``--config`` defaults), log the command line, call ``main``.

    A :class:`VoxError` raised by ``main`` becomes one ``ERROR:`` line and exit 1.
    """
    if not any(a.dest == "verbose" for a in parser._actions):
        add_verbose(parser)
    if not any(a.dest == "config" for a in parser._actions):
        add_config(parser)
    apply_config(parser, argv)
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
