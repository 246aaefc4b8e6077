"""Fixtures shared by several test folders."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_thread():
    """One intra-op torch thread, as in a data-loader worker: small ops are slower with more on a busy box."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
