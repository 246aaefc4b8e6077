"""mask_conv_padding: with dynamic padding, a clip's scores do not depend on the clips it is batched with."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor, WhisperConfig, WhisperForAudioClassification

from voxrecipes.errors import ConfigError
from voxrecipes.labels import TOXICITY_CLASSES
from voxrecipes.models.export_hf import MASK_CONV_PADDING_KEY, export_hf, probe_waveforms, score_with_hf
from voxrecipes.models.whisper_classifier import (
    WhisperTextInjectionClassifier,
    build_encoder,
    extract_features,
    make_feature_extractor,
)

#: a full clip, a short one, odd mel-frame counts (3.01 s = 301 frames, 0.33 s), a middle one
SECONDS = [15.0, 3.0, 3.01, 9.7, 0.33]


def _model(mask: bool) -> WhisperTextInjectionClassifier:
    torch.manual_seed(0)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                           num_mel_bins=80, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64,
                           vocab_size=100, dropout=0.0, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                           decoder_start_token_id=3)
    model = WhisperTextInjectionClassifier(build_encoder(config, 15), num_classes=6, proj_dim=16, text_dim=8,
                                           dynamic_padding=True, mask_conv_padding=mask)
    with torch.no_grad():  # trained-looking weights: a learned position table, non-zero biases, larger convs
        model.encoder.embed_positions.weight.normal_()
        model.classifier.bias.normal_()
        model.encoder.conv1.weight.mul_(20.0)
    return model.eval()


@pytest.fixture(scope="module")
def inputs():
    torch.set_num_threads(1)
    waves = probe_waveforms(SECONDS, seed=3)
    features, lengths = extract_features(make_feature_extractor(15), waves)
    return waves, features, lengths


def _batched_and_alone(model, features, lengths):
    with torch.no_grad():
        batched = torch.sigmoid(model(features, lengths)[0])
        alone = torch.cat([torch.sigmoid(model(features[i:i + 1], lengths[i:i + 1])[0])
                           for i in range(len(lengths))])
    return batched, alone


def test_masked_scores_do_not_depend_on_the_batch(inputs):
    _, features, lengths = inputs
    masked_batched, masked_alone = _batched_and_alone(_model(mask=True), features, lengths)
    plain_batched, plain_alone = _batched_and_alone(_model(mask=False), features, lengths)
    masked_diff = (masked_batched - masked_alone).abs().max().item()
    plain_diff = (plain_batched - plain_alone).abs().max().item()
    assert masked_diff < 1e-6, masked_diff  # float rounding only
    assert plain_diff > 100 * masked_diff, (plain_diff, masked_diff)  # the unmasked front end reads the padding
    # the full-length clip has no padding: both modes agree on it (the weights are the same)
    torch.testing.assert_close(masked_batched[0], plain_alone[0], atol=1e-6, rtol=0)


def test_a_clip_alone_with_an_even_frame_count_is_unchanged_by_the_mask(inputs):
    """Alone, an even-length clip reads no padding: the mask changes nothing; an odd one sees one zero frame."""
    _, features, lengths = inputs
    masked, plain = _model(mask=True), _model(mask=False)
    assert int(lengths[1]) == 300 and int(lengths[2]) == 301
    with torch.no_grad():
        even = [m.encode(features[1:2], lengths[1:2])[0][-1] for m in (masked, plain)]
        torch.testing.assert_close(even[0], even[1], atol=0, rtol=0)
        # odd: conv1 on the clip's 301 frames alone, then one zero frame appended for conv2's stride 2
        enc = plain.encoder
        x = torch.nn.functional.gelu(enc.conv1(features[2:3, :, :301]))
        x = torch.nn.functional.pad(x, (0, 1))
        x = torch.nn.functional.gelu(enc.conv2(x)).permute(0, 2, 1)
        reference = masked.encode(features[2:3], lengths[2:3])[0][0]
        torch.testing.assert_close(reference, x + enc.embed_positions.weight[:151], atol=1e-6, rtol=0)


def test_mask_needs_dynamic_padding():
    encoder = build_encoder(WhisperConfig(d_model=16, encoder_layers=1, encoder_attention_heads=2,
                                          encoder_ffn_dim=16, num_mel_bins=80), 2)
    with pytest.raises(ConfigError, match="mask_conv_padding needs dynamic_padding"):
        WhisperTextInjectionClassifier(encoder, num_classes=2, proj_dim=4, text_dim=4, mask_conv_padding=True)


def test_hf_export_records_the_mask_and_scores_as_ours(inputs, tmp_path):
    waves, features, lengths = inputs
    model = _model(mask=True)
    out = export_hf(model, list(TOXICITY_CLASSES), tmp_path / "hf")
    assert json.loads((out / "config.json").read_text())[MASK_CONV_PADDING_KEY] is True
    hf = WhisperForAudioClassification.from_pretrained(out).eval()
    batched, _ = _batched_and_alone(model, features, lengths)
    theirs = score_with_hf(hf, AutoFeatureExtractor.from_pretrained(out), waves)
    np.testing.assert_allclose(theirs.numpy(), batched.numpy(), atol=1e-5, rtol=0)
    plain = export_hf(_model(mask=False), list(TOXICITY_CLASSES), tmp_path / "plain")
    assert json.loads((plain / "config.json").read_text())[MASK_CONV_PADDING_KEY] is False
