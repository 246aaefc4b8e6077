"""Log-mel features and statistics embeddings against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.errors import DataError
from voxrecipes.features.arkio import read_embeddings, read_scp, write_ark_scp
from voxrecipes.features.fbank import FbankConfig, extract_fbank
from voxrecipes.features.stats import extract_stats_embeddings

RATE = 16000


def make_data_dir(tmp_path, waves: dict[str, np.ndarray]):
    data = tmp_path / "data"
    data.mkdir()
    wav_lines, spk_lines = [], []
    for utt in sorted(waves):
        path = tmp_path / f"{utt}.wav"
        sf.write(path, waves[utt], RATE, subtype="PCM_16")
        wav_lines.append(f"{utt} {path}\n")
        spk_lines.append(f"{utt} {utt}\n")
    (data / "wav.scp").write_text("".join(wav_lines))
    (data / "utt2spk").write_text("".join(spk_lines))
    (data / "spk2utt").write_text("".join(spk_lines))
    return data


def sine(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_fbank_equals_torchaudio_kaldi(tmp_path):
    import torch
    import torchaudio.compliance.kaldi as kaldi

    waves = {"utt1": sine(1.0), "utt2": sine(0.5, 1000.0)}
    data = make_data_dir(tmp_path, waves)
    prefix = tmp_path / "exp" / "raw_fbank.1"
    assert extract_fbank(data, prefix, FbankConfig(num_mel_bins=40), progress=False) == 2
    feats = read_scp(f"{prefix}.scp")
    assert list(feats) == ["utt1", "utt2"]
    # snip_edges: 1 + (N - 400) // 160 frames
    assert feats["utt1"].shape == (1 + (16000 - 400) // 160, 40)
    assert feats["utt2"].shape == (1 + (8000 - 400) // 160, 40)
    for utt in waves:
        pcm = sf.read(tmp_path / f"{utt}.wav", dtype="int16")[0].astype(np.float32)  # Kaldi's int16 scale
        ref = kaldi.fbank(torch.from_numpy(pcm).unsqueeze(0), num_mel_bins=40, frame_length=25.0,
                          frame_shift=10.0, dither=0.0, sample_frequency=RATE).numpy()
        np.testing.assert_allclose(feats[utt], ref, rtol=1e-5, atol=1e-4)
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["raw_fbank.1.ark", "raw_fbank.1.scp"]
    # the scp names the final ark, not a temporary one
    assert all(line.split()[1].startswith(f"{prefix}.ark:") for line in open(f"{prefix}.scp"))


def test_fbank_too_short_names_utterance_and_leaves_nothing(tmp_path):
    data = make_data_dir(tmp_path, {"long": sine(0.5), "short": sine(0.01)})
    prefix = tmp_path / "exp" / "fb"
    with pytest.raises(DataError, match=r"data/wav\.scp:2: utterance 'short' is too short: 160 samples"):
        extract_fbank(data, prefix, FbankConfig(), progress=False)
    assert not prefix.parent.exists() or list(prefix.parent.iterdir()) == []


def test_fbank_nan_audio(tmp_path):
    from voxrecipes.features.fbank import compute_fbank

    wave = sine(0.5)
    wave[100] = np.nan
    with pytest.raises(DataError, match="'u9'.*NaN"):
        compute_fbank(wave, FbankConfig(), "u9")


def test_stats_embeddings_equal_numpy(tmp_path):
    rng = np.random.default_rng(0)
    mats = {"a": rng.normal(size=(50, 8)).astype(np.float32), "b": rng.normal(3, 2, size=(7, 8)).astype(np.float32)}
    write_ark_scp(tmp_path / "feats", mats.items())
    assert extract_stats_embeddings(tmp_path / "feats.scp", tmp_path / "emb") == 2
    keys, emb = read_embeddings(tmp_path / "emb.scp")
    assert keys == ["a", "b"] and emb.shape == (2, 16)
    for i, key in enumerate(keys):
        m = mats[key].astype(np.float64)
        np.testing.assert_allclose(emb[i], np.concatenate([m.mean(0), m.std(0)]), rtol=1e-6, atol=1e-6)


def test_scp_errors_name_line(tmp_path):
    write_ark_scp(tmp_path / "x", [("a", np.zeros(3, np.float32)), ("b", np.array([np.inf, 0, 0], np.float32))])
    with pytest.raises(DataError, match=r"x\.scp:2: NaN or infinite value in 'b'"):
        read_scp(tmp_path / "x.scp")
