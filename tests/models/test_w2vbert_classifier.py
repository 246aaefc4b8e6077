import json

import numpy as np
import pytest
import torch

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.models.attentive_pooling import AttentivePooling
from voxrecipes.models.w2vbert_classifier import W2VBertEmotionModel, make_feature_extractor


# ---------------------------------------------------------------- attentive pooling
@pytest.mark.parametrize("stats", [False, True])
def test_pooling_ignores_padding(stats):
    torch.manual_seed(0)
    pool = AttentivePooling(8, attention_dim=4, stats=stats).eval()
    a = torch.randn(1, 5, 8)
    b = torch.randn(1, 9, 8)
    batch = torch.full((2, 9, 8), float("nan"))  # padding holds garbage (NaN) on purpose
    batch[0, :5] = a[0]
    batch[1] = b[0]
    mask = torch.tensor([[1] * 5 + [0] * 4, [1] * 9], dtype=torch.bool)
    pooled = pool(batch, mask)
    assert torch.isfinite(pooled).all()
    torch.testing.assert_close(pooled[0], pool(a)[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pooled[1], pool(b)[0], rtol=1e-5, atol=1e-6)
    assert pooled.shape == (2, 16 if stats else 8)


def test_pooling_weights_sum_to_one_over_valid_frames():
    torch.manual_seed(1)
    pool = AttentivePooling(6, attention_dim=3)
    x = torch.randn(3, 7, 6)
    mask = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [1] + [0] * 6], dtype=torch.bool)
    w = pool.weights(x, mask)
    torch.testing.assert_close(w.sum(dim=1), torch.ones(3))
    assert (w[~mask] == 0).all()
    assert w[2, 0] == 1.0
    # the pooled mean is the weighted mean computed independently
    torch.testing.assert_close(pool(x, mask), torch.einsum("bt,btd->bd", w, x))


def test_pooling_rejects_empty_sequence():
    pool = AttentivePooling(4, attention_dim=2)
    with pytest.raises(ValueError, match="no valid frame"):
        pool(torch.randn(2, 3, 4), torch.tensor([[1, 1, 0], [0, 0, 0]], dtype=torch.bool))


# ---------------------------------------------------------------- the model
def tiny_config():
    from transformers import Wav2Vec2BertConfig

    return Wav2Vec2BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        output_hidden_size=32, conv_depthwise_kernel_size=3, mask_time_prob=0.0, layerdrop=0.0,
    )


def tiny_model(task="category", **kw):
    torch.manual_seed(0)
    return W2VBertEmotionModel(tiny_config(), num_outputs=10, task=task, lora_r=4, lora_alpha=4,
                               embedding_dim=16, attention_dim=8, **kw)


def features(n=4, seed=0):
    rng = np.random.default_rng(seed)
    fe = make_feature_extractor()
    waves = [rng.standard_normal(int(16000 * s)).astype("float32") * 0.1 for s in (0.6, 0.4, 0.5, 0.3)[:n]]
    out = fe(waves, sampling_rate=16000, return_tensors="pt", padding=True, return_attention_mask=True)
    return out["input_features"], out["attention_mask"]


def test_only_lora_and_head_trainable():
    model = tiny_model()
    names = model.trainable_parameter_names()
    assert names, "nothing trainable"
    for n in names:
        assert "lora_" in n or n.split(".")[0] in ("pooling", "dense", "batchnorm", "output"), n
    assert any("lora_A" in n for n in names) and any("lora_B" in n for n in names)
    lora_targets = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in names if "lora_" in n}
    assert lora_targets == {"linear_q", "linear_k", "linear_v", "linear_out"}
    backbone_params = [p for n, p in model.backbone.named_parameters() if "lora_" not in n]
    assert backbone_params and not any(p.requires_grad for p in backbone_params)


def test_forward_shapes_and_training_reduces_ce_with_frozen_backbone():
    model = tiny_model()
    x, m = features()
    logits, emb = model(x, m)
    assert logits.shape == (4, 10) and emb.shape == (4, 16)
    frozen_before = {n: p.detach().clone() for n, p in model.backbone.named_parameters() if "lora_" not in n}
    lora_before = {n: p.detach().clone() for n, p in model.backbone.named_parameters() if "lora_B" in n}
    y = torch.tensor([0, 3, 5, 9])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x, m)[0], y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    for n, p in model.backbone.named_parameters():
        if n in frozen_before:
            assert torch.equal(p, frozen_before[n]), n
    assert any(not torch.equal(p, lora_before[n]) for n, p in model.backbone.named_parameters() if n in lora_before)


def test_attribute_outputs_on_1_7_scale():
    model = tiny_model(task="attributes", attribute_output="bounded")
    with torch.no_grad():
        model.output.weight.mul_(1000.0)  # push far into saturation: still inside [1, 7]
    x, m = features()
    pred, emb = model(x, m)
    assert pred.shape == (4, 3)
    assert (pred >= 1.0).all() and (pred <= 7.0).all()
    assert pred.min() < 1.5 or pred.max() > 6.5  # saturation really reached the bounds


def test_paper_attribute_head_is_tanh_then_linear():
    """The paper's head (default): the softmax replaced by tanh, then Linear(3); its bias starts mid-scale."""
    model = tiny_model(task="attributes").eval()
    assert model.attribute_output == "linear"
    torch.testing.assert_close(model.output.bias, torch.full((3,), 4.0))
    x, m = features()
    with torch.no_grad():
        pred, emb = model(x, m)
        expected = torch.tanh(emb) @ model.output.weight.T + model.output.bias
        torch.testing.assert_close(pred, expected)
        model.output.weight.mul_(1000.0)  # unbounded: far outside the rating scale
        pred, _ = model(x, m)
    assert pred.min() < 1.0 or pred.max() > 7.0
    with pytest.raises(ConfigError, match="attribute_output"):
        tiny_model(task="attributes", attribute_output="sigmoid")


def test_save_reload_identical_outputs(tmp_path):
    model = tiny_model()
    x, m = features()
    # one training step so that adapters, head and BatchNorm statistics differ from their init
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    torch.nn.functional.cross_entropy(model(x, m)[0], torch.tensor([0, 1, 2, 3])).backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        ref_logits, ref_emb = model(x, m)
    out = tmp_path / "model"
    model.save_pretrained(out)
    files = {p.name for p in out.iterdir()} - {"README.md"}  # peft also writes a model card
    assert files == {"adapter_config.json", "adapter_model.safetensors", "backbone.safetensors", "config.json",
                     "head.safetensors"}
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in out.iterdir())
    meta = json.loads((out / "config.json").read_text())
    assert meta["task"] == "category" and meta["lora_r"] == 4 and meta["backbone_path"] is None
    torch.manual_seed(123)  # a different init must be fully overwritten
    loaded = W2VBertEmotionModel.from_pretrained(out).eval()
    with torch.no_grad():
        logits, emb = loaded(x, m)
    torch.testing.assert_close(logits, ref_logits)
    torch.testing.assert_close(emb, ref_emb)


def test_bad_config_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="task"):
        W2VBertEmotionModel(tiny_config(), task="regression")
    with pytest.raises(DataError, match="head.safetensors"):
        (tmp_path / "config.json").write_text("{}")
        (tmp_path / "adapter_model.safetensors").write_text("")
        W2VBertEmotionModel.from_pretrained(tmp_path)
