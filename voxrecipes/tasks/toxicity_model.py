"""The voice-toxicity model as ESPnet's trainer sees it: loss, stats and weight of a batch.

Wraps :class:`~voxrecipes.models.whisper_classifier.WhisperTextInjectionClassifier`
and adds the training objective of the paper (eq. 1): BCE on the six classes and,
when ``alpha < 1``, the text-injection loss between the pooled, projected output of
encoder layer ``injection_layer`` and the precomputed transcript embedding:
``L = alpha * L_cls + (1 - alpha) * L_text``.

BCE and MSE are means over the batch and the returned weight is the batch size, so
ESPnet's trainer (which multiplies by the weight, divides by the global weight and
undoes DDP's averaging) optimises the mean over the global batch. The contrastive loss
is, with ``contrastive_reduction="sum"``, the paper's eq. (5): a sum over the pairs of
the forward pass's batch (the per-device batch; accumulation steps and devices are then
averaged, as a per-device sum is under DDP and gradient accumulation), so its scale
against alpha grows with the per-device batch; ``"mean"`` divides it by that batch size.
With ``gather_all_ranks`` the contrastive loss draws its negatives from the transcripts
of every rank (:func:`~voxrecipes.losses.text_injection.contrastive_injection_loss`).

In evaluation mode the model keeps the batch's sigmoid scores and targets, so that
the trainer can compute the validation mAP over the whole set (an average of
per-batch APs is not the set's AP).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel

from voxrecipes.errors import ConfigError
from voxrecipes.losses.text_injection import combined_loss, contrastive_injection_loss, mse_injection_loss
from voxrecipes.models.whisper_classifier import WhisperTextInjectionClassifier

INJECTION_LOSSES = ("mse", "contrastive")
#: how the contrastive loss reduces over the batch: "sum" is the paper's eq. (5), "mean" divides by the batch size
CONTRASTIVE_REDUCTIONS = ("sum", "mean")


class ToxicityESPnetModel(AbsESPnetModel):
    """BCE classifier with optional text injection; ``forward`` returns ``(loss, stats, weight)``."""

    def __init__(self, classifier: WhisperTextInjectionClassifier, classes: Sequence[str], *, alpha: float = 1.0,
                 injection_loss: str = "contrastive", tau: float = 1.0, injection_layer: int = -1,
                 gather_all_ranks: bool = True, ap_classes: Sequence[str] | None = None,
                 contrastive_reduction: str = "mean"):
        super().__init__()
        ap_classes = list(classes if ap_classes is None else ap_classes)
        if not set(ap_classes) <= set(classes):
            raise ConfigError(f"ap_classes {' '.join(ap_classes)} are not all among the classes {' '.join(classes)}")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"alpha must lie in [0, 1], got {alpha}")
        if injection_loss not in INJECTION_LOSSES:
            raise ConfigError(f"injection_loss must be one of {', '.join(INJECTION_LOSSES)}, got {injection_loss!r}")
        if not (injection_layer == -1 or 1 <= injection_layer <= classifier.num_layers):
            raise ConfigError(f"injection_layer must be -1 (last) or 1..{classifier.num_layers}, "
                              f"got {injection_layer}")
        if not tau > 0:
            raise ConfigError(f"tau must be positive, got {tau}")
        if contrastive_reduction not in CONTRASTIVE_REDUCTIONS:
            raise ConfigError(f"contrastive_reduction must be one of {', '.join(CONTRASTIVE_REDUCTIONS)}, "
                              f"got {contrastive_reduction!r}")
        frozen = getattr(classifier, "freeze_layers", 0)
        if alpha < 1.0 and 1 <= injection_layer <= frozen:
            raise ConfigError(f"injection_layer {injection_layer} is frozen (freeze_layers {frozen}): the text loss "
                              "could not change the encoder; inject above the frozen layers or freeze fewer")
        self.classifier = classifier
        self.classes = list(classes)
        self.ap_classes = ap_classes  # the classes of the validation mAP
        self.alpha = float(alpha)
        self.injection_loss = injection_loss
        self.tau = float(tau)
        self.injection_layer = int(injection_layer)
        self.gather_all_ranks = bool(gather_all_ranks)
        self.contrastive_reduction = contrastive_reduction
        self.collected: list[tuple[torch.Tensor, torch.Tensor]] = []

    @property
    def uses_text(self) -> bool:
        return self.alpha < 1.0

    def _text_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y = y.to(x.dtype)
        if self.injection_loss == "mse":
            return mse_injection_loss(x, y, reduction="mean")
        import torch.distributed as dist

        # Negatives from other ranks only in training: validation batches are not in lockstep.
        gather = self.gather_all_ranks and self.training and dist.is_available() and dist.is_initialized()
        return contrastive_injection_loss(x, y, tau=self.tau, gather_all_ranks=gather,
                                          reduction=self.contrastive_reduction)

    def forward(self, input_features: torch.Tensor, feature_lengths: torch.Tensor, labels: torch.Tensor,
                text_emb: torch.Tensor | None = None, **kwargs) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """``input_features`` (B, mels, frames), ``feature_lengths`` (B,), ``labels`` (B, C) multi-hot."""
        if labels.shape[-1] != len(self.classes):
            raise ValueError(f"labels have {labels.shape[-1]} columns, the model {len(self.classes)} classes")
        if self.uses_text and self.training and text_emb is None:
            raise ValueError("alpha < 1 needs the transcript embeddings (data name 'text_emb') in training")
        use_text = self.uses_text and text_emb is not None
        logits, x = self.classifier(input_features, feature_lengths,
                                    injection_layer=self.injection_layer if use_text else None)
        targets = labels.to(logits.dtype)
        l_cls = F.binary_cross_entropy_with_logits(logits, targets)
        stats = {"loss_cls": l_cls.detach()}
        if use_text:
            l_text = self._text_loss(x, text_emb)
            stats["loss_text"] = l_text.detach()
            loss = combined_loss(l_cls, l_text, self.alpha)
        else:
            loss = l_cls
        stats["loss"] = loss.detach()
        if not self.training:
            self.collected.append((torch.sigmoid(logits.detach().float()).cpu(), targets.detach().cpu()))
        return force_gatherable((loss, stats, logits.shape[0]), loss.device)

    def collect_feats(self, input_features: torch.Tensor, feature_lengths: torch.Tensor,
                      **kwargs) -> dict[str, torch.Tensor]:
        return {"feats": input_features, "feats_lengths": feature_lengths}
