"""The toxicity paper's training options in the real recipe's config: Adam with coupled weight decay 0.1, the
contrastive loss summed over the batch (eq. 5), and the effective global batch in the training log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from voxrecipes.tasks.toxicity import ToxicityTask, effective_batch

CLASSES = ["Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation"]
ROOT = Path(__file__).resolve().parents[2]
REAL_CONFIG = ROOT / "egs/voice_toxicity/tox1/conf/train_toxicity.yaml"
MINI_CONFIG = ROOT / "egs/mini_toxicity/tox1/conf/train_toxicity.yaml"


def _args(config: Path, *extra: str):
    """The options ESPnet's parser makes of a recipe config (the YAML values become the defaults)."""
    return ToxicityTask.get_parser().parse_args(["--config", str(config), *extra])


@pytest.fixture(scope="module")
def tiny_model():
    from transformers import WhisperConfig

    from voxrecipes.models.whisper_classifier import WhisperTextInjectionClassifier, build_encoder
    from voxrecipes.tasks.toxicity_model import ToxicityESPnetModel

    def make(**kwargs):
        torch.manual_seed(0)
        config = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                               num_mel_bins=80)
        classifier = WhisperTextInjectionClassifier(build_encoder(config, 2), num_classes=6, proj_dim=8, text_dim=5)
        return ToxicityESPnetModel(classifier, CLASSES, **kwargs)
    return make


def test_real_config_builds_adam_with_coupled_weight_decay(tiny_model, caplog):
    args = _args(REAL_CONFIG)
    assert (args.optim, args.contrastive_reduction) == ("adam", "sum")
    model = tiny_model()
    with caplog.at_level(logging.INFO, logger="voxrecipes.tasks.toxicity"):
        (optimizer,) = ToxicityTask.build_optimizers(args, model)
    assert type(optimizer) is torch.optim.Adam
    assert all((g["lr"], g["eps"], g["weight_decay"]) == (3e-5, 1e-8, 0.1) for g in optimizer.param_groups)
    # coupled L2: with a zero loss gradient the first Adam step moves every weight by lr * sign(weight)
    # (the decay term wd*p is normalised by its own magnitude); AdamW would shrink it by lr*wd*p instead.
    params = [p for g in optimizer.param_groups for p in g["params"]]
    before = [p.detach().clone() for p in params]
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for old, p in zip(before, params):
        wd_grad = 0.1 * old
        expected = old - 3e-5 * wd_grad / (wd_grad.abs() + 1e-8)
        torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-9)
    assert ("optimizer: Adam (lr 3e-05, eps 1e-08, weight_decay 0.1), effective global batch 32 utterances per "
            "optimiser step = 8 per device x accum_grad 4 x 1 device(s)") in caplog.text


def test_mini_config_keeps_adamw_and_mean(tiny_model):
    args = _args(MINI_CONFIG)
    assert (args.optim, args.contrastive_reduction) == ("adamw", "mean")
    (optimizer,) = ToxicityTask.build_optimizers(args, tiny_model())
    assert type(optimizer) is torch.optim.AdamW


def _n_pair_reference(x: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. (5) with elementary ops: -sum_n log(exp(cos(x_n, y_n)/tau) / sum_j exp(cos(x_n, y_j)/tau))."""
    cos = (x @ y.T) / (x.norm(dim=1, keepdim=True) * y.norm(dim=1).unsqueeze(0))
    e = torch.exp(cos / tau)
    return -torch.log(e.diagonal() / e.sum(dim=1)).sum()


@pytest.mark.parametrize("tau", [1.0, 0.2])
def test_contrastive_sum_is_eq5_and_batch_times_mean(tiny_model, tau):
    features, lengths = torch.randn(5, 80, 200), torch.tensor([200, 180, 150, 90, 40])
    labels = torch.eye(6)[[0, 5, 2, 3, 1]]
    text = torch.randn(5, 5)
    totals = {}
    for reduction in ("sum", "mean"):
        model = tiny_model(alpha=0.25, injection_loss="contrastive", tau=tau, contrastive_reduction=reduction).eval()
        with torch.no_grad():
            totals[reduction], stats, weight = model(features, lengths, labels, text_emb=text)
            logits, x = model.classifier(features, lengths, injection_layer=-1)
        bce = F.binary_cross_entropy_with_logits(logits, labels)
        reference = _n_pair_reference(x, text, tau)
        expected_text = reference if reduction == "sum" else reference / 5
        torch.testing.assert_close(stats["loss_text"].reshape(()), expected_text)
        torch.testing.assert_close(totals[reduction].reshape(()), 0.25 * bce + 0.75 * expected_text)
        assert int(weight) == 5
    # the sum is the batch size times the mean: the same classifier loss, the text term 5 times larger
    diff = (totals["sum"] - totals["mean"]).reshape(())
    torch.testing.assert_close(diff, 0.75 * 4 * reference / 5)


def test_bad_reduction_is_a_config_error(tiny_model):
    from voxrecipes.errors import ConfigError

    with pytest.raises(ConfigError, match="contrastive_reduction"):
        tiny_model(alpha=0.5, contrastive_reduction="max")
    with pytest.raises(SystemExit):
        _args(REAL_CONFIG, "--contrastive_reduction", "max")


def test_effective_batch_lines():
    args = _args(REAL_CONFIG)
    assert effective_batch(args, 1).startswith(
        "effective global batch 32 utterances per optimiser step = 8 per device x accum_grad 4 x 1 device(s)")
    # the paper: 8 per device x 4 x 8 A100s = 256, i.e. --batch_size 64 over 8 GPUs
    paper = _args(REAL_CONFIG, "--batch_size", "64")
    assert effective_batch(paper, 8).startswith(
        "effective global batch 256 utterances per optimiser step = 8 per device x accum_grad 4 x 8 device(s)")
    numel = _args(REAL_CONFIG, "--batch_type", "numel", "--batch_bins", "480000")
    assert effective_batch(numel, 2) == ("effective global batch: batch_bins 480000 (numel: a variable number of "
                                         "utterances) x accum_grad 4, split over 2 device(s)")
