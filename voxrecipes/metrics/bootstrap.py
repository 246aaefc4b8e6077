"""Bootstrap confidence intervals through the ``confidence_intervals`` package.

The toxicity paper reports 95% CIs from 1000 bootstrap resamples computed with
``confidence_intervals.evaluate_with_conf_int``. That function draws resample ``i``
with ``random_state=i``, so its sets are fixed by the sample order alone. To make
``seed`` meaningful, the samples are first put in an order drawn from
``numpy.random.default_rng(seed)``; a metric of a set does not depend on order, so
the point estimate is unchanged and each seed gives a reproducible set of resamples.
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
