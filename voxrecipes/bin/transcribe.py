"""Transcribe data directories with a transformers speech-recognition pipeline (the ASR stage).

For each --data directory, every utterance of its wav.scp (segments honoured, ``cmd |``
pipes run) is transcribed and ``<out_dir>/text`` is written: ``<utt> <transcript>``
lines, C-sorted, one per utterance, on one line each. The model (a Whisper model id, a
local directory or package:<module>) is loaded once for all directories. Whisper-like
models decode greedily (num_beams 1, as in the paper) with task=transcribe and
--language if given (empty: detected per utterance); CTC models take the argmax path.

An empty hypothesis (silence, noise) is written as --empty_placeholder ("<empty>" by
default), because the data contract forbids empty transcripts; the count is logged.
``text`` appears only once a directory is complete: bad audio stops the run with the
wav.scp file and line, and leaves no partial file.

Example::

    python -m voxrecipes.bin.transcribe --model openai/whisper-large-v3 --language en \\
        --data data/test1 data/test2 --out_dir dump/asr/test1 dump/asr/test2 --batch_size 8
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="transcribe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="ASR model: Hugging Face model id (local cache), local directory or package:<module>")
    parser.add_argument("--data", required=True, nargs="+", help="data directories to transcribe")
    parser.add_argument("--out_dir", required=True, nargs="+", help="output directories (get 'text'), one per --data")
    parser.add_argument("--batch_size", type=int, default=8, help="utterances per forward pass")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, auto)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="model dtype; bfloat16/float16 for a GPU")
    parser.add_argument("--language", default="",
                        help="Whisper language code (e.g. en); empty: detect per utterance; ignored by CTC models")
    parser.add_argument("--empty_placeholder", default="<empty>",
                        help="written for an utterance whose hypothesis is empty (text must not be empty)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(args: argparse.Namespace) -> None:
    import logging

    from voxrecipes.data.datadir import DataDir
    from voxrecipes.errors import ConfigError
    from voxrecipes.models.asr import Transcriber, check_placeholder, transcribe_data_dir
    from voxrecipes.models.text_encoder import resolve_model_path

    if len(args.data) != len(args.out_dir):
        raise ConfigError(f"{len(args.data)} --data directories but {len(args.out_dir)} --out_dir")
    if args.batch_size < 1:
        raise ConfigError(f"--batch_size must be >= 1, got {args.batch_size}")
    check_placeholder(args.empty_placeholder)
    resolve_model_path(args.model, what="ASR")  # a missing model directory fails before any data is read
    data_dirs = [DataDir.load(data) for data in args.data]  # every directory valid before the model loads
    transcriber = Transcriber(args.model, device=args.device, dtype=args.dtype, language=args.language)
    logging.getLogger(__name__).info("ASR model %s", transcriber.describe())
    for dd, out in zip(data_dirs, args.out_dir):
        transcribe_data_dir(transcriber, dd, out, batch_size=args.batch_size,
                            empty_placeholder=args.empty_placeholder, progress=not args.no_progress)


if __name__ == "__main__":
    run(main, get_parser())
