"""Building the text classifier: tokenizer, base ``*ForSequenceClassification`` model, LoRA.

The base comes from ``model_name_or_path`` (an HF id, a local directory or
``package:<module>``) or from ``model_config`` (random weights, for the mini recipes and
tests); the tokenizer gets pad = EOS when it has none (the paper, for LLaMA) and
``config.pad_token_id`` is set so that the last-token head finds the last real token of
right-padded batches; LoRA keeps the head (``score`` for LLaMA, ``classifier`` for
RoBERTa/BERT) in ``modules_to_save``, since peft trains and saves only its adapters
otherwise.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from voxrecipes.errors import ConfigError
from voxrecipes.models.text_classifier.config import TextClassifierConfig
from voxrecipes.models.text_encoder import resolve_model_path

logger = logging.getLogger(__name__)

#: head module names of ``*ForSequenceClassification`` models, tried in this order
HEAD_NAMES = ("score", "classifier")


def check_quantization_available(quantization: dict | None) -> None:
    """4-bit loading needs bitsandbytes and a CUDA GPU; say so clearly before any weights load."""
    if quantization is None:
        return
    import torch

    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("the bitsandbytes package is not installed (pip install bitsandbytes)")
    if not torch.cuda.is_available():
        missing.append("no CUDA GPU is available")
    if missing:
        raise ConfigError("the config asks for a 4-bit quantized model (QLoRA, the 70B setup), but "
                          + " and ".join(missing) + "; use a GPU machine or a config without 'quantization'")


def _bnb_config(quantization: dict) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=bool(quantization.get("load_in_4bit", True)),
        bnb_4bit_quant_type=quantization.get("quant_type", "nf4"),
        bnb_4bit_use_double_quant=bool(quantization.get("double_quant", True)),
        bnb_4bit_compute_dtype=getattr(torch, quantization.get("compute_dtype", "bfloat16")))


def load_tokenizer(spec: str, *, trust_remote_code: bool = False) -> Any:
    """``AutoTokenizer`` with a pad token (EOS when it has none, as the paper does for LLaMA), right padding.

    ``spec``: a local directory holding a tokenizer (a model directory, an export, a
    tokenizer alone), ``package:<module>`` or a model id (see :func:`resolve_model_path`).
    """
    from transformers import AutoTokenizer

    local = Path(spec).expanduser()  # a tokenizer-only directory (or an export) has no config.json
    path = str(local.resolve()) if local.is_dir() else resolve_model_path(spec, what="tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot load tokenizer '{spec}' ({path}): {err}; there is no network at run time, so "
                          "give a local directory or a model in the local HF cache") from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(f"tokenizer '{spec}' has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
        logger.info("tokenizer has no pad token: using EOS (%r, id %d) as pad", tokenizer.eos_token,
                    tokenizer.eos_token_id)
    tokenizer.padding_side = "right"
    return tokenizer


def _label_kwargs(cfg: TextClassifierConfig, tokenizer: Any) -> dict:
    names = cfg.output_names
    return {"num_labels": len(names), "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)},
            "problem_type": {"category": "single_label_classification", "attributes": "regression",
                             "multilabel": "multi_label_classification"}[cfg.task],
            "pad_token_id": tokenizer.pad_token_id}


def head_name(model: Any) -> str:
    """The attribute name of the classification head (``score`` for LLaMA, ``classifier`` for RoBERTa/BERT)."""
    import torch

    for name in HEAD_NAMES:
        if isinstance(getattr(model, name, None), torch.nn.Module):
            return name
    raise ConfigError(f"cannot find the classification head of {type(model).__name__} "
                      f"(looked for {', '.join(HEAD_NAMES)})")


def _config_from_dict(cfg: TextClassifierConfig, tokenizer: Any) -> Any:
    from transformers import AutoConfig

    fields_ = dict(cfg.model_config)
    model_type = fields_.pop("model_type")
    fields_.setdefault("vocab_size", len(tokenizer))
    if fields_["vocab_size"] < len(tokenizer):
        raise ConfigError(f"model_config.vocab_size {fields_['vocab_size']} is smaller than the tokenizer's "
                          f"vocabulary ({len(tokenizer)})")
    for key in ("bos_token_id", "eos_token_id"):
        token_id = getattr(tokenizer, key)
        if token_id is not None:
            fields_.setdefault(key, token_id)
    try:
        return AutoConfig.for_model(model_type, **fields_, **_label_kwargs(cfg, tokenizer))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"model_config: cannot build a '{model_type}' config: {err}") from None


def torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def load_base_model(cfg: TextClassifierConfig, tokenizer: Any, *, base_dir: str | os.PathLike | None = None,
                    device_map: Any = None) -> Any:
    """The classifier before LoRA: ``AutoModelForSequenceClassification`` (``pooling: cls``) or a
    :class:`~voxrecipes.models.text_classifier.mean_pooling.MeanPoolClassifier` over ``AutoModel``
    (``pooling: mean``).

    ``base_dir`` holding a saved base (``config.json``) wins: it is where a config-built
    (random) base is kept so that a resumed training and the export see the same
    weights. Otherwise the base comes from ``model_config`` (random weights; the caller
    seeds) or from ``model_name_or_path`` (pretrained; the head is new).
    """
    from transformers import AutoModel, AutoModelForSequenceClassification

    mean = cfg.pooling == "mean"
    dtype = torch_dtype(cfg.dtype)
    if base_dir is not None and (Path(base_dir) / "config.json").is_file():
        if mean:
            from voxrecipes.models.text_classifier.mean_pooling import MeanPoolClassifier

            return MeanPoolClassifier.from_pretrained(base_dir, dtype=dtype)
        return AutoModelForSequenceClassification.from_pretrained(base_dir, dtype=dtype, trust_remote_code=False)
    auto = AutoModel if mean else AutoModelForSequenceClassification
    if cfg.model_config is not None:
        return _with_head(auto.from_config(_config_from_dict(cfg, tokenizer), dtype=dtype), mean)
    check_quantization_available(cfg.quantization)
    path = resolve_model_path(cfg.model_name_or_path, what="text-classifier base")
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": cfg.trust_remote_code}
    if cfg.quantization is not None:
        kwargs["quantization_config"] = _bnb_config(cfg.quantization)
        kwargs["device_map"] = device_map if device_map is not None else {"": 0}
    try:
        model = auto.from_pretrained(path, **_label_kwargs(cfg, tokenizer), **kwargs)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot load model '{cfg.model_name_or_path}' ({path}): {err}; there is no network at "
                          "run time, so give a local directory or a model in the local HF cache") from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return _with_head(model, mean)


def _with_head(model: Any, mean: bool) -> Any:
    """``model`` itself (it has its head), or the bare backbone under a new mean-pooling head."""
    if not mean:
        return model
    from voxrecipes.models.text_classifier.mean_pooling import MeanPoolClassifier

    return MeanPoolClassifier(model)


def lora_config(cfg: TextClassifierConfig, model: Any, *, inference_mode: bool = False) -> Any:
    from peft import LoraConfig, TaskType

    head = head_name(model)
    extra = list(cfg.lora.get("modules_to_save") or [])
    return LoraConfig(task_type=TaskType.SEQ_CLS, r=int(cfg.lora["r"]), lora_alpha=cfg.lora["alpha"],
                      lora_dropout=float(cfg.lora["dropout"]), target_modules=cfg.lora.get("target_modules"),
                      modules_to_save=[head] + [m for m in extra if m != head], bias=cfg.lora.get("bias", "none"),
                      inference_mode=inference_mode)


def build_text_classifier(cfg: TextClassifierConfig, *, base_dir: str | os.PathLike | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` ready for training: LoRA-wrapped (only adapters + head train) or full.

    With LoRA, ``model_config`` and ``base_dir`` the random base is saved to ``base_dir`` on
    the first call and reloaded from it afterwards (resume, export): peft checkpoints hold
    only the adapters and the head. A fully fine-tuned model needs no saved base (its
    checkpoints hold every weight).
    """
    import torch

    tokenizer = load_tokenizer(cfg.tokenizer_name_or_path or cfg.model_name_or_path,
                               trust_remote_code=cfg.trust_remote_code)
    torch.manual_seed(cfg.seed)
    model = load_base_model(cfg, tokenizer, base_dir=base_dir)
    if (cfg.use_lora and cfg.model_config is not None and base_dir is not None
            and not (Path(base_dir) / "config.json").is_file()):
        save_base(model, base_dir)
    if not cfg.use_lora:
        return model, tokenizer
    from peft import get_peft_model, prepare_model_for_kbit_training

    if cfg.quantization is not None:
        model = prepare_model_for_kbit_training(model)
    try:
        model = get_peft_model(model, lora_config(cfg, model))
    except ValueError as err:
        raise ConfigError(f"cannot add LoRA to {type(model).__name__}: {err}") from None
    trainable, total = model.get_nb_trainable_parameters()
    logger.info("LoRA r=%s alpha=%s dropout=%s on %s, modules_to_save %s: %d of %d parameters trainable (%.2f%%)",
                cfg.lora["r"], cfg.lora["alpha"], cfg.lora["dropout"],
                sorted(model.peft_config["default"].target_modules), model.peft_config["default"].modules_to_save,
                trainable, total, 100.0 * trainable / max(total, 1))
    return model, tokenizer


def save_base(model: Any, base_dir: str | os.PathLike) -> None:
    """Save a config-built base model (safetensors) atomically."""
    from voxrecipes.fileio import atomic_dir

    with atomic_dir(base_dir) as tmp:
        model.save_pretrained(tmp)
