"""Language identification for the labelling pipeline: the per-chunk and per-recording rules."""

from __future__ import annotations

import numpy as np
import pytest

from voxrecipes.errors import ConfigError
from voxrecipes.models.language_id import decide

LANGS = ["en", "es", "pt"]


def test_per_chunk_takes_each_chunks_best():
    probs = {"r1-a": np.array([0.6, 0.1, 0.3]), "r1-b": np.array([0.2, 0.1, 0.7]), "r2-a": np.array([0.1, 0.8, 0.1])}
    utt2rec = {"r1-a": "r1", "r1-b": "r1", "r2-a": "r2"}
    assert decide(probs, utt2rec, LANGS, per_recording=False) == {"r1-a": "en", "r1-b": "pt", "r2-a": "es"}


def test_per_recording_sums_log_probabilities():
    # chunk votes are 2 en : 1 pt, but the en chunks are unsure and the pt chunk is sure: log-sum picks pt
    probs = {"r1-a": np.array([0.45, 0.15, 0.40]), "r1-b": np.array([0.45, 0.15, 0.40]),
             "r1-c": np.array([0.02, 0.03, 0.95]), "r2-a": np.array([0.1, 0.8, 0.1])}
    utt2rec = {"r1-a": "r1", "r1-b": "r1", "r1-c": "r1", "r2-a": "r2"}
    expected_r1 = LANGS[int(np.argmax(np.log([0.45, 0.15, 0.40]) * 2 + np.log([0.02, 0.03, 0.95])))]
    assert expected_r1 == "pt"
    assert decide(probs, utt2rec, LANGS, per_recording=True) == {"r1-a": "pt", "r1-b": "pt", "r1-c": "pt",
                                                                 "r2-a": "es"}


def test_a_zero_probability_does_not_veto_a_recording():
    probs = {"r-a": np.array([1.0, 0.0, 0.0]), "r-b": np.array([0.9, 0.1, 0.0]), "r-c": np.array([0.0, 0.0, 1.0])}
    assert set(decide(probs, dict.fromkeys(probs, "r"), LANGS, per_recording=True).values()) == {"en"}


def test_english_only_whisper_is_refused():
    from voxrecipes.models.language_id import WhisperLanguageId

    with pytest.raises(ConfigError, match="English-only"):
        WhisperLanguageId("package:whisper_tiny_en", LANGS, cpu_threads=1)
