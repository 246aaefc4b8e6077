"""Extract Kaldi-compatible log-mel filterbank features of a data directory to an ark/scp pair.

Example (one split job of a recipe)::

    python -m voxrecipes.bin.extract_fbank --data data/train/split2/1 --out_prefix exp/fbank/raw_fbank_train.1
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="extract_fbank", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="Kaldi data directory (wav.scp, utt2spk, ...)")
    parser.add_argument("--out_prefix", required=True, help="writes <out_prefix>.ark and <out_prefix>.scp")
    parser.add_argument("--num_mel_bins", type=int, default=80, help="number of mel filters")
    parser.add_argument("--frame_length_ms", type=float, default=25.0, help="window length in milliseconds")
    parser.add_argument("--frame_shift_ms", type=float, default=10.0, help="frame shift in milliseconds")
    parser.add_argument("--sample_rate", type=int, default=16000, help="audio is resampled to this rate (Hz)")
    parser.add_argument("--waveform_scale", type=float, default=32768.0,
                        help="multiply [-1, 1] samples by this before the front end (32768: Kaldi's int16 scale)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.features.fbank import FbankConfig, extract_fbank

    config = FbankConfig(num_mel_bins=args.num_mel_bins, frame_length_ms=args.frame_length_ms,
                         frame_shift_ms=args.frame_shift_ms, sample_rate=args.sample_rate,
                         waveform_scale=args.waveform_scale)
    extract_fbank(args.data, args.out_prefix, config, progress=not args.no_progress)


if __name__ == "__main__":
    run(main, get_parser())
