"""Train the text emotion classifier (TalTech Odyssey 2024, 3.2) with transformers' Trainer (+ peft LoRA).

The YAML --config says which model (LLaMA-2 with LoRA, RoBERTa fully fine-tuned, a tiny
model built from a config for the mini recipe), which task (``category``: cross-entropy
over the 8 emotions, O and X dropped; ``attributes``: valence arousal dominance with the
negative mean CCC loss) and the Trainer's ``training_args``. The best epoch on the
validation set (macro-F1 / mean CCC) is exported.

Writes into --out_dir:

- ``model/``: the export (tokenizer, ``text_classifier.json``, LoRA adapters + head or the
  full model, the base weights of a model built from a config), written atomically;
- ``trainer/``: the Trainer's checkpoints; a killed run resumes from the last one;
- ``config.yaml`` (copy of --config), ``train.log`` (incl. one validation line per epoch),
  ``valid_metrics.json`` (per-epoch validation metrics, best value, training time).

A finished ``model/`` is not redone: the stage logs and exits; ``--overwrite`` removes
``model/`` and ``trainer/`` and trains again. Checkpoints from another config are an error.

Example::

    python -m voxrecipes.bin.train_text_classifier --config conf/train_text_llama_category.yaml \\
        --train_text data/train/text --train_labels data/train/utt2category \\
        --valid_text data/dev_bal/text --valid_labels data/dev_bal/utt2category \\
        --out_dir exp/text_llama_category
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train_text_classifier", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True,
                        help="YAML config of the model, the task and training_args (conf/train_text_*.yaml); "
                             "its keys are those of voxrecipes.models.text_classifier.TextClassifierConfig")
    parser.add_argument("--train_text", required=True, help="Kaldi text file of the training utterances")
    parser.add_argument("--train_labels", required=True, help="utt2category or utt2attrs of the training utterances")
    parser.add_argument("--valid_text", required=True, help="Kaldi text file of the validation utterances")
    parser.add_argument("--valid_labels", required=True, help="utt2category or utt2attrs of the validation set")
    parser.add_argument("--out_dir", required=True, help="experiment directory (model/, trainer/, logs)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    parser.add_argument("--overwrite", action="store_true", help="retrain even if out_dir/model is complete")
    # the YAML keys become these options' defaults (voxrecipes.cli.apply_config); they are not meant for the
    # command line, so they are hidden from --help
    from dataclasses import fields

    from voxrecipes.models.text_classifier import TextClassifierConfig

    for f in fields(TextClassifierConfig):
        parser.add_argument(f"--{f.name}", default=None, help=argparse.SUPPRESS)
    return parser


def main(args: argparse.Namespace) -> None:
    import logging
    import os
    from dataclasses import fields
    from pathlib import Path

    from voxrecipes.cli import LOG_FORMAT
    from voxrecipes.models.text_classifier import TextClassifierConfig
    from voxrecipes.tasks.text_classification import train_text_classifier

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    values = {f.name: getattr(args, f.name) for f in fields(TextClassifierConfig) if getattr(args, f.name) is not None}
    cfg = TextClassifierConfig.from_dict(values, source=args.config)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    try:
        train_text_classifier(cfg, train_text=args.train_text, train_labels=args.train_labels,
                              valid_text=args.valid_text, valid_labels=args.valid_labels, out_dir=out_dir,
                              config_path=args.config, device=args.device, progress=not args.no_progress,
                              overwrite=args.overwrite)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


if __name__ == "__main__":
    run(main, get_parser())
