"""A sequence classifier whose head reads the masked mean of the last hidden states (``pooling: mean``).

Why: a ``*ForSequenceClassification`` head reads one token -- BERT's pooler on [CLS],
RoBERTa's first token, LLaMA's last token. Sentence encoders such as all-MiniLM-L6-v2
were trained for *mean-pooled* embeddings; their pooler([CLS]) was never trained and
hardly varies across sentences (egs/mini_toxicity/tox_autolabel/RESULTS.md: a linear
probe reaches dev mAP 0.96 on the mean-pooled embedding, 0.76 on pooler([CLS])).

:class:`MeanPoolClassifier` wraps the bare backbone (``AutoModel``) instead of patching
transformers internals: ``logits = classifier(dropout(masked_mean(last_hidden_state)))``,
padding excluded by the attention mask, so a sentence scores the same alone and in a
right-padded batch. The head is called ``classifier`` so that peft (``TaskType.SEQ_CLS``)
and :func:`~voxrecipes.models.text_classifier.build.head_name` find it; the forward takes
the arguments peft's sequence-classification wrapper passes and computes the loss named
by ``config.problem_type`` as transformers' heads do (CE, BCE with logits, MSE), so the
Trainer + peft path is unchanged. It saves as ``config.json`` (the backbone's config,
which carries the label names) + ``mean_pool_classifier.safetensors`` (every weight):
``AutoModelForSequenceClassification`` cannot mistake such a directory for its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from voxrecipes.errors import ConfigError
from voxrecipes.models import pooling

#: the weights file of a saved :class:`MeanPoolClassifier` (no ``model.safetensors``: see the module docstring)
WEIGHTS_FILE = "mean_pool_classifier.safetensors"
#: the loss of each ``problem_type`` (transformers' names)
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """``(B, T, H) -> (B, H)``: the mean over the positions whose mask is 1 (all positions without a mask).

    The shared :func:`voxrecipes.models.pooling.masked_mean` (a row with no unmasked
    position, which a tokenizer cannot give, is a ValueError there).
    """
    if attention_mask is None:
        return hidden.mean(dim=1)
    return pooling.masked_mean(hidden, mask=attention_mask)


def head_dropout(config: Any) -> float:
    """The dropout before the head, as BERT's sequence classifier picks it: ``classifier_dropout``, else
    ``hidden_dropout_prob``, else none (LLaMA's head has no dropout)."""
    for key in ("classifier_dropout", "hidden_dropout_prob"):
        value = getattr(config, key, None)
        if value is not None:
            return float(value)
    return 0.0


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, problem_type: str | None) -> torch.Tensor:
    """The loss transformers' sequence classifiers compute for ``problem_type``."""
    functional = torch.nn.functional
    if problem_type == "single_label_classification":
        return functional.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1).long())
    if problem_type == "multi_label_classification":
        return functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    if problem_type == "regression":
        if logits.shape[-1] == 1:
            return functional.mse_loss(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype))
        return functional.mse_loss(logits, labels.to(logits.dtype))
    raise ConfigError(f"mean-pooling classifier: config.problem_type must be one of {', '.join(PROBLEM_TYPES)}, "
                      f"got {problem_type!r}")


class MeanPoolClassifier(torch.nn.Module):
    """``backbone`` (a transformers ``AutoModel``) -> masked mean of ``last_hidden_state`` -> dropout -> linear.

    ``backbone.config`` must carry ``num_labels`` and ``problem_type`` (the builder sets
    them). The head is initialised as transformers initialises its heads: normal with
    ``config.initializer_range`` (0.02 when absent), zero bias.
    """

    def __init__(self, backbone: Any) -> None:
        super().__init__()
        config = backbone.config
        self.backbone = backbone
        self.config = config  # peft and the Trainer read model.config
        self.dropout = torch.nn.Dropout(head_dropout(config))
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels, dtype=backbone.dtype)
        torch.nn.init.normal_(self.classifier.weight, std=float(getattr(config, "initializer_range", 0.02)))
        torch.nn.init.zeros_(self.classifier.bias)

    def _backbone(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
                  inputs_embeds: torch.Tensor | None, token_type_ids: torch.Tensor | None,
                  position_ids: torch.Tensor | None, **flags: Any) -> Any:
        """The backbone's output; ``token_type_ids`` / ``position_ids`` passed only when given (LLaMA takes no
        token types, BERT's tokenizer returns them)."""
        extra = {k: v for k, v in (("token_type_ids", token_type_ids), ("position_ids", position_ids))
                 if v is not None}
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                             return_dict=True, **extra, **flags)

    def pooled(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
               inputs_embeds: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
               position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, H)``: the masked mean of the backbone's last hidden states (what the head reads)."""
        out = self._backbone(input_ids, attention_mask, inputs_embeds, token_type_ids, position_ids)
        return masked_mean(out.last_hidden_state, attention_mask)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, token_type_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None) -> Any:
        """A ``SequenceClassifierOutput`` (``loss`` when ``labels`` are given). No ``**kwargs``: the Trainer
        then passes no loss kwargs (``num_items_in_batch``) the backbone would not know."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        out = self._backbone(input_ids, attention_mask, inputs_embeds, token_type_ids, position_ids,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(masked_mean(out.last_hidden_state, attention_mask)))
        loss = None if labels is None else classification_loss(logits, labels, self.config.problem_type)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)

    # -- what the Trainer and peft call on a transformers model -----------------------------------
    def get_input_embeddings(self) -> torch.nn.Module:
        return self.backbone.get_input_embeddings()

    def gradient_checkpointing_enable(self, **kwargs: Any) -> None:
        self.backbone.gradient_checkpointing_enable(**kwargs)

    def enable_input_require_grads(self) -> None:
        self.backbone.enable_input_require_grads()

    # -- saving -----------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike, **_: Any) -> None:
        """``config.json`` + ``mean_pool_classifier.safetensors`` into an existing directory."""
        from safetensors.torch import save_model

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(directory)
        save_model(self, str(directory / WEIGHTS_FILE))

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, *, dtype: torch.dtype | None = None) -> MeanPoolClassifier:
        """Rebuild from :meth:`save_pretrained`'s directory (every weight must be there: strict)."""
        from safetensors.torch import load_model
        from transformers import AutoConfig, AutoModel

        directory = Path(directory)
        if not (directory / WEIGHTS_FILE).is_file():
            raise ConfigError(f"{directory}: no {WEIGHTS_FILE}; not a saved mean-pooling classifier")
        config = AutoConfig.from_pretrained(directory, trust_remote_code=False)
        model = cls(AutoModel.from_config(config, dtype=dtype))
        load_model(model, str(directory / WEIGHTS_FILE), strict=True)
        return model

    @property
    def dtype(self) -> torch.dtype:
        return self.backbone.dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
