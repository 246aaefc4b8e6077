"""The text emotion classifier of the TalTech Odyssey 2024 system (section 3.2), built from a YAML config.

The paper fine-tunes LLaMA-2-7B as a sequence classifier on ASR transcripts: the head
is a linear layer on the *last* token (as for every causal LM), 8 outputs for the
emotion categories or 3 for the attributes (a regression trained with the negative
mean CCC), LoRA (rank 256, alpha 256, dropout 0.1), and "as LLaMA does not have a pad
token we set it to be the same as EOS token". RoBERTa-large is the alternative, fully
fine-tuned; the post-evaluation 70B model loads in 4-bit (nested quantisation, bf16
compute) with LoRA rank 16.

This module turns the config into a ``transformers`` ``AutoModelForSequenceClassification``
(wrapped in a ``peft`` LoRA model when asked) plus its tokenizer, and exports / reloads
the trained model:

- :class:`TextClassifierConfig` -- the validated config (unknown keys are errors).
- :func:`build_text_classifier` -- the base from ``model_name_or_path`` (an HF id, a
  local directory or ``package:<module>``) or from ``model_config`` (a dict with a
  ``model_type`` and config fields: random weights, for the mini recipes and tests);
  pad token = EOS when the tokenizer has none, ``config.pad_token_id`` set so that the
  last-token head finds the last real token of right-padded batches; LoRA with the head
  (``score`` for LLaMA, ``classifier`` for RoBERTa/BERT) in ``modules_to_save``.
- :func:`export_text_classifier` / :func:`load_text_classifier` -- a model directory
  with the tokenizer, ``text_classifier.json`` (task, output names, base model, max
  length, training class counts, target scaling) and either the full
  model (no LoRA) or the LoRA adapters + head (``adapter_model.safetensors``) and, when
  the base was built from a config (random weights), the base weights under ``base/``
  so that the export reloads exactly. ``trust_remote_code`` is off unless the config
  turns it on.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from voxrecipes.errors import ConfigError
from voxrecipes.labels import ATTRIBUTES, EMOTION_CLASSES, PSEUDO_CLASSES
from voxrecipes.models.text_encoder import PACKAGE_SCHEME, pick_device, resolve_model_path

logger = logging.getLogger(__name__)

#: the eight MSP-Podcast primary emotions, in the challenge's order
CATEGORY_CLASSES = EMOTION_CLASSES
TASKS = ("category", "attributes", "multilabel")
#: tasks whose outputs are named classes (``classes``)
CLASS_TASKS = ("category", "multilabel")
#: the export's metadata file
META_FILE = "text_classifier.json"
META_VERSION = 1
#: where an export keeps the base weights of a model built from a config
BASE_DIR = "base"
BUILT_FROM_CONFIG = "built from config"
#: head module names of ``*ForSequenceClassification`` models, tried in this order
HEAD_NAMES = ("score", "classifier")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class TextClassifierConfig:
    """The model part of a ``train_text_*.yaml`` (``training_args`` is read by the task).

    Exactly one of ``model_name_or_path`` and ``model_config`` is given. ``lora`` keys:
    ``r``, ``alpha``, ``dropout``, ``target_modules`` (``null``: peft's default for the
    architecture), ``modules_to_save`` (extra modules trained in full and saved with the
    adapters; the head is always one), ``bias``. ``quantization`` keys: ``load_in_4bit``,
    ``quant_type`` (nf4), ``double_quant``, ``compute_dtype`` (bfloat16).
    """

    task: str = "category"
    classes: list[str] | None = None
    model_name_or_path: str | None = None
    model_config: dict | None = None
    tokenizer_name_or_path: str | None = None
    max_length: int = 128
    dtype: str = "float32"
    use_lora: bool = False
    lora: dict = field(default_factory=dict)
    quantization: dict | None = None
    ignore_classes: list[str] = field(default_factory=lambda: list(PSEUDO_CLASSES))
    normalize_targets: bool = True
    trust_remote_code: bool = False
    seed: int = 0
    training_args: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> TextClassifierConfig:
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a mapping of keys to values")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(map(str, unknown))} "
                              f"(known: {', '.join(sorted(known))})")
        cfg = cls(**copy.deepcopy(values))
        cfg.validate(source)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> TextClassifierConfig:
        import yaml

        try:
            with open(path, encoding="utf-8") as handle:
                values = yaml.safe_load(handle) or {}
        except FileNotFoundError:
            raise ConfigError(f"config {path}: file not found") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"config {path}: not valid YAML: {err}") from None
        return cls.from_dict(values, source=str(path))

    def to_dict(self) -> dict:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}

    # -- validation ---------------------------------------------------------------------------
    def validate(self, source: str = "config") -> None:
        if self.task not in TASKS:
            raise ConfigError(f"{source}: task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.task in CLASS_TASKS:
            if self.classes is None:
                if self.task == "multilabel":
                    raise ConfigError(f"{source}: a multilabel classifier needs its classes")
                self.classes = list(CATEGORY_CLASSES)
            if (not isinstance(self.classes, list) or len(self.classes) < 2
                    or not all(isinstance(c, str) and c and not any(ch.isspace() for ch in c) for c in self.classes)):
                raise ConfigError(f"{source}: classes must be a list of at least 2 names without spaces, "
                                  f"got {self.classes!r}")
            if len(set(self.classes)) != len(self.classes):
                raise ConfigError(f"{source}: duplicate names in classes {self.classes}")
            both = sorted(set(self.classes) & set(self.ignore_classes))
            if both:
                raise ConfigError(f"{source}: {', '.join(both)} both in classes and in ignore_classes")
        else:
            if self.classes not in (None, list(ATTRIBUTES)):
                raise ConfigError(f"{source}: the attribute outputs are fixed to {' '.join(ATTRIBUTES)}; "
                                  f"drop 'classes' (got {self.classes!r})")
            self.classes = None
        if (self.model_name_or_path is None) == (self.model_config is None):
            raise ConfigError(f"{source}: give exactly one of model_name_or_path (a model id, a local directory "
                              f"or {PACKAGE_SCHEME}<module>) and model_config (a dict with model_type and the "
                              "fields of a transformers config, random weights)")
        if self.model_config is not None:
            if not isinstance(self.model_config, dict) or not isinstance(self.model_config.get("model_type"), str):
                raise ConfigError(f"{source}: model_config must be a mapping with a 'model_type' "
                                  f"(e.g. llama, roberta, bert), got {self.model_config!r}")
            if self.tokenizer_name_or_path is None:
                raise ConfigError(f"{source}: a model built from model_config needs tokenizer_name_or_path")
        if not isinstance(self.max_length, int) or isinstance(self.max_length, bool) or self.max_length < 2:
            raise ConfigError(f"{source}: max_length must be an integer >= 2, got {self.max_length!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"{source}: dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not isinstance(self.lora, dict):
            raise ConfigError(f"{source}: lora must be a mapping, got {self.lora!r}")
        lora_keys = {"r", "alpha", "dropout", "target_modules", "modules_to_save", "bias"}
        unknown = sorted(set(self.lora) - lora_keys)
        if unknown:
            raise ConfigError(f"{source}: unknown lora key(s) {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(lora_keys))})")
        if self.use_lora:
            for key, kind in (("r", int), ("alpha", (int, float)), ("dropout", (int, float))):
                value = self.lora.get(key)
                if not isinstance(value, kind) or isinstance(value, bool) or value < 0 or (key == "r" and value < 1):
                    raise ConfigError(f"{source}: lora.{key} must be a {'positive integer' if key == 'r' else 'number'}"
                                      f", got {value!r}")
        if self.quantization is not None:
            if not isinstance(self.quantization, dict):
                raise ConfigError(f"{source}: quantization must be a mapping, got {self.quantization!r}")
            q_keys = {"load_in_4bit", "quant_type", "double_quant", "compute_dtype"}
            unknown = sorted(set(self.quantization) - q_keys)
            if unknown:
                raise ConfigError(f"{source}: unknown quantization key(s) {', '.join(unknown)} "
                                  f"(known: {', '.join(sorted(q_keys))})")
            if self.model_config is not None:
                raise ConfigError(f"{source}: quantization needs pretrained weights (model_name_or_path)")
            if not self.use_lora:
                raise ConfigError(f"{source}: a quantized model can only be trained with LoRA (use_lora: true)")
        if not isinstance(self.training_args, dict):
            raise ConfigError(f"{source}: training_args must be a mapping, got {self.training_args!r}")

    # -- derived ------------------------------------------------------------------------------
    @property
    def output_names(self) -> list[str]:
        return list(self.classes) if self.task in CLASS_TASKS else list(ATTRIBUTES)

    @property
    def base_model(self) -> str:
        """The base model spec as recorded in the export (the spec itself, or "built from config")."""
        return self.model_name_or_path if self.model_name_or_path is not None else BUILT_FROM_CONFIG


# ----------------------------------------------------------------------------------------------
# Building


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


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def load_base_model(cfg: TextClassifierConfig, tokenizer: Any, *, base_dir: str | os.PathLike | None = None,
                    device_map: Any = None) -> Any:
    """The ``AutoModelForSequenceClassification`` before LoRA.

    ``base_dir`` holding a saved base (``config.json``) wins: it is where a config-built
    (random) base is kept so that a resumed training and the export see the same
    weights. Otherwise the base comes from ``model_config`` (random weights; the caller
    seeds) or from ``model_name_or_path`` (pretrained; the head is new).
    """
    from transformers import AutoModelForSequenceClassification

    dtype = _torch_dtype(cfg.dtype)
    if base_dir is not None and (Path(base_dir) / "config.json").is_file():
        return AutoModelForSequenceClassification.from_pretrained(base_dir, dtype=dtype, trust_remote_code=False)
    if cfg.model_config is not None:
        model = AutoModelForSequenceClassification.from_config(_config_from_dict(cfg, tokenizer), dtype=dtype)
        return model
    check_quantization_available(cfg.quantization)
    path = resolve_model_path(cfg.model_name_or_path, what="text-classifier base")
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": cfg.trust_remote_code}
    if cfg.quantization is not None:
        kwargs["quantization_config"] = _bnb_config(cfg.quantization)
        kwargs["device_map"] = device_map if device_map is not None else {"": 0}
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, **_label_kwargs(cfg, tokenizer), **kwargs)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot load model '{cfg.model_name_or_path}' ({path}): {err}; there is no network at "
                          "run time, so give a local directory or a model in the local HF cache") from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


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


# ----------------------------------------------------------------------------------------------
# Export and reload


@dataclass
class TextClassifier:
    """A loaded export: the model (eval mode), its tokenizer and its metadata."""

    model: Any
    tokenizer: Any
    meta: dict

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def output_names(self) -> list[str]:
        return list(self.meta["output_names"])

    @property
    def max_length(self) -> int:
        return int(self.meta["max_length"])

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device


def export_text_classifier(model: Any, tokenizer: Any, cfg: TextClassifierConfig, out_dir: str | os.PathLike, *,
                           class_counts: dict[str, int] | None = None,
                           target_stats: dict[str, list[float]] | None = None,
                           base_dir: str | os.PathLike | None = None, extra_meta: dict | None = None) -> None:
    """Write the model directory atomically (a complete directory or nothing).

    LoRA: the adapters and the head (``modules_to_save``) via peft's ``save_pretrained``
    (safetensors), plus the config-built base copied from ``base_dir``. No LoRA: the full
    model. Always the tokenizer and ``text_classifier.json``.
    """
    from voxrecipes.fileio import atomic_dir

    is_peft = hasattr(model, "peft_config")
    has_base = base_dir is not None and (Path(base_dir) / "config.json").is_file()
    if is_peft and cfg.model_config is not None and not has_base:
        raise ConfigError("exporting a LoRA model whose base was built from a config needs the saved base weights "
                          f"(base_dir={base_dir})")
    meta = {"version": META_VERSION, "task": cfg.task, "output_names": cfg.output_names,
            "base_model": cfg.base_model, "model_config": cfg.model_config, "use_lora": bool(is_peft),
            "lora": cfg.lora if is_peft else None, "quantization": cfg.quantization, "dtype": cfg.dtype,
            "max_length": cfg.max_length, "ignore_classes": cfg.ignore_classes if cfg.task == "category" else None,
            "class_counts": class_counts, "target_mean": None, "target_std": None,
            "trust_remote_code": cfg.trust_remote_code}
    if target_stats is not None:
        meta["target_mean"] = [float(v) for v in target_stats["mean"]]
        meta["target_std"] = [float(v) for v in target_stats["std"]]
    meta.update(extra_meta or {})
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)  # peft: adapter_config.json + adapter_model.safetensors; else the full model
        tokenizer.save_pretrained(tmp)
        if is_peft and cfg.model_config is not None:
            shutil.copytree(base_dir, tmp / BASE_DIR)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_meta(model_dir: str | os.PathLike) -> dict:
    path = Path(model_dir) / META_FILE
    if not path.is_file():
        raise ConfigError(f"{model_dir} is not a text-classifier export (no {META_FILE}); "
                          "train one with voxrecipes.bin.train_text_classifier")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON: {err}") from None
    for key in ("task", "output_names", "max_length", "use_lora", "base_model"):
        if key not in meta:
            raise ConfigError(f"{path}: missing '{key}'")
    return meta


def load_text_classifier(model_dir: str | os.PathLike, *, device: str | None = "cpu") -> TextClassifier:
    """Reload an export for inference (eval mode, gradients off)."""
    from transformers import AutoModelForSequenceClassification

    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    device = pick_device(device)
    trust = bool(meta.get("trust_remote_code", False))
    tokenizer = load_tokenizer(str(model_dir), trust_remote_code=trust)
    dtype = _torch_dtype(meta.get("dtype") or "float32")
    if not meta["use_lora"]:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=dtype, trust_remote_code=trust)
    else:
        from peft import PeftModel

        if (model_dir / BASE_DIR / "config.json").is_file():
            base = AutoModelForSequenceClassification.from_pretrained(model_dir / BASE_DIR, dtype=dtype,
                                                                      trust_remote_code=False)
        else:
            names = meta["output_names"]
            cfg = TextClassifierConfig.from_dict(
                {"task": meta["task"], "classes": names if meta["task"] in CLASS_TASKS else None,
                 "model_name_or_path": meta["base_model"], "dtype": meta.get("dtype") or "float32",
                 "use_lora": True, "lora": meta.get("lora") or {}, "quantization": meta.get("quantization"),
                 "ignore_classes": meta.get("ignore_classes") or [], "trust_remote_code": trust},
                source=str(model_dir / META_FILE))
            base = load_base_model(cfg, tokenizer)
        model = PeftModel.from_pretrained(base, model_dir, is_trainable=False)
    if meta.get("quantization") is None:
        model.to(device)
    model.eval()
    model.requires_grad_(False)
    return TextClassifier(model=model, tokenizer=tokenizer, meta=meta)
