"""The validated config of the text classifier (the model part of a ``train_text_*.yaml``).

Kept apart from building and export so that the stages can read and check a config
without importing torch or transformers.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field, fields

from voxrecipes.errors import ConfigError
from voxrecipes.labels import ATTRIBUTES, EMOTION_CLASSES, PSEUDO_CLASSES
from voxrecipes.models.text_encoder import PACKAGE_SCHEME

#: the eight MSP-Podcast primary emotions, in the challenge's order
CATEGORY_CLASSES = EMOTION_CLASSES
TASKS = ("category", "attributes", "multilabel")
#: tasks whose outputs are named classes (``classes``)
CLASS_TASKS = ("category", "multilabel")
#: the base model recorded in an export of a model built from ``model_config``
BUILT_FROM_CONFIG = "built from config"
DTYPES = ("float32", "bfloat16", "float16")
#: what the head reads: ``cls`` the model's own sequence-classification head (BERT's pooler on [CLS],
#: RoBERTa's first token, LLaMA's last token); ``mean`` the masked mean of the last hidden states
#: (:mod:`voxrecipes.models.text_classifier.mean_pooling`)
POOLINGS = ("cls", "mean")


@dataclass
class TextClassifierConfig:
    """The model part of a ``train_text_*.yaml`` (``training_args`` is read by the task).

    Exactly one of ``model_name_or_path`` and ``model_config`` is given. ``lora`` keys:
    ``r``, ``alpha``, ``dropout``, ``target_modules`` (``null``: peft's default for the
    architecture), ``modules_to_save`` (extra modules trained in full and saved with the
    adapters; the head is always one), ``bias``. ``quantization`` keys: ``load_in_4bit``,
    ``quant_type`` (nf4), ``double_quant``, ``compute_dtype`` (bfloat16). ``pooling``: what
    the head reads (:data:`POOLINGS`; ``cls``, the default, is the model's own head).
    ``head_learning_rate``: the head's own learning rate (the rest of the model trains at
    ``training_args.learning_rate``; the same schedule scales both); ``null``: one rate for all.
    A new head on a pretrained encoder may need a much higher rate than the encoder can take.
    """

    task: str = "category"
    classes: list[str] | None = None
    model_name_or_path: str | None = None
    model_config: dict | None = None
    tokenizer_name_or_path: str | None = None
    max_length: int = 128
    dtype: str = "float32"
    pooling: str = "cls"
    head_learning_rate: float | None = None
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
        if self.pooling not in POOLINGS:
            raise ConfigError(f"{source}: pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.pooling == "mean" and self.quantization is not None:
            raise ConfigError(f"{source}: pooling: mean is not supported with a 4-bit quantized base "
                              "(quantization); use pooling: cls")
        if self.head_learning_rate is not None and (
                not isinstance(self.head_learning_rate, (int, float)) or isinstance(self.head_learning_rate, bool)
                or not self.head_learning_rate > 0):
            raise ConfigError(f"{source}: head_learning_rate must be a positive number or null, got "
                              f"{self.head_learning_rate!r} (YAML 1.1 reads 2e-2 as a string: write 0.02)")
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
