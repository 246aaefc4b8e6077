"""Generated stand-ins for MUSAN point-source noises and RIRS_NOISES simulated RIRs.

The mini recipes cannot download MUSAN or RIRS_NOISES, yet the augmentation stage
must run its real code path (find audio under the corpus folders, write the
speechbrain CSVs, mix on the fly). So this module writes a few numpy-made files in
the real corpora's layouts::

    <out>/musan/noise/generated/noise-0000.wav            2-6 s point-source-like noises
    <out>/RIRS_NOISES/simulated_rirs/generated/rir-0000.wav  0.2-0.6 s room impulse responses

Noises cycle through four kinds that differ from speech in the ways real MUSAN
noises do: coloured (1/f^a) noise, mains hum with harmonics, clicks (sparse decaying
impulses) and babble-like noise (band-passed noises with a syllable-rate envelope).
An RIR is a direct-path impulse (the peak, so that speechbrain's alignment on the
maximum keeps speech in place) followed by a few early reflections and exponentially
decaying noise that falls by 60 dB over a random RT60. Everything is 16 kHz mono
16-bit and deterministic for a seed; a finished set with the same options is kept.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import soundfile

from voxrecipes.corpora.synth import SAMPLE_RATE
from voxrecipes.errors import ConfigError
from voxrecipes.fileio import atomic_dir, atomic_write

NOISE_SUBDIR = Path("musan") / "noise" / "generated"
RIR_SUBDIR = Path("RIRS_NOISES") / "simulated_rirs" / "generated"
STAMP = ".generated_noise_rirs.json"

logger = logging.getLogger(__name__)


def _normalise(x: np.ndarray, peak: float) -> np.ndarray:
    return (x * (peak / max(float(np.max(np.abs(x))), 1e-9))).astype(np.float32)


def _coloured(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Gaussian noise shaped to a 1/f^alpha power spectrum, alpha in [0.5, 2] (pink to brown)."""
    alpha = rng.uniform(0.5, 2.0)
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    spec *= 1.0 / np.maximum(freqs, 20.0) ** (alpha / 2)
    return np.fft.irfft(spec, n)


def _hum(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and decaying odd/even harmonics, slow amplitude wobble, a little hiss."""
    t = np.arange(n) / sr
    f0 = rng.choice([50.0, 60.0])
    x = sum(rng.uniform(0.3, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
            for k in range(1, 8))
    x *= 1.0 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t)
    return x + 0.02 * rng.standard_normal(n)


def _clicks(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Sparse clicks and knocks: random-sign impulses, each ringing down over a few ms, over faint noise."""
    x = 0.01 * rng.standard_normal(n)
    ring = int(0.02 * sr)
    for _ in range(int(rng.uniform(3, 12) * n / sr)):
        start = int(rng.integers(0, max(n - ring, 1)))
        decay = np.exp(-np.arange(ring) / (rng.uniform(0.001, 0.006) * sr))
        burst = rng.standard_normal(ring) * decay * rng.uniform(0.3, 1.0)
        x[start:start + ring] += burst[:n - start]
    return x


def _babble(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Babble-like: a few 'talkers', each band-passed noise in a formant-like band with a 3-7 Hz envelope."""
    t = np.arange(n) / sr
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    x = np.zeros(n)
    for _ in range(int(rng.integers(3, 7))):
        centre, width = rng.uniform(300, 3000), rng.uniform(150, 800)
        spec = np.fft.rfft(rng.standard_normal(n)) * np.exp(-0.5 * ((freqs - centre) / width) ** 2)
        envelope = np.clip(np.sin(2 * np.pi * rng.uniform(3, 7) * t + rng.uniform(0, 2 * np.pi)), 0, None) ** 2
        x += np.fft.irfft(spec, n) * envelope
    return x


_MAKERS = {"coloured": _coloured, "hum": _hum, "clicks": _clicks, "babble": _babble}
NOISE_KINDS = tuple(_MAKERS)


def make_noise(rng: np.random.Generator, kind: str, seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One noise of ``kind`` (see :data:`NOISE_KINDS`), ``seconds`` long, peak-normalised to 0.1-0.7."""
    n = int(round(seconds * sr))
    return _normalise(_MAKERS[kind](rng, n, sr), rng.uniform(0.1, 0.7))


def make_rir(rng: np.random.Generator, rt60: float, seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A simulated RIR: its direct path is its peak, value 0.9.

    The direct path comes after 0-5 ms of silence (propagation delay); 2-6 early
    reflections follow within 50 ms, then a noise tail whose amplitude decays as
    ``10 ** (-3 t / rt60)`` (60 dB per rt60). Reflections and tail stay below the
    direct path, which speechbrain's AddReverb relies on to keep the signal aligned.
    """
    n = int(round(seconds * sr))
    direct = int(rng.integers(0, int(0.005 * sr) + 1))
    h = np.zeros(n)
    h[direct] = 1.0
    for _ in range(int(rng.integers(2, 7))):
        at = direct + int(rng.integers(int(0.001 * sr), int(0.05 * sr)))
        if at < n:
            h[at] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.6)
    t = np.arange(n - direct - 1) / sr
    h[direct + 1:] += 0.3 * rng.standard_normal(t.size) * 10.0 ** (-3.0 * t / rt60)
    others = np.abs(np.delete(h, direct))
    if others.size and others.max() >= 0.8:  # keep the direct path the clear maximum
        h[np.arange(n) != direct] *= 0.8 / others.max()
    return (0.9 * h).astype(np.float32)


def _check(num_noises: int, num_rirs: int, rt60_min: float, rt60_max: float) -> None:
    if num_noises < 0 or num_rirs < 0 or num_noises + num_rirs == 0:
        raise ConfigError(f"num_noises={num_noises}, num_rirs={num_rirs}: need non-negative counts, not both 0")
    if not 0 < rt60_min <= rt60_max:
        raise ConfigError(f"rt60_min={rt60_min}, rt60_max={rt60_max}: need 0 < rt60_min <= rt60_max")


def _write(path: Path, samples: np.ndarray) -> None:
    soundfile.write(str(path), samples, SAMPLE_RATE, subtype="PCM_16")


def generate(out_dir: str | Path, *, num_noises: int = 8, num_rirs: int = 8, seed: int = 0,
             rt60_min: float = 0.2, rt60_max: float = 0.8) -> dict:
    """Write the noises and RIRs under ``out_dir``; return counts and folders.

    Noise ``i`` has kind ``NOISE_KINDS[i % 4]`` and 2-6 s; RIR ``i`` has 0.2-0.6 s and
    an RT60 uniform in [rt60_min, rt60_max]. Each folder is written atomically and a
    stamp with the options is written last, so a finished set with the same options
    is skipped and anything else is regenerated.
    """
    _check(num_noises, num_rirs, rt60_min, rt60_max)
    out_dir = Path(out_dir)
    params = {"num_noises": num_noises, "num_rirs": num_rirs, "seed": seed, "rt60_min": rt60_min,
              "rt60_max": rt60_max, "sample_rate": SAMPLE_RATE}
    result = {**params, "noise_dir": str(out_dir / NOISE_SUBDIR), "rir_dir": str(out_dir / RIR_SUBDIR)}
    stamp = out_dir / STAMP
    if stamp.is_file() and (num_noises == 0 or (out_dir / NOISE_SUBDIR).is_dir()) \
            and (num_rirs == 0 or (out_dir / RIR_SUBDIR).is_dir()):
        try:
            done = json.loads(stamp.read_text(encoding="utf-8"))
        except ValueError:
            done = None
        if done == params:
            logger.info("%s: noises and RIRs already generated with these options, skipping", out_dir)
            return {**result, "skipped": True}
    stamp.unlink(missing_ok=True)
    noise_rng, rir_rng = (np.random.default_rng([seed, k]) for k in (0, 1))
    if num_noises:
        with atomic_dir(out_dir / NOISE_SUBDIR) as tmp:
            for i in range(num_noises):
                kind = NOISE_KINDS[i % len(NOISE_KINDS)]
                _write(tmp / f"noise-{i:04d}.wav", make_noise(noise_rng, kind, noise_rng.uniform(2.0, 6.0)))
    if num_rirs:
        with atomic_dir(out_dir / RIR_SUBDIR) as tmp:
            for i in range(num_rirs):
                _write(tmp / f"rir-{i:04d}.wav",
                       make_rir(rir_rng, rir_rng.uniform(rt60_min, rt60_max), rir_rng.uniform(0.2, 0.6)))
    with atomic_write(stamp) as handle:
        json.dump(params, handle, sort_keys=True)
    logger.info("%s: wrote %d noises and %d RIRs", out_dir, num_noises, num_rirs)
    return {**result, "skipped": False}
