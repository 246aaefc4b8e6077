"""Generate stand-in point-source noises and simulated RIRs for the mini recipes (MUSAN / RIRS_NOISES layouts).

Writes <out_dir>/musan/noise/generated/noise-NNNN.wav (2-6 s: coloured noise, hum,
clicks, babble-like) and <out_dir>/RIRS_NOISES/simulated_rirs/generated/rir-NNNN.wav
(0.2-0.6 s: direct path, early reflections, exponential decay with a random RT60),
16 kHz mono 16-bit, deterministic for --seed. A finished set with the same options
is skipped.

Example::

    python -m voxrecipes.bin.generate_noise_rirs --out_dir downloads --num_noises 8 --num_rirs 8
    python -m voxrecipes.bin.make_augment_csvs --noise_dir downloads/musan/noise \\
        --rir_dir downloads/RIRS_NOISES/simulated_rirs --out_dir data/augment
"""

from __future__ import annotations

import argparse
import json
import logging

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="generate_noise_rirs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out_dir", required=True, help="root under which musan/ and RIRS_NOISES/ are written")
    parser.add_argument("--num_noises", type=int, default=8, help="number of noise files")
    parser.add_argument("--num_rirs", type=int, default=8, help="number of RIR files")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")
    parser.add_argument("--rt60_min", type=float, default=0.2, help="shortest reverberation time (s)")
    parser.add_argument("--rt60_max", type=float, default=0.8, help="longest reverberation time (s)")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.corpora.synth_augment import generate

    stats = generate(args.out_dir, num_noises=args.num_noises, num_rirs=args.num_rirs, seed=args.seed,
                     rt60_min=args.rt60_min, rt60_max=args.rt60_max)
    logging.getLogger(__name__).info("%s", json.dumps(stats))


if __name__ == "__main__":
    run(main, get_parser())
