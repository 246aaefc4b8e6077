"""Chunk bounds, cross-clip batching and per-class max aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from voxrecipes.data.chunking import batch_chunks, chunk_bounds, max_aggregate

SR = 16000
S = 15 * SR


@pytest.mark.parametrize("seconds,expected", [
    (1, [(0, SR)]),
    (15, [(0, S)]),
    (31, [(0, S), (S, 2 * S), (2 * S, 31 * SR)]),
    (60, [(0, S), (S, 2 * S), (2 * S, 3 * S), (3 * S, 4 * S)]),
])
def test_chunk_bounds_15s(seconds, expected):
    assert chunk_bounds(seconds * SR, SR, 15, 15) == expected


def test_chunk_bounds_overlap_and_errors():
    assert chunk_bounds(25, 1, chunk_s=10, stride_s=5) == [(0, 10), (5, 15), (10, 20), (15, 25)]
    with pytest.raises(ValueError):
        chunk_bounds(0, SR)


def test_batch_chunks_across_clips():
    clips = {"b": np.arange(31 * SR, dtype=np.float32), "a": np.ones(SR, dtype=np.float32),
             "c": np.zeros(60 * SR, dtype=np.float32)}
    batches = list(batch_chunks(clips, SR, batch_size=3))
    owners = [o for _, os_ in batches for o in os_]
    assert owners == [("a", 0), ("b", 0), ("b", 1), ("b", 2), ("c", 0), ("c", 1), ("c", 2), ("c", 3)]
    assert [len(w) for w, _ in batches] == [3, 3, 2]
    b2 = batches[1][0][0]
    assert len(b2) == SR and b2[0] == 2 * S  # the 1 s tail of b, from sample 30 s
    with pytest.raises(ValueError, match="empty"):
        list(batch_chunks({"x": np.zeros(0)}, SR))


def test_max_aggregate_hand_example():
    scores = np.array([[0.1, 0.9, 0.2],
                       [0.5, 0.3, 0.1],
                       [0.7, 0.0, 0.0],
                       [0.2, 0.4, 0.8]])
    owners = [("a", 0), ("a", 1), ("b", 0), ("a", 2)]
    out = max_aggregate(scores, owners)
    assert sorted(out) == ["a", "b"]
    np.testing.assert_array_equal(out["a"], [0.5, 0.9, 0.8])
    np.testing.assert_array_equal(out["b"], [0.7, 0.0, 0.0])
    assert max_aggregate(scores[:1], ["z"])["z"].tolist() == [0.1, 0.9, 0.2]
    with pytest.raises(ValueError):
        max_aggregate(scores, owners[:3])
