"""Export a trained voice-toxicity model to a Hugging Face directory (WhisperForAudioClassification, safetensors).

Writes <out_dir>/config.json (multi-label: problem_type, id2label/label2id),
<out_dir>/model.safetensors and <out_dir>/preprocessor_config.json (the 15 s
WhisperFeatureExtractor); plain transformers loads them with
WhisperForAudioClassification.from_pretrained and AutoFeatureExtractor.from_pretrained.
The text-injection head is training-only and is not exported.

Pooling: HF's forward averages padding frames in, ours does not. Clips of the full
chunk length (15 s) score the same; shorter clips must be scored with
voxrecipes.models.export_hf.score_with_hf (see that module's docstring). The
difference of the plain HF call on noise probes (--probe_seconds) is logged.

Example::

    python -m voxrecipes.bin.export_toxicity_hf --model_dir exp/tox_whisper/model --out_dir exp/tox_whisper/hf
"""

from __future__ import annotations

import argparse
import logging

from voxrecipes.cli import run
from voxrecipes.errors import ConfigError

TASK_MODULE = "voxrecipes.tasks.toxicity"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="export_toxicity_hf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True,
                        help="directory of a trained model, as saved by the toxicity training task "
                             f"(read with {TASK_MODULE}.load_classifier)")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file name inside --model_dir, passed to load_classifier "
                             "(default: load_classifier's own default, the best-validation-mAP model)")
    parser.add_argument("--out_dir", required=True, help="Hugging Face model directory to write (replaced if present)")
    parser.add_argument("--probe_seconds", type=float, nargs="*", default=[15.0, 3.0],
                        help="lengths (s) of noise clips on which the exported model's plain HF call and "
                             "score_with_hf are compared with our inference (logged); none to skip")
    return parser


def _load_classifier(model_dir: str, checkpoint: str | None):
    """Our model and its class names, from ``voxrecipes.tasks.toxicity.load_classifier(model_dir[, checkpoint])``.

    Accepts what it returns as an object with ``.model`` and ``.classes`` (its
    ``TrainedClassifier``) or as a ``(model, class_names)`` pair.
    """
    try:
        from voxrecipes.tasks.toxicity import load_classifier
    except ImportError as err:
        if err.name != TASK_MODULE:  # the task module exists but something it imports is broken: show that
            raise
        raise ConfigError(f"cannot read {model_dir}: {TASK_MODULE}.load_classifier is not available ({err})") from err
    loaded = load_classifier(model_dir) if checkpoint is None else load_classifier(model_dir, checkpoint=checkpoint)
    if hasattr(loaded, "model") and hasattr(loaded, "classes"):
        return loaded.model, list(loaded.classes)
    if isinstance(loaded, tuple) and len(loaded) == 2:
        return loaded[0], list(loaded[1])
    raise ConfigError(f"{TASK_MODULE}.load_classifier returned {type(loaded).__name__}; expected an object with "
                      ".model and .classes or a (model, class_names) pair")


def main(args: argparse.Namespace) -> None:
    model, class_names = _load_classifier(args.model_dir, args.checkpoint)
    from transformers import AutoFeatureExtractor, WhisperForAudioClassification

    from voxrecipes.models.export_hf import export_hf, measure_agreement, probe_waveforms

    out = export_hf(model, class_names, args.out_dir)
    if args.probe_seconds:
        hf = WhisperForAudioClassification.from_pretrained(out).eval()
        extractor = AutoFeatureExtractor.from_pretrained(out)
        for row in measure_agreement(model, hf, extractor, probe_waveforms(args.probe_seconds)):
            logging.getLogger(__name__).info(
                "probe of %.2f s: max |p_HF - p_ours| = %.3g with the plain HF call, %.3g with score_with_hf",
                row["seconds"], row["plain_hf_max_abs_diff"], row["score_with_hf_max_abs_diff"])


if __name__ == "__main__":
    run(main, get_parser())
