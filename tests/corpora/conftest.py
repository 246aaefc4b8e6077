"""Shared fixtures of the corpus tests: tiny generated corpora and fake-audio helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile


def write_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """A short noise wav (16-bit mono)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    soundfile.write(str(path), (rng.normal(0, 0.05, int(seconds * rate))).astype(np.float32), rate,
                    subtype="PCM_16")
    return path


@pytest.fixture
def make_wav():
    """The :func:`write_wav` helper, for tests that build fake corpora."""
    return write_wav


@pytest.fixture(scope="session")
def tiny_podcast(tmp_path_factory) -> Path:
    """A 5-speaker, 6-utterance-per-speaker mini MSP-Podcast corpus."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed")
    from voxrecipes.corpora.mini_podcast import generate

    out = tmp_path_factory.mktemp("podcast") / "MSP-Podcast"
    generate(out, seed=3, num_speakers=5, utts_per_speaker=6, nj=2)
    return out


@pytest.fixture(scope="session")
def tiny_toxicity(tmp_path_factory) -> Path:
    """A 40-clip mini toxicity corpus (sessions with start/end included)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed")
    from voxrecipes.corpora.mini_toxicity import generate

    out = tmp_path_factory.mktemp("toxicity") / "mini_toxicity"
    generate(out, seed=1, num_utts=40, nj=2)
    return out
