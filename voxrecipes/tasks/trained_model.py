"""Read a finished ESPnet training directory back: its ``config.yaml`` and one checkpoint.

ESPnet's own ``AbsTask.build_model_from_file`` does this with pickle allowed and a
non-strict load; the design asks for weights-only checkpoints and a strict load, so
both the toxicity and the emotion tasks rebuild their module here instead.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from voxrecipes.errors import DataError


def load_trained(exp_dir: str | os.PathLike, checkpoint: str, build: Callable[[argparse.Namespace], object], *,
                 prefix: str, program: str, device: str = "cpu"):
    """``(module, args, checkpoint path)``: ``build(args)`` of the directory's ``config.yaml`` with the
    checkpoint's ``prefix*`` weights loaded (weights-only, strict), moved to ``device`` in eval mode.

    ``program`` (``train_toxicity``, ``train_emotion``) names the entry point that writes such a directory;
    its config must hold the ``encoder_config`` that rebuilds the backbone without its pretrained source.
    """
    import torch
    import yaml

    exp_dir = Path(exp_dir)
    config_path = exp_dir / "config.yaml"
    if not config_path.is_file():
        raise DataError(config_path, None, f"training config not found (is this a {program} output directory?)")
    with open(config_path, encoding="utf-8") as handle:
        args = argparse.Namespace(**yaml.safe_load(handle))
    if not getattr(args, "encoder_config", None):
        raise DataError(config_path, None, f"no encoder_config: the directory was not written by {program}")
    path = exp_dir / checkpoint
    if not path.is_file():
        raise DataError(path, None, "checkpoint not found (training not finished, or another --checkpoint?)")
    module = build(args)
    state = torch.load(path, map_location=device, weights_only=True)
    own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not own:
        raise DataError(path, None, f"no '{prefix}*' weights in this checkpoint")
    module.load_state_dict(own, strict=True)
    module.to(device).eval()
    return module, args, path
