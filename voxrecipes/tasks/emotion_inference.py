"""Inference with a trained emotion model: reload, export, embeddings and outputs of a data directory.

- :func:`load_emotion_model` rebuilds the model of a ``train_emotion`` directory from
  its ``config.yaml`` (the saved backbone config, so no pretrained checkpoint is
  needed) and loads a checkpoint weights-only.
- :func:`export_emotion_model` writes it with
  :meth:`~voxrecipes.models.emotion_base.EmotionModelBase.save_pretrained` (W2V-BERT or Whisper backbone):
  LoRA adapters + head (+ a config-built backbone) in safetensors, the class list in
  ``config.json``'s metadata. The later stages read this directory.
- :func:`infer_data_dir` runs whole utterances through the model in batches of similar
  length and returns the embedding (the output of the first dense layer after pooling,
  what the LDA/LR and PLDA backends use) and the head's outputs: softmax posteriors
  over the training classes, or valence/arousal/dominance on the 1-7 scale.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from voxrecipes.data.audio import SAMPLE_RATE, iter_audio
from voxrecipes.data.datadir import DataDir
from voxrecipes.errors import DataError
from voxrecipes.labels import ATTRIBUTES
from voxrecipes.models.emotion_base import EmotionModelBase, Frontend
from voxrecipes.models.precision import autocast, resolve_precision

logger = logging.getLogger(__name__)


@dataclass
class EmotionInference:
    """A trained model ready for inference and the names of its outputs."""

    model: EmotionModelBase
    output_names: list[str]  # the classes, or the three attributes

    @property
    def task(self) -> str:
        return self.model.task


def load_emotion_model(exp_dir: str | os.PathLike, checkpoint: str, device: str = "cpu") -> EmotionInference:
    """Rebuild the model of a training directory (its ``config.yaml``) and load ``checkpoint`` weights-only."""
    from voxrecipes.tasks.emotion import build_emotion_model
    from voxrecipes.tasks.trained_model import load_trained

    model, args, _ = load_trained(exp_dir, checkpoint, build_emotion_model, prefix="model.", program="train_emotion",
                                  device=device)
    names = list(args.classes) if model.task == "category" else list(ATTRIBUTES)
    return EmotionInference(model, names)


def export_emotion_model(exp_dir: str | os.PathLike, checkpoint: str, out_dir: str | os.PathLike, *,
                         bn_data: str | os.PathLike | None = None, batch_size: int = 16) -> Path:
    """Write the checkpoint's model as adapters + head safetensors (with its output names) to ``out_dir``.

    ``bn_data``: re-estimate the embedding BatchNorm's statistics on this data directory first
    (:func:`reestimate_batchnorm`); recorded in the metadata.
    """
    inference = load_emotion_model(exp_dir, checkpoint)
    metadata = {"output_names": inference.output_names, "source": str(Path(exp_dir) / checkpoint)}
    if bn_data is not None:
        count = reestimate_batchnorm(inference, bn_data, batch_size=batch_size)
        metadata["batchnorm_statistics"] = {"data": str(bn_data), "utterances": count}
    inference.model.save_pretrained(out_dir, metadata=metadata)
    logger.info("exported %s (%s) to %s", Path(exp_dir) / checkpoint, inference.task, out_dir)
    return Path(out_dir)


@torch.no_grad()
def reestimate_batchnorm(inference: EmotionInference, data_dir: str | os.PathLike, *, batch_size: int = 16,
                         max_seconds: float | None = None) -> int:
    """Replace the embedding BatchNorm's running statistics by those of ``data_dir``'s whole utterances.

    During training the running mean and variance are moving averages of batch statistics
    of augmented random crops taken while the weights change; evaluation feeds whole,
    clean utterances to the final weights. After the balanced attribute finetuning of the
    mini recipe the two disagree (issue 14: the evaluation embeddings sat 0.57 standard
    deviations off the running mean, shifting the valence predictions by about +1).
    Here the statistics are computed exactly (mean and unbiased variance of the
    pre-BatchNorm activations over every utterance) with the final weights, as "precise
    BatchNorm" does. Returns the number of utterances used.
    """
    model = inference.model
    captured: list[torch.Tensor] = []
    hook = model.batchnorm.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach()))
    try:
        utts, _, _ = infer_data_dir(inference, data_dir, batch_size=batch_size, max_seconds=max_seconds,
                                    progress=False)
    finally:
        hook.remove()
    values = torch.cat(captured).double()
    if values.shape[0] < 2:
        raise DataError(Path(data_dir) / "wav.scp", None, "need at least 2 utterances to estimate BatchNorm statistics")
    bn = model.batchnorm
    bn.running_mean.copy_(values.mean(0).to(bn.running_mean.dtype))
    bn.running_var.copy_(values.var(0, unbiased=True).to(bn.running_var.dtype))
    logger.info("BatchNorm statistics re-estimated on %d utterances of %s", len(utts), data_dir)
    return len(utts)


def load_exported(model_dir: str | os.PathLike, device: str = "cpu") -> EmotionInference:
    """Load a directory written by :func:`export_emotion_model`."""
    model_dir = Path(model_dir)
    model = EmotionModelBase.from_pretrained(model_dir)
    meta = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("metadata") or {}
    names = meta.get("output_names")
    if not names:
        names = list(ATTRIBUTES) if model.task == "attributes" else [str(k) for k in range(model.num_outputs)]
    model.to(device).eval()
    return EmotionInference(model, list(names))


@torch.no_grad()
def infer_batch(inference: EmotionInference, waves: list[np.ndarray], frontend: Frontend | None = None,
                precision: str = "fp32") -> tuple[np.ndarray, np.ndarray]:
    """(outputs, embeddings) of a batch of 16 kHz waveforms: posteriors or attributes, and dense-layer outputs.

    ``frontend``: the model's own (:meth:`~voxrecipes.models.emotion_base.EmotionModelBase.frontend`) by default.
    ``precision``: ``fp32`` or ``bf16`` autocast (resolved); the results are float32 either way.
    """
    frontend = frontend or inference.model.frontend()
    features, mask = frontend(waves)
    device = next(inference.model.parameters()).device
    with autocast(precision, device):
        outputs, embedding = inference.model(features.to(device), mask.to(device))
    if inference.task == "category":
        outputs = torch.softmax(outputs.float(), dim=-1)
    return outputs.float().cpu().numpy(), embedding.float().cpu().numpy()


def infer_data_dir(inference: EmotionInference, data_dir: str | os.PathLike, *, batch_size: int = 16,
                   max_seconds: float | None = None, precision: str = "fp32", progress: bool = True
                   ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(utts, outputs, embeddings)`` of every utterance of ``data_dir`` (whole utterances, capped at max_seconds).

    ``precision``: ``fp32``, ``bf16`` or ``auto`` (bf16 where the device runs it natively; logged).

    The audio is read once and held in memory, then batched in order of length, so that
    padding (which pooling ignores but still costs) stays small.
    """
    from tqdm import tqdm

    dd = DataDir.load(data_dir)
    cap = None if max_seconds is None else int(round(max_seconds * SAMPLE_RATE))
    audio = {utt: wave[:cap] for utt, wave in iter_audio(dd, SAMPLE_RATE)}
    utts = dd.utts
    for utt in utts:
        if len(audio[utt]) == 0:
            raise DataError(dd.file_path("wav.scp"), dd.line_of("wav.scp", utt), f"utterance '{utt}' is empty")
    order = sorted(utts, key=lambda u: len(audio[u]))
    frontend = inference.model.frontend()
    precision = resolve_precision(precision, next(inference.model.parameters()).device)
    outputs: dict[str, np.ndarray] = {}
    embeddings: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(utts), desc=f"infer {dd.path}", disable=not progress, mininterval=5, unit="utt")
    for start in range(0, len(order), batch_size):
        part = order[start:start + batch_size]
        out, emb = infer_batch(inference, [audio[u] for u in part], frontend, precision)
        for k, utt in enumerate(part):
            outputs[utt], embeddings[utt] = out[k], emb[k]
        bar.update(len(part))
    bar.close()
    logger.info("inferred %d utterances of %s", len(utts), dd.path)
    return utts, np.stack([outputs[u] for u in utts]), np.stack([embeddings[u] for u in utts])
