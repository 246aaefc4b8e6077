"""Print the systems registered under an experiment directory, one line per system and set.

Tab-separated columns: id, kind (category or attributes), set, output file (posteriors or
attribute predictions), evaluation directory. Systems come in RESULTS.md row order
(voxrecipes.registry); --ids picks systems (in the order given, each must exist), --kind one
kind; --sets the sets (a set a system has no output for is left out, unless --ids names it:
then it is an error).

Example::

    python -m voxrecipes.bin.list_systems --exp_dir exp --sets dev_bal test1
    python -m voxrecipes.bin.list_systems --exp_dir exp --ids fusion_logreg --sets test3 --field output
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run

FIELDS = ("id", "kind", "set", "output", "eval_dir")


def get_parser() -> argparse.ArgumentParser:
    from voxrecipes.registry import KINDS

    parser = argparse.ArgumentParser(prog="list_systems", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="the recipe's experiment directory")
    parser.add_argument("--sets", nargs="+", required=True, help="sets to list")
    parser.add_argument("--ids", nargs="*", default=None, help="only these systems, in this order")
    parser.add_argument("--kind", choices=KINDS, default=None, help="only systems of this kind")
    parser.add_argument("--field", choices=FIELDS, default=None, help="print only this column")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.registry import find, scan

    systems = scan(args.exp_dir, args.kind)
    strict = args.ids is not None
    if strict:
        systems = find(systems, args.ids, args.exp_dir)
    for system in systems:
        for set_name in args.sets:
            if not strict and set_name not in system.outputs:
                continue
            row = {"id": system.id, "kind": system.kind, "set": set_name, "output": str(system.output(set_name)),
                   "eval_dir": str(system.eval_dir(set_name))}
            print(row[args.field] if args.field else "\t".join(row[f] for f in FIELDS))


if __name__ == "__main__":
    run(main, get_parser())
