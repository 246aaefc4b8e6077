"""Print the RESULTS.md label of a trained toxicity system, read from its config.yaml.

Fields (joined with ';' in the order asked): ``Loss`` (Baseline when alpha = 1, else
MSE or Contrastive), ``alpha``, ``Layer`` (the injection layer, the last one counted
as the encoder's number of layers, as in the paper's Table 3), ``tau``.

Example::

    python -m voxrecipes.bin.describe_toxicity_system --model_dir exp/train_contrastive --fields Loss alpha
    # -> Contrastive;0.1
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run

FIELDS = ("Loss", "alpha", "Layer", "tau")


def describe(config: dict, fields: list[str]) -> str:
    alpha = float(config["alpha"])
    layer = int(config["injection_layer"])
    if layer == -1:
        from transformers import WhisperConfig

        # encoder_config is a diff against WhisperConfig's defaults: let WhisperConfig fill them in.
        layer = int(WhisperConfig(**(config.get("encoder_config") or {})).encoder_layers)
    values = {
        "Loss": "Baseline" if alpha >= 1.0 else {"mse": "MSE", "contrastive": "Contrastive"}[config["injection_loss"]],
        "alpha": f"{alpha:g}",
        "Layer": str(layer),
        "tau": f"{float(config['tau']):g}",
    }
    return ";".join(values[f] for f in fields)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="describe_toxicity_system", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="training output directory (config.yaml)")
    parser.add_argument("--fields", nargs="+", choices=FIELDS, default=["Loss", "alpha"], help="fields to print")
    return parser


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    import yaml

    from voxrecipes.errors import DataError

    path = Path(args.model_dir) / "config.yaml"
    if not path.is_file():
        raise DataError(path, None, "training config not found")
    with open(path, encoding="utf-8") as handle:
        print(describe(yaml.safe_load(handle), args.fields))


if __name__ == "__main__":
    run(main, get_parser())
