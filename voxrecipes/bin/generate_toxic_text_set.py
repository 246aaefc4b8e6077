"""Write the text-only labelled toxicity set (five languages) that trains the pipeline's text labeller.

Writes ``<out_dir>/<split>/{text,utt2labels,utt2lang}`` for each --splits NAME=COUNT
(voxrecipes.corpora.toxic_text_set: sentences written apart from the ones the generated
sessions speak).

Example::

    python -m voxrecipes.bin.generate_toxic_text_set --out_dir data/text_labeller --splits train=1500 dev=400
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="generate_toxic_text_set", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out_dir", required=True, help="directory to write (replaced as a whole)")
    parser.add_argument("--splits", nargs="+", default=["train=1500", "dev=400"], help="NAME=COUNT per split")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser


def main(args: argparse.Namespace) -> None:
    import logging

    from voxrecipes.corpora.toxic_text_set import write_text_set
    from voxrecipes.errors import ConfigError

    splits = {}
    for item in args.splits:
        name, _, count = item.partition("=")
        if not name or not count.isdigit():
            raise ConfigError(f"--splits: expected NAME=COUNT, got '{item}'")
        splits[name] = int(count)
    counts = write_text_set(args.out_dir, splits, args.seed)
    logging.getLogger("generate_toxic_text_set").info("wrote %s: %s", args.out_dir, counts)


if __name__ == "__main__":
    run(main, get_parser())
