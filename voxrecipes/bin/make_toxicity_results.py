"""Write a toxicity RESULTS.md from metrics.json files (evaluate_toxicity): environment header, the paper's
Table 2/3 layout (label columns, AP [95% CI] per toxic class, mAP [95% CI], relative change of mAP against
the baseline), a per-language table, test-set counts, an optional Figure 2 style plot, and one line per
system saying whether its mAP CI lies entirely above the baseline mAP. The text also goes to stdout.

A system is '<fields separated by ;>=<dir holding metrics.json, or the metrics.json path>', with as
many fields as --label_columns has columns; --baseline names the baseline's fields.

Example (Table 2, loss x alpha)::

    python -m voxrecipes.bin.make_toxicity_results --title "voice toxicity, English" \\
        --label_columns "Loss;alpha" \\
        --system "Baseline;1=exp/baseline/test" --system "MSE;0.1=exp/mse_a0.1/test" \\
        --system "Contrastive;0.1=exp/contrastive_a0.1/test/metrics.json" \\
        --baseline "Baseline;1" --out RESULTS.md --plot figure2.png

Table 3 (layer) is the same command with --label_columns "Layer;Loss" and systems like "12;Contrastive=...".
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.errors import ConfigError


def parse_system(spec: str) -> tuple[str, str]:
    """Split ``FIELDS=PATH`` at the first ``=``."""
    fields, sep, path = spec.partition("=")
    if not sep or not fields.strip() or not path:
        raise ConfigError(f"--system must be '<field;field...>=<dir or metrics.json>', got '{spec}'")
    return fields, path


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make_toxicity_results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--title", required=True, help="first heading of RESULTS.md")
    parser.add_argument("--label_columns", required=True,
                        help="names of the label columns, separated by ';' (e.g. 'Loss;alpha' or 'Layer;Loss')")
    parser.add_argument("--system", action="append", default=[], metavar="FIELDS=PATH",
                        help="label fields separated by ';', '=', and the metrics.json (or its directory); "
                             "repeat the option, rows keep this order")
    parser.add_argument("--baseline", required=True, help="label fields of the baseline system (e.g. 'Baseline;1')")
    parser.add_argument("--out", required=True, help="output Markdown file")
    parser.add_argument("--plot", default=None, help="also write the per-language plot (PNG) and link it")
    parser.add_argument("--notes", default=None,
                        help="Markdown file of hand-written notes appended at the end (the recipe's "
                             "local/RESULTS_notes.md), so that a rerun writes them too")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.metrics.toxicity_results import write_toxicity_results

    if not args.system:
        raise ConfigError("give at least one --system FIELDS=PATH")
    systems = [parse_system(spec) for spec in args.system]
    print(write_toxicity_results(args.title, systems, args.label_columns, args.baseline, args.out,
                                 plot_png=args.plot, notes=args.notes), end="")


if __name__ == "__main__":
    run(main, get_parser())
