"""The text emotion classifier of the TalTech Odyssey 2024 system (section 3.2), built from a YAML config.

The paper fine-tunes LLaMA-2-7B as a sequence classifier on ASR transcripts: the head
is a linear layer on the *last* token (as for every causal LM), 8 outputs for the
emotion categories or 3 for the attributes (a regression trained with the negative
mean CCC), LoRA (rank 256, alpha 256, dropout 0.1), and "as LLaMA does not have a pad
token we set it to be the same as EOS token". RoBERTa-large is the alternative, fully
fine-tuned; the post-evaluation 70B model loads in 4-bit (nested quantisation, bf16
compute) with LoRA rank 16.

This package turns the config into a ``transformers`` ``AutoModelForSequenceClassification``
(``pooling: mean``: a :class:`~voxrecipes.models.text_classifier.mean_pooling.MeanPoolClassifier`;
wrapped in a ``peft`` LoRA model when asked) plus its tokenizer, and exports / reloads
the trained model; one module per job, the first three re-exported here:

- ``config`` -- :class:`TextClassifierConfig`, the validated config (unknown keys are errors).
- ``build`` -- :func:`build_text_classifier`: the base from ``model_name_or_path`` (an HF id, a
  local directory or ``package:<module>``) or from ``model_config`` (a dict with a
  ``model_type`` and config fields: random weights, for the mini recipes and tests);
  pad token = EOS when the tokenizer has none, ``config.pad_token_id`` set so that the
  last-token head finds the last real token of right-padded batches; LoRA with the head
  (``score`` for LLaMA, ``classifier`` for RoBERTa/BERT) in ``modules_to_save``.
- ``export`` -- :func:`export_text_classifier` / :func:`load_text_classifier`: a model directory
  with the tokenizer, ``text_classifier.json`` (task, output names, base model, max
  length, training class counts, target scaling) and either the full
  model (no LoRA) or the LoRA adapters + head (``adapter_model.safetensors``) and, when
  the base was built from a config (random weights), the base weights under ``base/``
  so that the export reloads exactly. ``trust_remote_code`` is off unless the config
  turns it on.
- ``mean_pooling`` -- :class:`MeanPoolClassifier`: the bare backbone, the masked mean of its
  last hidden states and a linear head (``pooling: mean``; imported by ``build`` and
  ``export`` when a config or a model directory asks for it).
"""

from voxrecipes.models.text_classifier.build import (
    HEAD_NAMES,
    build_text_classifier,
    check_quantization_available,
    head_name,
    load_base_model,
    load_tokenizer,
    lora_config,
    save_base,
)
from voxrecipes.models.text_classifier.config import (
    BUILT_FROM_CONFIG,
    CATEGORY_CLASSES,
    CLASS_TASKS,
    DTYPES,
    TASKS,
    TextClassifierConfig,
)
from voxrecipes.models.text_classifier.export import (
    BASE_DIR,
    META_FILE,
    META_VERSION,
    TextClassifier,
    export_text_classifier,
    load_text_classifier,
    read_meta,
)

__all__ = [
    "BASE_DIR", "BUILT_FROM_CONFIG", "CATEGORY_CLASSES", "CLASS_TASKS", "DTYPES", "HEAD_NAMES", "META_FILE",
    "META_VERSION", "TASKS", "TextClassifier", "TextClassifierConfig", "build_text_classifier",
    "check_quantization_available", "export_text_classifier", "head_name", "load_base_model", "load_text_classifier",
    "load_tokenizer", "lora_config", "read_meta", "save_base",
]
