"""Write the speechbrain CSVs of the augmentation noises and RIRs: noise.csv and/or rir.csv in --out_dir.

Every .wav/.flac under --noise_dir (e.g. MUSAN's musan/noise) and under --rir_dir
(e.g. RIRS_NOISES/simulated_rirs) is listed with its absolute path and duration;
the files must be mono at --sample_rate. Give at least one of the two folders.

Example::

    python -m voxrecipes.bin.make_augment_csvs --noise_dir /corpora/musan/noise \\
        --rir_dir /corpora/RIRS_NOISES/simulated_rirs --out_dir data/augment
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make_augment_csvs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--noise_dir", default=None, help="folder searched recursively for noise audio -> noise.csv")
    parser.add_argument("--rir_dir", default=None, help="folder searched recursively for RIR audio -> rir.csv")
    parser.add_argument("--out_dir", required=True, help="where noise.csv / rir.csv are written")
    parser.add_argument("--sample_rate", type=int, default=16000, help="required sample rate of every file")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.data.augment import make_audio_csv
    from voxrecipes.errors import ConfigError

    if args.noise_dir is None and args.rir_dir is None:
        raise ConfigError("give --noise_dir, --rir_dir or both")
    for folder, name, what in ((args.noise_dir, "noise.csv", "noise"), (args.rir_dir, "rir.csv", "RIR")):
        if folder is None:
            continue
        out = Path(args.out_dir) / name
        stats = make_audio_csv(folder, out, what=what, sample_rate=args.sample_rate)
        logging.getLogger(__name__).info("%s: %d %s files, %.1f s (%.2f h) from %s", out, stats["count"], what,
                                         stats["seconds"], stats["seconds"] / 3600, folder)


if __name__ == "__main__":
    run(main, get_parser())
