"""Packing utterances into Whisper windows: which share a window, where each lies, whose word is whose.

The model-free rules of :mod:`voxrecipes.models.asr_packing`; the decoding with a real
Whisper is in test_asr_pretrained.py.
"""

from __future__ import annotations

import pytest

from voxrecipes.models.asr_packing import assign_words, pack_windows, window_spans


def test_pack_windows_greedy_in_order_with_gaps():
    # 10 + 1 + 9 = 20 fits in 20; the next 5 would need 26: new window; 25 s alone is over the limit: alone
    assert pack_windows([10, 9, 5, 4, 25, 1], 20.0, 1.0) == [[0, 1], [2, 3], [4], [5]]
    assert pack_windows([10, 9], 19.9, 1.0) == [[0], [1]]  # the gap counts
    assert pack_windows([10, 9], 19.0, 0.0) == [[0, 1]]
    assert pack_windows([], 28.0, 1.0) == []
    for durations in ([3.0] * 20, [1.5, 5.9, 2.2, 4.0, 6.0, 1.7, 3.3]):
        windows = pack_windows(durations, 28.0, 1.0)
        assert sorted(i for w in windows for i in w) == list(range(len(durations)))  # each exactly once
        assert all(sum(durations[i] for i in w) + 1.0 * (len(w) - 1) <= 28.0 for w in windows)
    with pytest.raises(ValueError, match="max_seconds"):
        pack_windows([1.0], 0.0, 1.0)
    with pytest.raises(ValueError, match="gap_seconds"):
        pack_windows([1.0], 10.0, -0.5)


def test_window_spans_lay_utterances_out_with_gaps():
    assert window_spans([2.0, 3.5, 1.0], 1.0, start=10.0) == [(10.0, 12.0), (13.0, 16.5), (17.5, 18.5)]
    assert window_spans([2.0], 1.0) == [(0.0, 2.0)]


def test_an_utterances_words_go_back_to_it():
    spans = [(0.0, 2.0), (3.0, 5.0), (6.0, 6.5)]
    words = [(0.1, 0.4), (1.8, 2.3),   # inside the first; midpoint 2.05 just past its end: nearest is the first
             (2.4, 2.6),               # midpoint 2.5: the middle of the gap, a tie -> the earlier utterance
             (2.6, 2.9),               # midpoint 2.75 in the gap, nearer the second
             (3.0, 3.5), (4.9, 5.3),   # the second (5.1 is 0.1 past its end, 0.9 before the third)
             (5.9, 6.2), (6.6, 7.4)]   # the third, and one after every span
    assert assign_words(words, spans) == [0, 0, 0, 1, 1, 1, 2, 2]
    assert assign_words([], spans) == []
    with pytest.raises(ValueError, match="no spans"):
        assign_words([(0.0, 1.0)], [])
