"""The Whisper-encoder emotion model: LoRA parameter sets, positions used, batch independence, training, reload.

A tiny random ``WhisperConfig`` stands in for Whisper-base; the encoder is built by the
toxicity model's ``build_encoder``. The reference for the dynamic-length encoder is
transformers' own ``WhisperEncoder.forward`` on an encoder whose position table is
exactly the clip's length (so that it accepts the clip unpadded).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.models.emotion_base import EmotionModelBase
from voxrecipes.models.w2vbert_classifier import W2VBertEmotionModel
from voxrecipes.models.whisper_emotion import WhisperEmotionModel, WhisperFrontend

SR = 16000


def tiny_config() -> WhisperConfig:
    return WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                         decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80,
                         vocab_size=100, max_source_positions=1500, dropout=0.0, pad_token_id=0, bos_token_id=1,
                         eos_token_id=2, decoder_start_token_id=3)


def tiny_model(task: str = "category", **kw) -> WhisperEmotionModel:
    torch.manual_seed(0)
    kw.setdefault("max_seconds", 4)
    return WhisperEmotionModel(tiny_config(), num_outputs=10, task=task, lora_r=4, lora_alpha=4, embedding_dim=16,
                               attention_dim=8, **kw)


def waves(seconds=(0.61, 1.0, 0.33, 0.8), seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(SR * s))).astype(np.float32) for s in seconds]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):  # tests/conftest.py
    yield


def test_lora_on_attention_projections_only_and_frozen_backbone():
    model = tiny_model()
    names = model.trainable_parameter_names()
    lora = [n for n in names if "lora_" in n]
    head = [n for n in names if "lora_" not in n]
    targets = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in lora}
    assert targets == {"q_proj", "k_proj", "v_proj", "out_proj"}
    assert len(lora) == 2 * 4 * 2  # A and B, 4 projections, 2 layers
    assert {n.split(".")[0] for n in head} == {"pooling", "dense", "batchnorm", "output"}
    frozen = [n for n, p in model.backbone.named_parameters() if "lora_" not in n]
    assert frozen and not any(p.requires_grad for n, p in model.backbone.named_parameters() if n in frozen)
    assert model.base_model.embed_positions.weight.shape == (200, 32)  # max_seconds 4 -> 200 positions


def test_frontend_features_and_mask():
    frontend = WhisperFrontend(80, max_seconds=1.0)
    ws = waves((0.61, 2.5, 0.33))
    feats, mask = frontend(ws)
    # 100 mel frames a second; the 2.5 s clip is cut to max_seconds
    assert feats.shape == (3, 80, 100) and mask.sum(1).tolist() == [61, 100, 33]
    alone = frontend.extractor(ws[0], sampling_rate=SR, padding="longest", truncation=False, return_tensors="np")
    np.testing.assert_allclose(feats[0, :, :61].numpy(), alone["input_features"][0], rtol=0, atol=0)
    assert (feats[0, :, 61:] == 0).all()
    with pytest.raises(ValueError, match="waveform 1"):
        frontend([ws[0], np.zeros(0, np.float32)])


def test_encoder_uses_only_needed_positions_and_matches_transformers():
    """A clip alone through encode() == transformers' WhisperEncoder sized exactly to the clip."""
    model = tiny_model().eval()
    frontend = model.frontend()
    clip = waves((0.6,))
    feats, mask = frontend(clip)
    frames = feats.shape[-1]
    assert frames == 60
    with torch.no_grad():
        hidden, out_mask = model.encode(feats, mask)
        assert hidden.shape == (1, 30, 32) and out_mask.all()
        # reference: the same weights (adapters merged: B is zero at init, so merging changes nothing) in an
        # encoder whose table holds exactly 30 positions, run by transformers itself
        config = WhisperConfig.from_dict(model.backbone_config.to_dict())
        config.max_source_positions = frames // 2
        reference = WhisperEncoder(config).eval()
        state = {k.replace(".base_layer", ""): v for k, v in model.base_model.state_dict().items() if "lora_" not in k}
        state["embed_positions.weight"] = state["embed_positions.weight"][: frames // 2]
        reference.load_state_dict(state)
        expected = reference(feats).last_hidden_state
    torch.testing.assert_close(hidden, expected, rtol=1e-5, atol=1e-5)


def test_output_does_not_depend_on_the_batch():
    model = tiny_model().eval()
    frontend = model.frontend()
    ws = waves()
    feats, mask = frontend(ws)
    with torch.no_grad():
        logits, emb = model(feats, mask)
        assert logits.shape == (4, 10) and emb.shape == (4, 16)
        for i, w in enumerate(ws):
            f, m = frontend([w])
            one_logits, one_emb = model(f, m)
            torch.testing.assert_close(one_emb[0], emb[i], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(one_logits[0], logits[i], rtol=1e-5, atol=1e-5)
    too_long = torch.zeros(1, 80, 402)
    with pytest.raises(ValueError, match="exceed"):
        model(too_long, torch.ones(1, 402))


def test_training_steps_move_adapters_and_head_only():
    model = tiny_model()
    feats, mask = model.frontend()(waves())
    y = torch.tensor([0, 3, 5, 9])
    frozen = {n: p.detach().clone() for n, p in model.backbone.named_parameters() if "lora_" not in n}
    lora_b = {n: p.detach().clone() for n, p in model.backbone.named_parameters() if "lora_B" in n}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(feats, mask)[0], y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    for n, p in model.backbone.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    assert all(not torch.equal(p, lora_b[n]) for n, p in model.backbone.named_parameters() if n in lora_b)


@pytest.mark.parametrize("task", ["category", "attributes"])
def test_save_reload_same_embeddings(tmp_path, task):
    model = tiny_model(task)
    feats, mask = model.frontend()(waves())
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    out, _ = model(feats, mask)
    (out.square().mean()).backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        ref_out, ref_emb = model(feats, mask)
    model.save_pretrained(tmp_path / "m", metadata={"output_names": list("ASHUFDCNOX")})
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["model"] == "WhisperEmotionModel" and meta["max_seconds"] == 4.0 and meta["backbone_path"] is None
    assert meta["target_modules"] == ["q_proj", "k_proj", "v_proj", "out_proj"]
    assert (tmp_path / "m" / "backbone.safetensors").is_file()
    torch.manual_seed(99)  # another init must be overwritten entirely
    for loader in (EmotionModelBase, WhisperEmotionModel):
        again = loader.from_pretrained(tmp_path / "m").eval()
        assert isinstance(again, WhisperEmotionModel) and again.task == task
        with torch.no_grad():
            out, emb = again(feats, mask)
        torch.testing.assert_close(emb, ref_emb, rtol=0, atol=0)
        torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    with pytest.raises(DataError, match="not a W2VBertEmotionModel"):
        W2VBertEmotionModel.from_pretrained(tmp_path / "m")


def test_models_saved_before_attribute_output_reload_bounded(tmp_path):
    model = tiny_model("attributes", attribute_output="bounded")
    model.eval().save_pretrained(tmp_path / "m")
    config = tmp_path / "m" / "config.json"
    meta = json.loads(config.read_text())
    del meta["attribute_output"]
    config.write_text(json.dumps(meta))
    assert EmotionModelBase.from_pretrained(tmp_path / "m").attribute_output == "bounded"


def test_bad_config():
    with pytest.raises(ConfigError, match="max_seconds"):
        WhisperEmotionModel(tiny_config(), max_seconds=0.011)
    with pytest.raises(ConfigError, match="task"):
        WhisperEmotionModel(tiny_config(), task="regression")
