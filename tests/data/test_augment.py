"""Waveform augmentation: speechbrain CSVs, generated noises/RIRs, and the batch augmenter."""

from __future__ import annotations

import csv
import math
import pickle

import numpy as np
import pytest
import soundfile as sf
import torch

from voxrecipes.cli import run
from voxrecipes.corpora import synth_augment
from voxrecipes.data.augment import CONFIG_KEYS, WaveformAugmenter, from_config, make_audio_csv
from voxrecipes.errors import ConfigError, DataError

SR = 16000


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Generated noises and RIRs (4 each) and their CSVs."""
    root = tmp_path_factory.mktemp("augment")
    synth_augment.generate(root, num_noises=4, num_rirs=4, seed=0)
    noise_csv, rir_csv = root / "csv" / "noise.csv", root / "csv" / "rir.csv"
    make_audio_csv(root / "musan" / "noise", noise_csv, what="noise")
    make_audio_csv(root / "RIRS_NOISES" / "simulated_rirs", rir_csv, what="RIR")
    return {"root": root, "noise_csv": str(noise_csv), "rir_csv": str(rir_csv)}


def _write(path, samples, sr=SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(samples, dtype=np.float32), sr, subtype="PCM_16")
    return path


def _csv_of(tmp_path, name, signals, what="noise"):
    """A CSV of the given signals, written as files under tmp_path/name."""
    for i, signal in enumerate(signals):
        _write(tmp_path / name / f"f{i}.wav", signal)
    out = tmp_path / f"{name}.csv"
    make_audio_csv(tmp_path / name, out, what=what)
    return str(out)


def _speechlike(batch, seconds, seed=0):
    """Amplitude-modulated harmonic tones plus a little noise: clearly not the noises used."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SR)) / SR
    rows = []
    for _ in range(batch):
        f0 = 100 + 100 * torch.rand(1, generator=gen)
        tone = sum(torch.sin(2 * math.pi * f0 * k * t) / k for k in range(1, 6))
        rows.append(0.2 * tone * (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t)) + 0.005 * torch.randn(t.shape,
                                                                                                   generator=gen))
    return torch.stack(rows).float()


def _pad_mask(wavs, lengths):
    return torch.arange(wavs.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)


# ------------------------------------------------------------------------------------------------------------ CSV

def test_make_audio_csv_format_and_speechbrain_reads_it(tmp_path, monkeypatch):
    folder = tmp_path / "noises"
    _write(folder / "b" / "z.wav", np.zeros(8000) + 0.1)
    _write(folder / "a.flac", np.linspace(-0.5, 0.5, 12345))
    _write(folder / "b" / "deep" / "y.WAV", np.ones(4000) * 0.2)
    (folder / "readme.txt").write_text("not audio")
    monkeypatch.chdir(tmp_path)
    stats = make_audio_csv("noises", "out/noise.csv", what="noise")  # relative paths in, absolute paths out

    with open(tmp_path / "out" / "noise.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["ID", "duration", "wav", "wav_format", "wav_opts"]
    assert [r[0] for r in rows[1:]] == ["a", "b/deep/y", "b/z"]
    assert [r[3] for r in rows[1:]] == ["flac", "wav", "wav"]
    assert all(r[4] == "" for r in rows[1:])
    for _, duration, path, _, _ in rows[1:]:
        assert path.startswith("/") and path.startswith(str(folder))
        info = sf.info(path)
        assert float(duration) == info.frames / info.samplerate
    assert stats == {"count": 3, "seconds": pytest.approx((12345 + 4000 + 8000) / SR)}

    from speechbrain.dataio.legacy import ExtendedCSVDataset

    dataset = ExtendedCSVDataset(str(tmp_path / "out" / "noise.csv"))
    assert sorted(len(dataset[i]["wav"]) for i in range(len(dataset))) == [4000, 8000, 12345]


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_make_audio_csv_no_files_names_folder(tmp_path, state):
    folder = tmp_path / "rirs"
    if state == "empty":
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "notes.txt").write_text("x")
    with pytest.raises(DataError) as err:
        make_audio_csv(folder, tmp_path / "rir.csv", what="RIR")
    assert err.value.path == str(folder)
    assert "no .wav/.flac files" in err.value.reason and "RIR" in err.value.reason
    assert ("does not exist" if state == "missing" else "empty") in err.value.reason
    assert not (tmp_path / "rir.csv").exists()


def test_make_audio_csv_bad_files(tmp_path):
    good = _write(tmp_path / "n" / "good.wav", np.zeros(1600))
    bad = tmp_path / "n" / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(DataError) as err:
        make_audio_csv(tmp_path / "n", tmp_path / "noise.csv", what="noise")
    assert err.value.path == str(bad) and "cannot read noise audio" in err.value.reason
    bad.unlink()
    slow = _write(tmp_path / "n" / "slow.wav", np.zeros(800), sr=8000)
    with pytest.raises(DataError, match="8000 Hz, expected 16000 Hz") as err:
        make_audio_csv(tmp_path / "n", tmp_path / "noise.csv", what="noise")
    assert err.value.path == str(slow)
    slow.unlink()
    sf.write(str(tmp_path / "n" / "stereo.wav"), np.zeros((1600, 2), dtype=np.float32), SR)
    with pytest.raises(DataError, match="2 channels"):
        make_audio_csv(tmp_path / "n", tmp_path / "noise.csv", what="noise")
    (tmp_path / "n" / "stereo.wav").unlink()
    _write(tmp_path / "n" / "good.flac", np.zeros(1600))
    with pytest.raises(DataError, match="same ID|also that of"):
        make_audio_csv(tmp_path / "n", tmp_path / "noise.csv", what="noise")
    assert not (tmp_path / "noise.csv").exists()
    (tmp_path / "n" / "good.flac").unlink()
    assert make_audio_csv(tmp_path / "n", tmp_path / "noise.csv", what="noise")["count"] == 1
    assert good.exists()


# ---------------------------------------------------------------------------------------------- generated files

def test_generated_layout_and_rirs(generated, tmp_path):
    root = generated["root"]
    noises = sorted((root / "musan" / "noise" / "generated").glob("*.wav"))
    rirs = sorted((root / "RIRS_NOISES" / "simulated_rirs" / "generated").glob("*.wav"))
    assert [p.name for p in noises] == [f"noise-{i:04d}.wav" for i in range(4)]
    assert [p.name for p in rirs] == [f"rir-{i:04d}.wav" for i in range(4)]
    for path in noises:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        assert 2.0 <= info.duration <= 6.0
        assert np.abs(sf.read(str(path))[0]).max() > 0.05
    for path in rirs:
        h, sr = sf.read(str(path))
        assert sr == SR and 0.2 <= len(h) / SR <= 0.6
        peak = int(np.argmax(np.abs(h)))
        assert peak <= 0.005 * SR and h[peak] > 0  # the direct path: after <= 5 ms, the maximum
        assert np.all(h[:peak] == 0)
        assert np.abs(np.delete(h, peak)).max() < 0.95 * h[peak]
        tail = h[peak + int(0.06 * SR):]  # after the early reflections
        quarters = [float(np.sum(q ** 2)) for q in np.array_split(tail, 4)]
        assert quarters == sorted(quarters, reverse=True), quarters
        assert quarters[-1] < 0.5 * quarters[0]


def test_generation_is_deterministic_and_skipped_when_done(tmp_path, caplog):
    first = synth_augment.generate(tmp_path / "a", num_noises=2, num_rirs=2, seed=7)
    same = synth_augment.generate(tmp_path / "b", num_noises=2, num_rirs=2, seed=7)
    other = synth_augment.generate(tmp_path / "c", num_noises=2, num_rirs=2, seed=8)
    assert not first["skipped"]
    files = ["musan/noise/generated/noise-0001.wav", "RIRS_NOISES/simulated_rirs/generated/rir-0001.wav"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    assert not same["skipped"] and not other["skipped"]
    mtime = (tmp_path / "a" / files[0]).stat().st_mtime_ns
    with caplog.at_level("INFO"):
        again = synth_augment.generate(tmp_path / "a", num_noises=2, num_rirs=2, seed=7)
    assert again["skipped"] and "already generated" in caplog.text
    assert (tmp_path / "a" / files[0]).stat().st_mtime_ns == mtime
    more = synth_augment.generate(tmp_path / "a", num_noises=3, num_rirs=2, seed=7)
    assert not more["skipped"] and (tmp_path / "a" / "musan/noise/generated/noise-0002.wav").exists()
    with pytest.raises(ConfigError):
        synth_augment.generate(tmp_path / "d", rt60_min=0.5, rt60_max=0.1)


# --------------------------------------------------------------------------------------------------- augmenter

def test_shape_padding_and_input_untouched(generated):
    aug = WaveformAugmenter(noise_csv=generated["noise_csv"], rir_csv=generated["rir_csv"], noise_prob=1.0,
                            rir_prob=1.0, speed_prob=0.0)
    wavs = _speechlike(4, 1.5)
    lengths = torch.tensor([24000, 15000, 7000, 0])
    wavs[_pad_mask(wavs, lengths)] = 0.0
    before = wavs.clone()
    torch.manual_seed(0)
    out, out_lengths = aug(wavs, lengths)
    assert out.shape == wavs.shape and out.dtype == wavs.dtype
    assert torch.equal(out_lengths, lengths) and out_lengths.dtype == lengths.dtype
    assert torch.equal(wavs, before)
    assert torch.all(out[_pad_mask(out, lengths)] == 0)
    for i in range(3):
        n = int(lengths[i])
        assert not torch.allclose(out[i, :n], wavs[i, :n], atol=1e-3)
        assert torch.isfinite(out[i, :n]).all() and out[i, :n].abs().max() > 0.01


@pytest.mark.parametrize("snr", [0.0, 10.0])
def test_noise_at_requested_snr(tmp_path, snr):
    rng = np.random.default_rng(1)
    noise_csv = _csv_of(tmp_path, "stationary", [0.3 * rng.standard_normal(int(s * SR)).clip(-1, 1)
                                                 for s in (0.7, 2.5, 3.0)])
    aug = WaveformAugmenter(noise_csv=noise_csv, noise_prob=1.0, snr_low=snr, snr_high=snr, speed_prob=0.0)
    clean = _speechlike(3, 2.0, seed=3)
    lengths = torch.tensor([32000, 20000, 12000])
    clean[_pad_mask(clean, lengths)] = 0.0
    torch.manual_seed(1)
    noisy, _ = aug(clean, lengths)
    for i, n in enumerate(lengths.tolist()):
        x, y = clean[i, :n].double(), noisy[i, :n].double()
        scale = float(y @ x / (x @ x))  # the clean part (speechbrain scales it by 1 - noise share)
        residual = y - scale * x
        measured = 10 * math.log10(float((scale * x) @ (scale * x)) / float(residual @ residual))
        assert abs(measured - snr) < 2.0, (i, measured)
        assert scale == pytest.approx(1 - 1 / (10 ** (snr / 20) + 1), abs=0.03)  # speechbrain keeps the level


def test_noise_prob_zero_and_per_utterance(generated):
    wavs, lengths = _speechlike(16, 0.5), torch.full((16,), 8000)
    off = WaveformAugmenter(noise_csv=generated["noise_csv"], noise_prob=0.0, speed_prob=0.0)
    assert torch.equal(off(wavs, lengths)[0], wavs)
    half = WaveformAugmenter(noise_csv=generated["noise_csv"], noise_prob=0.5, speed_prob=0.0)
    torch.manual_seed(0)
    changed = (half(wavs, lengths)[0] != wavs).any(dim=1)
    assert 2 <= int(changed.sum()) <= 14  # chosen per utterance, not per batch


def test_reverb_delta_keeps_signal_and_generated_rir_changes_it(tmp_path, generated):
    delta = np.zeros(int(0.3 * SR))
    delta[40] = 0.9  # a delayed direct path: speechbrain aligns on the peak
    delta_csv = _csv_of(tmp_path, "delta", [delta], what="RIR")
    wavs = _speechlike(2, 1.0)
    lengths = torch.tensor([16000, 9000])
    wavs[_pad_mask(wavs, lengths)] = 0.0
    torch.manual_seed(0)
    same, _ = WaveformAugmenter(rir_csv=delta_csv, rir_prob=1.0, speed_prob=0.0)(wavs, lengths)
    assert torch.allclose(same, wavs, atol=2e-3 * float(wavs.abs().max()))
    torch.manual_seed(0)
    reverbed, out_lengths = WaveformAugmenter(rir_csv=generated["rir_csv"], rir_prob=1.0, speed_prob=0.0)(wavs,
                                                                                                          lengths)
    assert torch.equal(out_lengths, lengths)
    assert torch.all(reverbed[_pad_mask(reverbed, lengths)] == 0)
    for i, n in enumerate(lengths.tolist()):
        x, y = wavs[i, :n], reverbed[i, :n]
        assert float((y - x).norm() / x.norm()) > 0.2


def test_reverb_tail_does_not_wrap_to_the_start(generated):
    wavs = torch.zeros(1, 16000)
    wavs[0, -1600:] = _speechlike(1, 0.1)[0]  # sound only in the last 100 ms
    torch.manual_seed(0)
    out, _ = WaveformAugmenter(rir_csv=generated["rir_csv"], rir_prob=1.0, speed_prob=0.0)(wavs, torch.tensor([16000]))
    assert out[0, -1600:].abs().max() > 0.01
    assert out[0, :-1700].abs().max() < 1e-4  # a circular convolution would put the tail here


@pytest.mark.parametrize("percent", [90, 110])
def test_speed_changes_lengths_by_factor(percent):
    t = torch.arange(SR) / SR
    wavs = torch.stack([0.5 * torch.sin(2 * math.pi * 1000 * t)] * 2)
    lengths = torch.tensor([16000, 10001])
    wavs[_pad_mask(wavs, lengths)] = 0.0
    aug = WaveformAugmenter(speed_prob=1.0, speeds=[percent])
    out, out_lengths = aug(wavs, lengths)
    expected = [math.ceil(n * 100 / percent) for n in lengths.tolist()]
    assert out_lengths.tolist() == expected and out.shape[1] == expected[0]
    assert torch.all(out[_pad_mask(out, out_lengths)] == 0)
    assert out[1, expected[1] - 50:expected[1]].abs().max() > 0.1  # the signal reaches the new length
    spectrum = torch.fft.rfft(out[0, :expected[0]]).abs()
    peak_hz = float(spectrum.argmax()) * SR / expected[0]
    assert peak_hz == pytest.approx(1000 * percent / 100, abs=5)  # 90 % speed = slower = lower pitch


def test_speed_whole_batch_with_probability():
    wavs, lengths = _speechlike(2, 0.25), torch.tensor([4000, 3000])
    wavs[_pad_mask(wavs, lengths)] = 0.0
    never = WaveformAugmenter(speed_prob=0.0, speeds=[90])
    for _ in range(10):
        out, out_lengths = never(wavs, lengths)
        assert torch.equal(out, wavs) and torch.equal(out_lengths, lengths)
    half = WaveformAugmenter(speed_prob=0.5, speeds=[80])
    torch.manual_seed(0)
    perturbed = 0
    for _ in range(40):
        out, out_lengths = half(wavs, lengths)
        assert out_lengths.tolist() in ([4000, 3000], [5000, 3750])  # both utterances or neither
        perturbed += out_lengths[0] == 5000
    assert 10 <= perturbed <= 30


def test_reproducible_from_torch_seed(generated):
    conf = {"noise_csv": generated["noise_csv"], "rir_csv": generated["rir_csv"], "speed_prob": 0.5}
    wavs, lengths = _speechlike(3, 0.5), torch.tensor([8000, 6000, 4000])
    aug = from_config(conf)

    def draw(augmenter, seed):
        torch.manual_seed(seed)
        return [augmenter(wavs, lengths) for _ in range(3)]

    first = draw(aug, 5)
    again = draw(aug, 5)  # the same augmenter, after earlier calls
    fresh = draw(from_config(conf), 5)
    other = draw(aug, 6)
    for a, b, c in zip(first, again, fresh):
        assert torch.equal(a[0], b[0]) and torch.equal(a[0], c[0]) and torch.equal(a[1], c[1])
    assert any(a[0].shape != o[0].shape or not torch.equal(a[0], o[0]) for a, o in zip(first, other))


def test_rir_and_noise_files_are_drawn_from_the_torch_seed(generated, monkeypatch):
    """speechbrain shuffles its noise/RIR list with its own fixed seed (SB_GLOBAL_SEED, epoch 0): every
    restarted list came back in the same order, so every reverberated utterance got the same RIR. The
    file drawn must follow torch's RNG (seeded by the trainer) and nothing else."""
    wav, length = _speechlike(1, 0.5), torch.tensor([8000])

    def reverb(torch_seed: int) -> torch.Tensor:
        aug = WaveformAugmenter(rir_csv=generated["rir_csv"], rir_prob=1.0, speed_prob=0.0)
        torch.manual_seed(torch_seed)
        return aug(wav, length)[0]

    outputs = [reverb(seed) for seed in range(8)]
    distinct = {tuple(o[0, :2000:50].tolist()) for o in outputs}
    assert len(distinct) >= 2  # 4 RIRs, 8 draws: all alike has probability 4 * 4**-8
    monkeypatch.setenv("SB_GLOBAL_SEED", "12345")  # speechbrain's own seed must not matter
    assert all(torch.equal(reverb(seed), o) for seed, o in enumerate(outputs))


def test_private_seed_ignores_and_keeps_global_rng(generated):
    conf = {"noise_csv": generated["noise_csv"], "noise_prob": 1.0, "speed_prob": 0.5, "seed": 3}
    wavs, lengths = _speechlike(2, 0.5), torch.tensor([8000, 8000])
    torch.manual_seed(0)
    a = [from_config(conf)(wavs, lengths)[0] for _ in range(1)][0]
    after = torch.rand(1)
    torch.manual_seed(99)
    b = from_config(conf)(wavs, lengths)[0]
    assert torch.equal(a, b)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after)  # the global stream was not consumed


class _AugmentCollate:
    """A picklable collate function that pads a batch and augments it, as a training collate would."""

    def __init__(self, augmenter):
        self.augmenter = augmenter

    def __call__(self, items):
        lengths = torch.tensor([len(x) for x in items])
        wavs = torch.zeros(len(items), int(lengths.max()))
        for i, x in enumerate(items):
            wavs[i, :len(x)] = x
        return self.augmenter(wavs, lengths)


def test_works_in_dataloader_workers(generated):
    aug = WaveformAugmenter(noise_csv=generated["noise_csv"], rir_csv=generated["rir_csv"], noise_prob=1.0,
                            rir_prob=0.5, speed_prob=0.5)
    items = [w[:n] for w, n in zip(_speechlike(8, 0.4), [6400, 5000, 3000, 6400, 2000, 4000, 6000, 1000])]
    aug(torch.stack([items[0]]), torch.tensor([6400]))  # built in the parent: must still pickle
    clone = pickle.loads(pickle.dumps(aug))
    assert clone._modules is None and clone.noise_csv == aug.noise_csv
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(items, batch_size=4, num_workers=2, collate_fn=_AugmentCollate(aug))
    batches = list(loader)
    assert len(batches) == 2
    for wavs, lengths in batches:
        assert torch.all(wavs[_pad_mask(wavs, lengths)] == 0) and wavs.abs().max() > 0


# ---------------------------------------------------------------------------------------------------- config

def test_from_config_none_and_off(generated):
    assert from_config(None) is None
    assert from_config({}) is None
    assert from_config({"speed_prob": 0.0}) is None
    assert from_config({"noise_csv": generated["noise_csv"], "noise_prob": 0.0, "speed_prob": 0.0}) is None
    aug = from_config({"noise_csv": generated["noise_csv"]})
    assert (aug.noise_prob, aug.rir_prob, aug.speed_prob, aug.speeds) == (0.5, 0.0, 0.5, [90, 100, 110])
    assert aug.num_noises == 4
    assert WaveformAugmenter.from_config({"speeds": [95, 105]}).speeds == [95, 105]


def test_unknown_config_key_lists_allowed():
    with pytest.raises(ConfigError) as err:
        from_config({"noise_prob": 0.5, "mix_prob": 1.0})
    message = str(err.value)
    assert "mix_prob" in message and all(key in message for key in CONFIG_KEYS)


@pytest.mark.parametrize("conf, words", [
    ({"speed_prob": 1.5}, "speed_prob"),
    ({"speed_prob": "half"}, "speed_prob"),
    ({"noise_csv": "NOISE", "noise_prob": -0.1}, "noise_prob"),
    ({"rir_csv": "RIR", "rir_prob": 2}, "rir_prob"),
    ({"noise_csv": "NOISE", "snr_low": 10, "snr_high": 5}, "snr_low=10 > snr_high=5"),
    ({"speeds": [0, 100]}, "speeds"),
    ({"speeds": [90.5]}, "speeds"),
    ({"speeds": []}, "speeds"),
    ({"speeds": "90"}, "speeds"),
    ({"noise_prob": 0.5}, "needs noise_csv"),
    ({"rir_prob": 1.0}, "needs rir_csv"),
    ({"seed": "x"}, "seed"),
])
def test_bad_config(generated, conf, words):
    conf = {k: {"NOISE": generated["noise_csv"], "RIR": generated["rir_csv"]}.get(v, v) if isinstance(v, str) else v
            for k, v in conf.items()}
    with pytest.raises(ConfigError, match=words):
        from_config(conf)


def test_bad_csv(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        WaveformAugmenter(noise_csv=str(tmp_path / "missing.csv"))
    (tmp_path / "bad.csv").write_text("ID,wav\nx,/a.wav\n")
    with pytest.raises(DataError) as err:
        WaveformAugmenter(rir_csv=str(tmp_path / "bad.csv"))
    assert (err.value.path, err.value.line) == (str(tmp_path / "bad.csv"), 1)
    good = _csv_of(tmp_path, "n", [np.zeros(1600), np.zeros(800)])
    lines = open(good).read().splitlines()
    for broken, reason in ((lines[2].replace(",0.05,", ",zero,"), "not a positive number"),
                           (lines[2].replace(str(tmp_path), "."), "absolute path"),
                           (lines[2].replace("f1.wav", "gone.wav"), "not found")):
        (tmp_path / "stale.csv").write_text("\n".join(lines[:2] + [broken]) + "\n")
        with pytest.raises(DataError, match=reason) as err:
            WaveformAugmenter(noise_csv=str(tmp_path / "stale.csv"))
        assert err.value.line == 3


# ------------------------------------------------------------------------------------------------------- CLIs

@pytest.mark.parametrize("name", ["make_augment_csvs", "generate_noise_rirs"])
def test_help(name, capsys):
    import importlib

    module = importlib.import_module(f"voxrecipes.bin.{name}")
    with pytest.raises(SystemExit) as exit_info:
        run(module.main, module.get_parser(), ["--help"])
    assert exit_info.value.code == 0 and "usage" in capsys.readouterr().out


def test_clis_end_to_end(tmp_path, capsys):
    from voxrecipes.bin import generate_noise_rirs, make_augment_csvs

    run(generate_noise_rirs.main, generate_noise_rirs.get_parser(),
        ["--out_dir", str(tmp_path / "dl"), "--num_noises", "2", "--num_rirs", "3", "--seed", "1"])
    out = tmp_path / "data" / "augment"
    run(make_augment_csvs.main, make_augment_csvs.get_parser(),
        ["--noise_dir", str(tmp_path / "dl" / "musan" / "noise"), "--rir_dir",
         str(tmp_path / "dl" / "RIRS_NOISES" / "simulated_rirs"), "--out_dir", str(out)])
    assert len((out / "noise.csv").read_text().splitlines()) == 3
    assert len((out / "rir.csv").read_text().splitlines()) == 4
    aug = from_config({"noise_csv": str(out / "noise.csv"), "rir_csv": str(out / "rir.csv")})
    assert (aug.num_noises, aug.num_rirs) == (2, 3)
    for argv in (["--out_dir", str(tmp_path / "x")], ["--rir_dir", str(tmp_path / "nothing"), "--out_dir",
                                                       str(tmp_path / "x")]):
        with pytest.raises(SystemExit) as exit_info:
            run(make_augment_csvs.main, make_augment_csvs.get_parser(), argv)
        assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "give --noise_dir, --rir_dir or both" in err and "no .wav/.flac files for the RIR CSV" in err
    assert not (tmp_path / "x").exists()
