"""Chunk scoring with features computed to the batch's longest chunk (dynamic-padding models) against full padding.

The reference is the computation before this lever: Whisper features padded to the full
15 s input (``extract_features``), through the same model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import WhisperConfig

from voxrecipes.models.whisper_classifier import (
    WhisperTextInjectionClassifier,
    build_encoder,
    extract_features,
    make_feature_extractor,
)
from voxrecipes.tasks.toxicity import TrainedClassifier
from voxrecipes.tasks.toxicity_scoring import EDGE_SAMPLES, chunk_features, score_chunks

SR = 16000
CLASSES = ["Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation"]
MAX_SECONDS = 15.0
#: chunk lengths in samples: odd and even mel-frame counts, a frame boundary, the full input, longer than it
LENGTHS = (SR * 3 + 80, SR * 1 + 1, 160 * 401, int(SR * 0.5), SR * 15, SR * 16)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):  # tests/conftest.py
    yield


def _model(dynamic: bool) -> TrainedClassifier:
    torch.manual_seed(0)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                           num_mel_bins=80)
    model = WhisperTextInjectionClassifier(build_encoder(config, MAX_SECONDS), num_classes=6, proj_dim=8,
                                           text_dim=5, dynamic_padding=dynamic).eval()
    return TrainedClassifier(model, CLASSES, MAX_SECONDS, 80, None)


@pytest.fixture(scope="module")
def extractor():
    return make_feature_extractor(MAX_SECONDS, 80)


def _waves(lengths, seed=0):
    rng = np.random.default_rng(seed)
    # speech-like level changes, so that the per-clip normalisation (max - 8) matters
    return [(rng.uniform(0.01, 0.3) * rng.standard_normal(n)).astype(np.float32) for n in lengths]


@pytest.mark.parametrize("lengths", [LENGTHS[:4], LENGTHS[:1], LENGTHS[1:2], LENGTHS])
def test_features_equal_on_every_frame_the_encoder_reads(extractor, lengths):
    waves = _waves(lengths)
    full, full_lengths = extract_features(extractor, waves)
    short, short_lengths = chunk_features(_model(True), extractor, waves)
    assert short.shape == full.shape and torch.equal(short_lengths, full_lengths)
    used = int(full_lengths.max()) + int(full_lengths.max()) % 2  # what the dynamic encoder reads
    assert torch.equal(short[:, :, :used], full[:, :, :used])
    if max(lengths) + EDGE_SAMPLES < SR * MAX_SECONDS:  # computed to the longest chunk only, zeros after
        computed = (max(lengths) + EDGE_SAMPLES) // 160
        assert torch.count_nonzero(short[:, :, computed:]) == 0


def test_padded_model_keeps_full_features(extractor):
    waves = _waves(LENGTHS[:3])
    full, lengths = extract_features(extractor, waves)
    same, same_lengths = chunk_features(_model(False), extractor, waves)
    assert torch.equal(same, full) and torch.equal(same_lengths, lengths)


@pytest.mark.parametrize("dynamic", [True, False])
def test_scores_agree_with_full_padding(extractor, dynamic):
    trained = _model(dynamic)
    waves = _waves(LENGTHS[:4], seed=1)
    features, lengths = extract_features(extractor, waves)
    with torch.no_grad():
        padded = torch.sigmoid(trained.model(features, lengths)[0]).numpy()
    scores = score_chunks(trained, waves, extractor)
    np.testing.assert_allclose(scores, padded, atol=1e-6, rtol=0)


def test_bad_chunk_is_an_error(extractor):
    with pytest.raises(ValueError, match="waveform 1 must be a non-empty 1-D array"):
        chunk_features(_model(True), extractor, [np.zeros(SR, np.float32), np.zeros(0, np.float32)])
