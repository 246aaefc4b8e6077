"""The PLDA backend's two stages: train on labelled embeddings, score into posteriors.

The model directory holds ``plda.npz`` (arrays only, no pickle) and ``classes.json``
(metadata, written last so that a complete model is recognisable), written and read by
:mod:`voxrecipes.model_store` through :class:`~voxrecipes.backend.plda.PldaBackend`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from voxrecipes.backend.plda import PldaBackend, fit_plda
from voxrecipes.backend.threads import DEFAULT_BLAS_THREADS
from voxrecipes.backend.training_data import labelled_embeddings
from voxrecipes.data.posteriors import write_posteriors
from voxrecipes.errors import DataError
from voxrecipes.features.arkio import read_embeddings

logger = logging.getLogger(__name__)


def train_plda_backend(embedding_scp: str | os.PathLike, labels_path: str | os.PathLike, out_dir: str | os.PathLike,
                       *, exclude: Sequence[str] = (), rank_f: int = 100, nb_iter: int = 10,
                       threads: int | None = DEFAULT_BLAS_THREADS) -> PldaBackend:
    """Fit PLDA with one model per class on the training embeddings and save it."""
    use, x, y, excluded = labelled_embeddings(embedding_scp, labels_path, exclude)
    try:
        model = fit_plda(x, y, rank_f=rank_f, nb_iter=nb_iter, threads=threads)
    except ValueError as err:
        raise DataError(labels_path, None, str(err)) from None
    model.meta.update({"rank_f": min(rank_f, x.shape[1]), "nb_iter": nb_iter, "embedding_dim": int(x.shape[1]),
                       "num_train": len(use), "excluded": excluded, "embedding_scp": os.fspath(embedding_scp),
                       "labels": os.fspath(labels_path)})
    model.save(out_dir)
    logger.info("trained PLDA (rank %d) on %d utterances, %d classes (%s); saved to %s", model.meta["rank_f"],
                len(use), len(model.classes), " ".join(model.classes), out_dir)
    return model


def score_plda_backend(model_dir: str | os.PathLike, embedding_scp: str | os.PathLike,
                       out: str | os.PathLike, *, threads: int | None = DEFAULT_BLAS_THREADS) -> None:
    """Write flat-prior posteriors of every embedding of ``embedding_scp``."""
    model = PldaBackend.load(model_dir)
    keys, x = read_embeddings(embedding_scp)
    if x.shape[1] != model.center.size:
        raise DataError(embedding_scp, None, f"embedding dimension {x.shape[1]} but the model in {model_dir} "
                                             f"expects {model.center.size}")
    write_posteriors(out, model.posteriors(x, keys, threads=threads))
    logger.info("scored %d utterances with %s -> %s", len(keys), model_dir, out)
