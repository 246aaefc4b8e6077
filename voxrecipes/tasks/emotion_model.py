"""The emotion model as ESPnet's trainer sees it: loss, stats and weight of a batch.

Wraps an :class:`~voxrecipes.models.emotion_base.EmotionModelBase` (W2V-BERT or Whisper) with the two
objectives of the TalTech system (section 3.1):

- categories: cross-entropy over the 10 training classes (8 emotions, O, X) with the
  consensus label of each crop;
- attributes: the negative mean concordance correlation coefficient of the batch over
  valence, arousal and dominance (targets and outputs on the 1-7 scale).

The returned weight is the batch size, so ESPnet's trainer averages over the global
batch. In evaluation mode the model keeps each batch's outputs and targets, so that the
trainer can compute the validation macro-F1 or CCC over the whole set (a mean of
per-batch F1s or CCCs is not the set's value).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel

from voxrecipes.errors import ConfigError
from voxrecipes.labels import ATTRIBUTES
from voxrecipes.losses.ccc import ccc, neg_mean_ccc_loss
from voxrecipes.models.emotion_base import EmotionModelBase


class EmotionESPnetModel(AbsESPnetModel):
    """Category (CE) or attribute (negative mean CCC) model; ``forward`` returns ``(loss, stats, weight)``."""

    def __init__(self, model: EmotionModelBase, classes: Sequence[str], f1_classes: Sequence[str] = ()):
        super().__init__()
        self.model = model
        self.task = model.task
        self.classes = list(classes)
        if self.task == "category":
            if len(self.classes) != model.num_outputs:
                raise ConfigError(f"{len(self.classes)} classes but the model has {model.num_outputs} outputs")
            missing = [c for c in f1_classes if c not in self.classes]
            if missing:
                raise ConfigError(f"f1_classes {' '.join(missing)} are not among the classes {' '.join(classes)}")
        self.f1_classes = list(f1_classes)
        self.collected: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, input_features: torch.Tensor, attention_mask: torch.Tensor,
                category: torch.Tensor | None = None, attributes: torch.Tensor | None = None,
                **kwargs) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """``input_features`` (B, T, 160) and ``attention_mask`` (B, T) from the collate function."""
        outputs, _ = self.model(input_features, attention_mask)
        if self.task == "category":
            if category is None:
                raise ValueError("the category model needs the 'category' data (class indices)")
            target = category.reshape(-1).long()
            if target.numel() != outputs.shape[0]:
                raise ValueError(f"{target.numel()} category labels for a batch of {outputs.shape[0]}")
            loss = F.cross_entropy(outputs, target)
            acc = (outputs.detach().argmax(-1) == target).float().mean()
            stats = {"loss": loss.detach(), "acc": acc}
            kept = (torch.softmax(outputs.detach().float(), -1).cpu(), target.detach().cpu())
        else:
            if attributes is None:
                raise ValueError("the attribute model needs the 'attributes' data (valence arousal dominance)")
            target = attributes.to(outputs.dtype)
            if outputs.shape[0] < 2 and not self.training:
                # The CCC of one item is undefined; the set-level CCC still gets its outputs below.
                loss = outputs.sum() * 0.0
            else:
                loss = neg_mean_ccc_loss(outputs, target)
            per_dim = ccc(outputs.detach(), target)
            stats = {"loss": loss.detach(), **{f"ccc_{name}": per_dim[k] for k, name in enumerate(ATTRIBUTES)}}
            kept = (outputs.detach().float().cpu(), target.detach().float().cpu())
        if not self.training:
            self.collected.append(kept)
        return force_gatherable((loss, stats, outputs.shape[0]), loss.device)

    def collect_feats(self, input_features: torch.Tensor, attention_mask: torch.Tensor,
                      **kwargs) -> dict[str, torch.Tensor]:
        return {"feats": input_features, "feats_lengths": attention_mask.sum(-1)}
