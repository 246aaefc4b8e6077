"""Export and reload of a trained text classifier (a complete model directory or nothing).

The directory holds the tokenizer, ``text_classifier.json`` (task, output names, base
model, max length, training class counts, target scaling) and either the full model (no
LoRA) or the LoRA adapters + head (``adapter_model.safetensors``) and, when the base was
built from a config (random weights), the base weights under ``base/`` so that the export
reloads exactly. ``trust_remote_code`` is off unless the config turned it on.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxrecipes.errors import ConfigError
from voxrecipes.models.text_classifier.build import load_base_model, load_tokenizer, torch_dtype
from voxrecipes.models.text_classifier.config import CLASS_TASKS, TextClassifierConfig
from voxrecipes.models.text_encoder import pick_device

#: the export's metadata file
META_FILE = "text_classifier.json"
META_VERSION = 1
#: where an export keeps the base weights of a model built from a config
BASE_DIR = "base"


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
            "max_length": cfg.max_length, "pooling": cfg.pooling,
            "ignore_classes": cfg.ignore_classes if cfg.task == "category" else None,
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


def _load_saved(directory: Path, pooling: str, dtype: Any, trust: bool) -> Any:
    """A whole classifier saved with ``save_pretrained`` (a full export, or a config-built base)."""
    if pooling == "mean":
        from voxrecipes.models.text_classifier.mean_pooling import MeanPoolClassifier

        return MeanPoolClassifier.from_pretrained(directory, dtype=dtype)
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(directory, dtype=dtype, trust_remote_code=trust)


def load_text_classifier(model_dir: str | os.PathLike, *, device: str | None = "cpu") -> TextClassifier:
    """Reload an export for inference (eval mode, gradients off)."""
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    device = pick_device(device)
    trust = bool(meta.get("trust_remote_code", False))
    tokenizer = load_tokenizer(str(model_dir), trust_remote_code=trust)
    dtype = torch_dtype(meta.get("dtype") or "float32")
    pooling = meta.get("pooling") or "cls"  # exports from before the option: the model's own head
    if not meta["use_lora"]:
        model = _load_saved(model_dir, pooling, dtype, trust)
    else:
        from peft import PeftModel

        if (model_dir / BASE_DIR / "config.json").is_file():
            base = _load_saved(model_dir / BASE_DIR, pooling, dtype, False)
        else:
            names = meta["output_names"]
            cfg = TextClassifierConfig.from_dict(
                {"task": meta["task"], "classes": names if meta["task"] in CLASS_TASKS else None,
                 "model_name_or_path": meta["base_model"], "dtype": meta.get("dtype") or "float32",
                 "pooling": pooling, "use_lora": True, "lora": meta.get("lora") or {},
                 "quantization": meta.get("quantization"),
                 "ignore_classes": meta.get("ignore_classes") or [], "trust_remote_code": trust},
                source=str(model_dir / META_FILE))
            base = load_base_model(cfg, tokenizer)
        model = PeftModel.from_pretrained(base, model_dir, is_trainable=False)
    if meta.get("quantization") is None:
        model.to(device)
    model.eval()
    model.requires_grad_(False)
    return TextClassifier(model=model, tokenizer=tokenizer, meta=meta)
