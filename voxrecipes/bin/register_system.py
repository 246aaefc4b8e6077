"""Record a system a stage produced in exp/<dir>/system.json (the system registry).

Evaluation, fusion, the challenge CSVs and RESULTS.md find the system there
(voxrecipes.registry). Every output file must exist. Re-registering an id replaces its record.

Example::

    python -m voxrecipes.bin.register_system --exp_dir exp --dir backend_lda_lr --variant uniform \\
        --kind category --role speech --type lda_lr --position 2 --embedding_type w2vbert \\
        --sets dev_bal test1 --output_pattern '{set}/posteriors_uniform.txt'
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    from voxrecipes.registry import KINDS, ROLES

    parser = argparse.ArgumentParser(prog="register_system", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="the recipe's experiment directory")
    parser.add_argument("--dir", required=True, help="the system's directory under --exp_dir")
    parser.add_argument("--variant", default="", help="scoring variant (e.g. a prior: train, uniform); the id is "
                                                      "DIR/VARIANT, or DIR without one")
    parser.add_argument("--kind", required=True, choices=KINDS, help="category posteriors or attribute predictions")
    parser.add_argument("--role", required=True, choices=ROLES, help="speech, text or fusion (row order)")
    parser.add_argument("--type", required=True, help="lda_lr, plda, emotion_attributes, text, interpolation, ...")
    parser.add_argument("--position", type=int, default=0, help="order among the systems of its role")
    parser.add_argument("--sets", nargs="+", required=True, help="the sets it has outputs for")
    parser.add_argument("--output_pattern", required=True,
                        help="output file of a set, relative to the system's directory, with {set}")
    parser.add_argument("--fused_from", nargs="*", default=[], help="ids of the systems a fusion combines")
    parser.add_argument("--weights", default="", help="a fusion's weights.json, relative to its directory")
    parser.add_argument("--embedding_type", default="", help="the speech embedding (w2vbert, stats)")
    parser.add_argument("--embedding_name", default="", help="its name in RESULTS.md (default: from the type)")
    parser.add_argument("--text_model", default="", help="the text model slot (llama, roberta, ...)")
    return parser


def main(args: argparse.Namespace) -> None:
    import logging
    from pathlib import Path

    from voxrecipes.errors import ConfigError
    from voxrecipes.registry import System, embedding_display, register, system_id

    if "{set}" not in args.output_pattern:
        raise ConfigError(f"--output_pattern '{args.output_pattern}' must contain {{set}}")
    system = System(id=system_id(args.dir, args.variant), kind=args.kind, role=args.role, type=args.type,
                    variant=args.variant, position=args.position,
                    outputs={s: args.output_pattern.replace("{set}", s) for s in args.sets},
                    fused_from=list(args.fused_from), weights=args.weights,
                    embedding=embedding_display(args.embedding_type, args.embedding_name) if args.role == "speech"
                    else "", text_model=args.text_model, dir=Path(args.exp_dir) / args.dir)
    path = register(system)
    logging.getLogger(__name__).info("registered %s (%s %s) in %s", system.id, system.kind, system.role, path)


if __name__ == "__main__":
    run(main, get_parser())
