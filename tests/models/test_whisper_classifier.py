"""masked_mean pooling, the 15 s Whisper encoder and the text-injection classifier (tiny random configs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from voxrecipes.errors import ConfigError
from voxrecipes.models.pooling import lengths_to_mask, masked_mean
from voxrecipes.models.whisper_classifier import (
    WhisperTextInjectionClassifier,
    build_encoder,
    encoder_lengths,
    extract_features,
    make_feature_extractor,
)


def tiny_config(**kw) -> WhisperConfig:
    base = dict(d_model=64, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128, decoder_layers=1,
                decoder_attention_heads=2, decoder_ffn_dim=128, num_mel_bins=80, vocab_size=100,
                max_source_positions=1500, max_target_positions=32, dropout=0.0, pad_token_id=0,
                bos_token_id=1, eos_token_id=2, decoder_start_token_id=3, begin_suppress_tokens=None,
                suppress_tokens=None)
    base.update(kw)
    return WhisperConfig(**base)


def test_masked_mean_matches_loop_over_unpadded():
    torch.manual_seed(0)
    lengths = torch.tensor([5, 1, 9, 3])
    x = torch.randn(4, 9, 6)
    x[0, 5:] = 1e3  # padding garbage must not leak in
    expected = torch.stack([x[b, : int(n)].mean(dim=0) for b, n in enumerate(lengths)])
    torch.testing.assert_close(masked_mean(x, lengths=lengths), expected)
    torch.testing.assert_close(masked_mean(x, mask=lengths_to_mask(lengths, 9)), expected)
    torch.testing.assert_close(masked_mean(x, mask=lengths_to_mask(lengths, 9).long()), expected)


def test_masked_mean_gradient_zero_on_padding():
    x = torch.randn(2, 4, 3, requires_grad=True)
    masked_mean(x, lengths=torch.tensor([2, 4])).sum().backward()
    assert torch.all(x.grad[0, 2:] == 0)
    torch.testing.assert_close(x.grad[0, :2], torch.full((2, 3), 0.5))


@pytest.mark.parametrize("lengths", [[0, 2], [5, 2]])
def test_masked_mean_bad_lengths(lengths):
    with pytest.raises(ValueError):
        masked_mean(torch.zeros(2, 4, 3), lengths=torch.tensor(lengths))


def test_build_encoder_from_config_sets_positions():
    cfg = tiny_config()
    enc = build_encoder(cfg, max_seconds=15)
    assert enc.config.max_source_positions == 750 and enc.embed_positions.weight.shape == (750, 64)
    assert cfg.max_source_positions == 1500  # caller's config untouched
    full = build_encoder(cfg, max_seconds=30)
    torch.testing.assert_close(enc.embed_positions.weight, full.embed_positions.weight[:750])


def test_build_encoder_from_pretrained_slices_position_table(tmp_path):
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(tiny_config())
    with torch.no_grad():  # a "learned" table, so that equality cannot come from re-initialised sinusoids
        model.model.encoder.embed_positions.weight.normal_()
    model.save_pretrained(tmp_path / "ckpt")
    src = model.model.encoder
    enc = build_encoder(str(tmp_path / "ckpt"), max_seconds=15)
    assert enc.embed_positions.weight.shape == (750, 64)
    torch.testing.assert_close(enc.embed_positions.weight, src.embed_positions.weight[:750])
    torch.testing.assert_close(enc.layers[1].fc2.weight, src.layers[1].fc2.weight)
    torch.testing.assert_close(enc.conv2.weight, src.conv2.weight)
    assert not enc.embed_positions.weight.requires_grad
    with pytest.raises(ConfigError):
        build_encoder(str(tmp_path / "ckpt"), max_seconds=31)


def test_feature_extractor_pads_to_15s():
    ext = make_feature_extractor(15)
    rng = np.random.default_rng(0)
    feats, lengths = extract_features(ext, [rng.normal(size=16000).astype(np.float32) * 0.1,
                                            rng.normal(size=20 * 16000).astype(np.float32) * 0.1])
    assert feats.shape == (2, 80, 1500)
    assert lengths.tolist() == [100, 1500]
    assert encoder_lengths(lengths, 750).tolist() == [50, 750]
    assert encoder_lengths(torch.tensor([1, 2, 3, 1499]), 750).tolist() == [1, 1, 2, 750]
    with pytest.raises(ValueError):
        extract_features(ext, [np.zeros(0, dtype=np.float32)])


def _model(seed: int = 0, **kw) -> WhisperTextInjectionClassifier:
    torch.manual_seed(seed)
    return WhisperTextInjectionClassifier(build_encoder(tiny_config(), 15), num_classes=6, proj_dim=32,
                                          text_dim=kw.get("text_dim", 24)).eval()


def test_forward_shapes_and_layers():
    model = _model()
    feats = torch.randn(3, 80, 1500)
    lengths = torch.tensor([1500, 700, 90])
    logits, x = model(feats, lengths)
    assert logits.shape == (3, 6) and x is None
    for layer in (-1, 1, 2):
        logits2, x = model(feats, lengths, injection_layer=layer)
        assert x.shape == (3, 24)
        torch.testing.assert_close(logits2, logits)
    _, x_last = model(feats, lengths, injection_layer=-1)
    _, x_2 = model(feats, lengths, injection_layer=2)
    _, x_1 = model(feats, lengths, injection_layer=1)
    torch.testing.assert_close(x_last, x_2)
    assert not torch.allclose(x_1, x_2)
    with pytest.raises(ConfigError):
        model(feats, lengths, injection_layer=3)


def test_padding_frames_do_not_change_pooled_output():
    model = _model()
    ext = make_feature_extractor(15)
    rng = np.random.default_rng(1)
    short = rng.normal(size=3 * 16000).astype(np.float32) * 0.1
    others = [rng.normal(size=n * 16000).astype(np.float32) * 0.1 for n in (15, 9)]
    f1, l1 = extract_features(ext, [short])
    fb, lb = extract_features(ext, [others[0], short, others[1]])
    with torch.no_grad():
        alone = model(f1, l1, injection_layer=1)
        batched = model(fb, lb, injection_layer=1)
    torch.testing.assert_close(batched[0][1:2], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched[1][1:2], alone[1], atol=1e-5, rtol=1e-5)
    # and the pooled mean really excludes the padding: the plain mean over all 750 frames differs
    with torch.no_grad():
        hidden = model.encoder(f1).last_hidden_state
        masked = masked_mean(model.projector(hidden), lengths=encoder_lengths(l1, 750))
        plain = model.projector(hidden).mean(dim=1)
        torch.testing.assert_close(model.classifier(masked), alone[0])
    assert not torch.allclose(masked, plain, atol=1e-3)


def test_adam_steps_reduce_bce():
    model = _model(seed=3).train()
    torch.manual_seed(3)
    feats = torch.randn(8, 80, 1500)
    lengths = torch.randint(100, 1501, (8,))
    targets = (torch.rand(8, 6) > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        logits, _ = model(feats, lengths)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_dynamic_padding_equals_an_encoder_of_the_clip_length():
    """A clip alone: the encoder of its own length (HF, no padding); batched with longer clips: the same output."""
    torch.manual_seed(0)
    encoder = build_encoder(tiny_config(), 15)
    model = WhisperTextInjectionClassifier(encoder, num_classes=6, proj_dim=32, text_dim=24,
                                           dynamic_padding=True).eval()
    ext = make_feature_extractor(15)
    rng = np.random.default_rng(2)
    short = rng.normal(size=3 * 16000).astype(np.float32) * 0.1
    others = [rng.normal(size=n * 16000).astype(np.float32) * 0.1 for n in (7, 5)]
    f1, l1 = extract_features(ext, [short])
    fb, lb = extract_features(ext, [others[0], short, others[1]])
    assert int(l1[0]) == 300
    # reference: transformers' WhisperEncoder built for 3 s (150 positions), same weights
    three = build_encoder(tiny_config(), 3)
    state = encoder.state_dict()
    state["embed_positions.weight"] = state["embed_positions.weight"][:150]
    three.load_state_dict(state)
    with torch.no_grad():
        hidden, valid = model.encode(f1, l1)
        reference = three(f1[:, :, :300], output_hidden_states=True)
        assert hidden[-1].shape == (1, 150, 64) and valid.tolist() == [150]
        torch.testing.assert_close(hidden[-1], reference.last_hidden_state, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(hidden[1], reference.hidden_states[1], atol=1e-5, rtol=1e-5)
        alone = model(f1, l1, injection_layer=1)
        batched = model(fb, lb, injection_layer=1)
    torch.testing.assert_close(batched[0][1:2], alone[0], atol=1e-4, rtol=1e-4)  # float rounding of the batch
    torch.testing.assert_close(batched[1][1:2], alone[1], atol=1e-4, rtol=1e-4)
    # a full 15 s batch has no padding: the same result as the fixed-length (paper) path
    fixed = WhisperTextInjectionClassifier(encoder, num_classes=6, proj_dim=32, text_dim=24).eval()
    fixed.load_state_dict(model.state_dict())
    full, lf = extract_features(ext, [rng.normal(size=16 * 16000).astype(np.float32) * 0.1])
    with torch.no_grad():
        torch.testing.assert_close(model(full, lf)[0], fixed(full, lf)[0], atol=1e-5, rtol=1e-5)
        # while a short clip differs: in the fixed path the padding takes part in attention
        assert not torch.allclose(model(f1, l1)[0], fixed(f1, l1)[0], atol=1e-4)


@pytest.mark.parametrize("dynamic", [False, True])
def test_freeze_layers_trains_only_the_layers_above(dynamic):
    torch.manual_seed(0)
    model = WhisperTextInjectionClassifier(build_encoder(tiny_config(), 15), num_classes=6, proj_dim=32,
                                           text_dim=24, freeze_layers=1, dynamic_padding=dynamic).train()
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {name for name, _ in model.named_parameters()
                      if name.startswith(("encoder.conv1.", "encoder.conv2.", "encoder.layers.0.",
                                          "encoder.embed_positions."))}
    logits, x = model(torch.randn(2, 80, 1500), torch.tensor([1500, 400]), injection_layer=-1)
    (logits.sum() + x.sum()).backward()
    for name, p in model.named_parameters():
        assert (p.grad is None) == (name in frozen), name
    with pytest.raises(ConfigError, match="freeze_layers"):
        WhisperTextInjectionClassifier(build_encoder(tiny_config(), 15), freeze_layers=3)
