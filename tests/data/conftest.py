"""Fixtures that build small data directories with real tiny wav files (written by soundfile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.data.datadir import write_data_dir


def make_wav(path: Path, seconds: float, sample_rate: int = 16000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Write deterministic noise as 16-bit PCM and return the samples as soundfile reads them back."""
    rng = np.random.default_rng(seed)
    frames = int(round(seconds * sample_rate))
    data = (rng.uniform(-0.5, 0.5, size=(frames, channels))).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data if channels > 1 else data[:, 0], sample_rate, subtype="PCM_16")
    back, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return back


@pytest.fixture
def wav_factory(tmp_path):
    """``wav_factory(name, seconds, sample_rate=16000, channels=1)`` -> (path, samples)."""
    def factory(name: str, seconds: float, sample_rate: int = 16000, channels: int = 1, seed: int = 0):
        path = tmp_path / "wav" / name
        return path, make_wav(path, seconds, sample_rate, channels, seed)
    return factory


@pytest.fixture
def data_dir(tmp_path, wav_factory) -> Path:
    """Four utterances of two speakers, one wav each, with every label file."""
    utts = {"spkA_u1": ("spkA", 0.5), "spkA_u2": ("spkA", 0.25), "spkB_u1": ("spkB", 0.75), "spkB_u2": ("spkB", 0.3)}
    wav_scp = {}
    for i, (utt, (_, dur)) in enumerate(utts.items()):
        path, _ = wav_factory(f"{utt}.wav", dur, seed=i)
        wav_scp[utt] = str(path)
    out = tmp_path / "data" / "train"
    write_data_dir(
        out,
        wav_scp=wav_scp,
        utt2spk={u: s for u, (s, _) in utts.items()},
        text={u: f"hello world {u}" for u in utts},
        utt2lang={u: "en" for u in utts},
        utt2labels={"spkA_u1": ["Profanity", "Bullying"], "spkA_u2": ["No-Violation"], "spkB_u1": ["Racist"],
                    "spkB_u2": ["No-Violation"]},
        utt2category={"spkA_u1": "A", "spkA_u2": "H", "spkB_u1": "N", "spkB_u2": "S"},
        utt2attrs={"spkA_u1": (4.0, 3.5, 2.0), "spkA_u2": (1.0, 7.0, 5.5), "spkB_u1": (2.5, 2.5, 2.5),
                   "spkB_u2": (6.0, 1.5, 3.0)},
    )
    return out


@pytest.fixture
def seg_dir(tmp_path, wav_factory):
    """Two 1 s recordings cut into four segments; returns (dir, {rec: samples})."""
    rec1, s1 = wav_factory("rec1.wav", 1.0, seed=1)
    rec2, s2 = wav_factory("rec2.wav", 1.0, seed=2)
    out = tmp_path / "data" / "seg"
    write_data_dir(
        out,
        wav_scp={"rec1": str(rec1), "rec2": str(rec2)},
        segments={"rec1-000": ("rec1", 0.0, 0.4), "rec1-001": ("rec1", 0.5, 1.0), "rec2-000": ("rec2", 0.1, 0.35),
                  "rec2-001": ("rec2", 0.35, 0.9)},
        utt2spk={"rec1-000": "s1", "rec1-001": "s1", "rec2-000": "s2", "rec2-001": "s2"},
    )
    return out, {"rec1": s1[:, 0], "rec2": s2[:, 0]}
