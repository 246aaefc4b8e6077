"""Bootstrap confidence intervals through the ``confidence_intervals`` package.

The toxicity paper reports 95% CIs from 1000 bootstrap resamples computed with
``confidence_intervals.evaluate_with_conf_int``. That function draws resample ``i``
with ``random_state=i``, so its sets are fixed by the sample order alone. To make
``seed`` meaningful, the samples are first put in an order drawn from
``numpy.random.default_rng(seed)``; a metric of a set does not depend on order, so
the point estimate is unchanged and each seed gives a reproducible set of resamples.

:class:`Resamples` draws those same resample sets once, so that several metrics of one
set of samples are computed on the same resamples (paired intervals).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def bootstrap_ci(metric: Callable[..., float], samples: np.ndarray, labels: np.ndarray | None = None, *,
                 num_bootstrap: int = 1000, seed: int = 0, alpha: float = 5.0,
                 conditions: np.ndarray | None = None) -> tuple[float, tuple[float, float]]:
    """Return ``(point estimate, (low, high))``, the ``100 - alpha`` percent bootstrap interval.

    ``metric`` is called as ``metric(labels, samples)`` (or ``metric(samples)`` without labels)
    on each resample; ``conditions`` resamples whole groups (e.g. speakers) as the package does.
    """
    from confidence_intervals import evaluate_with_conf_int

    samples = np.asarray(samples)
    if samples.shape[0] == 0:
        raise ValueError("no samples")
    order = np.random.default_rng(seed).permutation(samples.shape[0])
    labels_p = None if labels is None else np.asarray(labels)[order]
    conditions_p = None if conditions is None else np.asarray(conditions)[order]
    center, (low, high) = evaluate_with_conf_int(samples=samples[order], metric=metric, labels=labels_p,
                                                 conditions=conditions_p, num_bootstraps=num_bootstrap,
                                                 alpha=alpha)
    return float(center), (float(low), float(high))


class Resamples:
    """One seeded set of bootstrap resamples of ``n`` samples, drawn by ``confidence_intervals``.

    The sets are the ones :func:`bootstrap_ci` uses for the same
    ``n``, ``num_bootstrap`` and ``seed`` (samples put in a ``default_rng(seed)`` order, resample
    ``i`` drawn by ``get_bootstrap_indices`` with ``random_state=i``). They are drawn once and
    every metric of a subset is computed on them (paired CIs, and the package's index drawing,
    the slow part, runs once). Unlike ``bootstrap_ci``, resamples where a metric is undefined
    (NaN) are left out of its percentile interval instead of turning it into NaN.
    """

    def __init__(self, n: int, num_bootstrap: int, seed: int):
        from confidence_intervals import get_bootstrap_indices

        if n < 1:
            raise ValueError("no samples")
        order = np.random.default_rng(seed).permutation(n)
        self.indices = [order[get_bootstrap_indices(n, random_state=i)] for i in range(num_bootstrap)]

    def values(self, metric: Callable[[np.ndarray, np.ndarray], np.ndarray], scores: np.ndarray,
               targets: np.ndarray) -> np.ndarray:
        """``metric(targets, scores)`` of each resample, stacked (one row per resample)."""
        scores, targets = np.asarray(scores), np.asarray(targets)
        return np.array([metric(targets[idx], scores[idx]) for idx in self.indices], dtype=np.float64)

    @staticmethod
    def interval(values: np.ndarray, alpha: float) -> tuple[tuple[float, float] | None, int]:
        """``((low, high) or None, number of undefined values)``: the percentile interval of the defined values."""
        from confidence_intervals import get_conf_int

        values = np.asarray(values, dtype=np.float64)
        defined = values[np.isfinite(values)]
        undefined = int(values.size - defined.size)
        if defined.size == 0:
            return None, undefined
        low, high = get_conf_int(defined, alpha=alpha)
        return (float(low), float(high)), undefined
