"""Export a trained emotion model (a train_emotion directory and checkpoint) as LoRA adapters + head safetensors.

The directory holds ``config.json`` (hyperparameters, backbone source, output names),
peft's ``adapter_config.json`` + ``adapter_model.safetensors``, ``head.safetensors``
and, for a backbone built from a config, ``backbone.safetensors``. Embedding
extraction and attribute prediction read it; nothing in it is pickled.

Example::

    python -m voxrecipes.bin.export_emotion_model --exp_dir exp/emotion_category \\
        --checkpoint valid.macro_f1.best.pth --out_dir exp/emotion_category/export
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="export_emotion_model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="train_emotion output directory (with config.yaml)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint file name inside --exp_dir")
    parser.add_argument("--out_dir", required=True, help="directory to write (replaced when complete)")
    parser.add_argument("--bn_data", default=None,
                        help="data (dump) directory whose whole utterances re-estimate the embedding BatchNorm's "
                             "statistics with the final weights before export (default: keep the training's "
                             "running averages)")
    parser.add_argument("--batch_size", type=int, default=16, help="utterances per forward pass for --bn_data")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.tasks.emotion_inference import export_emotion_model

    export_emotion_model(args.exp_dir, args.checkpoint, args.out_dir, bn_data=args.bn_data,
                         batch_size=args.batch_size)


if __name__ == "__main__":
    run(main, get_parser())
