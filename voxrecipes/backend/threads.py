"""How many BLAS threads the backends use: one by default, because the cores are shared.

The backends' work is a few dense products (a D x D covariance over N embeddings, the
class sums) and algebra on D x D or smaller matrices. With OpenBLAS's threads on 2 cores
that other processes also use, every product waits for both threads to be scheduled:
measured 2026-12-01 (2 cores, load 9-17), 30,000 x 256 embeddings, training plus scoring,
LDA + LR took 3.0-3.8 s with 2 threads and 0.66 s with one, PLDA 5.3-5.8 s against
1.8-2.1 s; a 256 x 256 eigendecomposition took 2-3 s with 2 threads and 0.02 s with one.
On idle cores two threads can halve the covariance product, a fraction of a second at
100k embeddings, so one thread costs little there and saves a lot on a shared machine
(Kaldi's backends are single-threaded too; recipes parallelise over jobs). The stages
take ``--blas_threads`` (0: the library's default).
"""

from __future__ import annotations

import contextlib

from threadpoolctl import threadpool_limits

#: BLAS threads of backend training and scoring (``--blas_threads`` of the PLDA stages).
DEFAULT_BLAS_THREADS = 1
#: BLAS threads for algebra on (D x D) and smaller matrices, whatever the setting above.
SMALL_MATRIX_THREADS = 1


def blas_threads(limit: int | None) -> contextlib.AbstractContextManager:
    """Context in which BLAS uses at most ``limit`` threads (``None`` or 0: no limit)."""
    if not limit:
        return contextlib.nullcontext()
    if limit < 0:
        raise ValueError(f"blas_threads must be >= 0, not {limit}")
    return threadpool_limits(limits=limit, user_api="blas")
