"""Generate long voice-chat sessions (espeak-ng speakers taking turns, five languages, background noise).

The input of the automatic labelling pipeline (egs/mini_toxicity/tox_autolabel):
``<out_dir>/audio/<split>/<session>.wav`` and, kept apart from the audio, the truth of
every sentence in ``<out_dir>/truth/sentences.tsv`` (voxrecipes.corpora.mini_sessions).

The generator's knobs are keys of a YAML --config (those of
voxrecipes.corpora.mini_sessions.SessionConfig: sessions_per_split, min/max_session_seconds,
min/max_speakers, intra_gap, turn_gap, toxic_share, snr_db, ...).

Example::

    python -m voxrecipes.bin.generate_mini_sessions --out_dir downloads/mini_sessions \\
        --config conf/generate_sessions.yaml --seed 0 --nj 2
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from voxrecipes.cli import run
from voxrecipes.corpora.mini_sessions import SessionConfig


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="generate_mini_sessions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out_dir", required=True, help="corpus root to create (replaced as a whole)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")
    parser.add_argument("--nj", type=int, default=2, help="parallel espeak-ng processes")
    for f in fields(SessionConfig):  # set through --config YAML
        parser.add_argument(f"--{f.name}", default=None, help=argparse.SUPPRESS)
    return parser


def main(args: argparse.Namespace) -> None:
    import json
    import logging
    import time

    from voxrecipes.corpora import mini_sessions
    from voxrecipes.errors import ConfigError

    values = {f.name: getattr(args, f.name) for f in fields(SessionConfig) if getattr(args, f.name) is not None}
    try:
        cfg = SessionConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    except TypeError as err:
        raise ConfigError(f"--config {args.config}: {err}") from None
    begin = time.time()
    stats = mini_sessions.generate(args.out_dir, cfg, seed=args.seed, nj=args.nj)
    logging.getLogger("generate_mini_sessions").info("generated %s in %.1f s: %s", args.out_dir,
                                                     time.time() - begin, json.dumps(stats))


if __name__ == "__main__":
    run(main, get_parser())
