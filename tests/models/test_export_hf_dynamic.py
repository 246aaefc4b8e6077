"""Hugging Face export of a model trained with dynamic padding: score_with_hf crops each clip to its own frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor, WhisperConfig, WhisperForAudioClassification

from voxrecipes.labels import TOXICITY_CLASSES
from voxrecipes.models.export_hf import (
    DYNAMIC_PADDING_KEY,
    export_hf,
    measure_agreement,
    probe_waveforms,
    score_plain_hf,
    score_with_hf,
)
from voxrecipes.models.whisper_classifier import (
    WhisperTextInjectionClassifier,
    build_encoder,
    extract_features,
    make_feature_extractor,
)

CLASSES = list(TOXICITY_CLASSES)
#: clip lengths: full, short, odd mel-frame count (3.01 s = 301 frames), longer than the input, very short
SECONDS = [15.0, 3.0, 3.01, 9.7, 20.0, 0.3]


def _model(dynamic: bool) -> WhisperTextInjectionClassifier:
    torch.manual_seed(0)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                           num_mel_bins=80, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64,
                           vocab_size=100, dropout=0.0, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                           decoder_start_token_id=3)
    model = WhisperTextInjectionClassifier(build_encoder(config, 15), num_classes=6, proj_dim=16, text_dim=8,
                                           dynamic_padding=dynamic)
    with torch.no_grad():  # trained-looking weights: a learned position table and non-zero biases
        model.encoder.embed_positions.weight.normal_()
        model.classifier.bias.normal_()
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.set_num_threads(1)
    model = _model(dynamic=True)
    out = export_hf(model, CLASSES, tmp_path_factory.mktemp("export") / "hf")
    hf = WhisperForAudioClassification.from_pretrained(out).eval()
    return model, out, hf, AutoFeatureExtractor.from_pretrained(out)


def test_dynamic_padding_is_recorded(exported, tmp_path):
    _, out, hf, _ = exported
    config = json.loads((out / "config.json").read_text())
    assert config[DYNAMIC_PADDING_KEY] is True and "dynamic padding" in config["voxrecipes_pooling"]
    assert getattr(hf.config, DYNAMIC_PADDING_KEY) is True
    padded = json.loads((export_hf(_model(dynamic=False), CLASSES, tmp_path / "padded") / "config.json").read_text())
    assert padded[DYNAMIC_PADDING_KEY] is False and "dynamic padding" not in padded["voxrecipes_pooling"]


def test_score_with_hf_agrees_with_the_dynamic_model(exported):
    model, _, hf, extractor = exported
    waves = probe_waveforms(SECONDS, seed=2)
    features, lengths = extract_features(make_feature_extractor(15), waves)
    with torch.no_grad():
        mine = torch.sigmoid(model(features, lengths)[0])  # ours, batched with padding masked out
        alone = torch.cat([torch.sigmoid(model(features[i:i + 1], lengths[i:i + 1])[0]) for i in range(len(waves))])
    # batched, a short clip's last frames see the padding's feature values through the convolutions (kernel 3),
    # where alone they see the convolutions' zero padding: a difference of a few 1e-5
    torch.testing.assert_close(mine, alone, atol=1e-4, rtol=0)
    # score_with_hf runs each clip alone, as ours does on a clip alone
    torch.testing.assert_close(score_with_hf(hf, extractor, waves), alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(score_with_hf(hf, extractor, waves[2]), alone[2], atol=1e-5, rtol=0)
    # the plain HF call: right for clips without padding, wrong for short ones (padding attends)
    plain = score_plain_hf(hf, extractor, waves)
    torch.testing.assert_close(plain[[0, 4]], mine[[0, 4]], atol=1e-5, rtol=0)
    assert all((plain[i] - mine[i]).abs().max() > 1e-3 for i in (1, 3, 5))
    rows = measure_agreement(model, hf, extractor, waves)
    assert max(r["score_with_hf_max_abs_diff"] for r in rows) < 1e-4  # ours batched (see above)


def test_cropped_encoder_is_the_plain_encoder_on_a_clip_of_its_own_length(exported):
    """Independent reference: transformers' WhisperEncoder.forward on an encoder whose table is the clip's length."""
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from voxrecipes.models.export_hf import encode_cropped

    _, _, hf, extractor = exported
    wave = probe_waveforms([4.0], seed=3)[0]
    features = extractor(wave, sampling_rate=16000, return_tensors="pt").input_features
    config = WhisperConfig.from_dict(hf.encoder.config.to_dict())
    config.max_source_positions = 200  # 4 s
    short = WhisperEncoder(config).eval()
    state = hf.encoder.state_dict()
    state["embed_positions.weight"] = state["embed_positions.weight"][:200]
    short.load_state_dict(state)
    with torch.no_grad():
        expected = short(features[:, :, :400]).last_hidden_state
        got = encode_cropped(hf.encoder, features, 400)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert np.isfinite(got.numpy()).all()
