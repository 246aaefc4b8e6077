"""On-the-fly waveform augmentation: MUSAN-style point-source noise, simulated RIRs, speed perturbation.

The emotion model of the TalTech Odyssey 2024 system is trained with "on-the-fly data
augmentation using point source noises and simulated room impulse responses (RIRs)
from the MUSAN corpus", and "speed perturbation was applied to half of the training
batches". The signal processing is speechbrain's (``speechbrain.augment.time_domain``
``AddReverb``, ``AddNoise``, ``SpeedPerturb``); this module adds what a padded
training batch needs around it:

* :func:`make_audio_csv` writes the noise / RIR lists in speechbrain's legacy
  "extended CSV" format, which its modules read through ``ExtendedCSVDataset``::

      ID,duration,wav,wav_format,wav_opts
      free-sound/noise-free-sound-0000,4.52,/abs/musan/noise/free-sound/noise-free-sound-0000.wav,wav,

  ``ID`` and ``duration`` must be the first two columns, every further field is a
  triplet ``<name>,<name>_format,<name>_opts`` (format ``wav`` or ``flac``), and a
  ``$word`` in a path is a replacement variable, so paths are absolute and a path
  containing ``$`` is refused. speechbrain reads each file at whatever rate it has
  and resamples only by one global rate, so every file must already be mono at the
  training rate (16 kHz); anything else is an error naming the file.
* :class:`WaveformAugmenter` applies, to a padded ``(B, T)`` batch with lengths in
  samples: reverb per utterance (probability ``rir_prob``, one random RIR each),
  additive noise per utterance (``noise_prob``, SNR uniform in [snr_low, snr_high]
  dB), then speed perturbation of the whole batch (``speed_prob``; speeds in percent,
  90 = slower = longer). It converts lengths to speechbrain's relative lengths, pads
  each utterance for reverb so that the FFT convolution's circular tail does not wrap
  onto its start, loops short noises to cover the utterance, scales lengths by the
  speed, and zeroes everything beyond each length.

Randomness comes from torch's global RNG (speechbrain's own draws and the noise/RIR
shuffling included: its sampler's own fixed seed is replaced by a draw from torch's RNG),
and the noise/RIR order is redrawn on every call, so a call's
result depends only on the RNG state: ESPnet seeds it per epoch in the main process
and torch derives every data-loader worker's seed from that. The speechbrain modules
are built on first use and dropped when pickled, so an augmenter can be handed to
data-loader workers.
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import soundfile
import torch
from scipy.fft import next_fast_len

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac")
CSV_HEADER = ["ID", "duration", "wav", "wav_format", "wav_opts"]
DEFAULT_NOISE_PROB = 0.5
DEFAULT_RIR_PROB = 0.5


# ----------------------------------------------------------------------------------------------------------- CSVs

def _find_audio(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        found.extend(Path(root) / name for name in sorted(files) if name.lower().endswith(AUDIO_SUFFIXES))
    return found


def make_audio_csv(folder: str | os.PathLike, out_csv: str | os.PathLike, *, what: str,
                   sample_rate: int = 16000) -> dict:
    """Write a speechbrain CSV of every .wav/.flac under ``folder`` (recursively); return count and seconds.

    IDs are the paths relative to ``folder`` without the extension (``/``-separated),
    rows are sorted by ID, paths are absolute and durations are soundfile's
    ``frames / samplerate``. ``what`` names the use ("noise", "RIR") in errors. Raises
    :class:`DataError` for a missing or empty folder, an unreadable file, a file that
    is not mono at ``sample_rate``, an empty file, a ``$`` in a path (speechbrain
    would take it for a replacement variable) and two files that give the same ID.
    """
    folder = Path(os.path.abspath(folder))
    files = _find_audio(folder) if folder.is_dir() else []
    if not files:
        state = "is empty" if folder.is_dir() else "does not exist"
        raise DataError(folder, None, f"no .wav/.flac files for the {what} CSV: the folder {state}")
    rows: dict[str, tuple[float, Path]] = {}
    for path in files:
        if "$" in str(path):
            raise DataError(path, None, f"{what} file path contains '$', which speechbrain's CSV reader "
                                        "takes for a replacement variable; rename it")
        try:
            info = soundfile.info(str(path))
        except (RuntimeError, soundfile.LibsndfileError) as err:
            raise DataError(path, None, f"cannot read {what} audio: {err}") from err
        if info.samplerate != sample_rate:
            raise DataError(path, None, f"{what} audio is at {info.samplerate} Hz, expected {sample_rate} Hz "
                                        "(speechbrain does not resample per file); resample it first")
        if info.channels != 1:
            raise DataError(path, None, f"{what} audio has {info.channels} channels, expected mono")
        if info.frames == 0:
            raise DataError(path, None, f"{what} audio is empty (0 samples)")
        utt = path.relative_to(folder).with_suffix("").as_posix()
        if utt in rows:
            raise DataError(path, None, f"{what} ID {utt!r} is also that of {rows[utt][1]}; keep one of the two")
        rows[utt] = (info.frames / info.samplerate, path)
    with atomic_write(out_csv) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for utt in sorted(rows):
            seconds, path = rows[utt]
            writer.writerow([utt, repr(seconds), str(path), path.suffix.lower()[1:], ""])
    total = sum(seconds for seconds, _ in rows.values())
    return {"count": len(rows), "seconds": total}


def read_audio_csv(path: str | os.PathLike) -> list[tuple[str, float, str]]:
    """Read a CSV written by :func:`make_audio_csv` as ``(id, duration, path)`` rows.

    Raises :class:`DataError` (with the line) for a wrong header, a bad duration, a
    relative path and a missing file, so that a stale CSV fails when the config is
    loaded rather than inside a data-loader worker.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            lines = list(csv.reader(handle))
    except OSError as err:
        raise DataError(path, None, f"cannot read augmentation CSV: {err.strerror}") from err
    if not lines or lines[0] != CSV_HEADER:
        raise DataError(path, 1, f"expected the header {','.join(CSV_HEADER)} (write it with make_augment_csvs)")
    rows = []
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(CSV_HEADER):
            raise DataError(path, number, f"expected {len(CSV_HEADER)} fields, got {len(fields)}")
        try:
            seconds = float(fields[1])
        except ValueError:
            seconds = math.nan
        if not seconds > 0:
            raise DataError(path, number, f"duration {fields[1]!r} is not a positive number")
        if not os.path.isabs(fields[2]) or "$" in fields[2]:
            raise DataError(path, number, f"{fields[2]!r}: expected an absolute path without '$' "
                                          "(speechbrain reads relative paths from the working directory)")
        if not os.path.isfile(fields[2]):
            raise DataError(path, number, f"audio file {fields[2]} not found")
        rows.append((fields[0], seconds, fields[2]))
    if not rows:
        raise DataError(path, None, "augmentation CSV lists no files")
    return rows


# ------------------------------------------------------------------------------------------------------ augmenter

def _probability(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"augmentation {name}={value!r}: must be a probability in [0, 1]")
    return float(value)


class WaveformAugmenter:
    """Reverb, noise and speed perturbation of a padded batch, with speechbrain's modules.

    Arguments (the keys of :func:`from_config`):

    noise_csv, rir_csv
        speechbrain CSVs of :func:`make_audio_csv`; without one, that augmentation is off.
    noise_prob, rir_prob
        probability that an utterance gets noise / reverb; default 0.5 when the CSV is
        given (the paper gives no value). Setting one above 0 without its CSV is an error.
    snr_low, snr_high
        SNR range in dB, uniform per utterance (default 0-15, Kaldi's MUSAN noise range).
    speed_prob
        probability that the whole batch is speed-perturbed (0.5: "half of the training batches").
    speeds
        speeds in percent, one drawn per perturbed batch (100 leaves the batch as it is).
    sample_rate
        rate of the batch and of the noise/RIR files.
    seed
        None (the default, for training): draw from torch's global RNG, which ESPnet
        seeds per epoch. An int: a private stream started from it (offset by the
        data-loader worker id), the same sequence every time the augmenter is built,
        whatever else uses the global RNG.
    """

    def __init__(self, *, noise_csv: str | None = None, rir_csv: str | None = None, noise_prob: float | None = None,
                 snr_low: float = 0.0, snr_high: float = 15.0, rir_prob: float | None = None,
                 speed_prob: float = 0.5, speeds: list[int] | tuple[int, ...] = (90, 100, 110),
                 sample_rate: int = 16000, seed: int | None = None):
        for name, csv_path, prob in (("noise", noise_csv, noise_prob), ("rir", rir_csv, rir_prob)):
            if csv_path is None and prob is not None and _probability(f"{name}_prob", prob) > 0:
                raise ConfigError(f"augmentation {name}_prob={prob} needs {name}_csv")
        default = {"noise": DEFAULT_NOISE_PROB, "rir": DEFAULT_RIR_PROB}
        self.noise_prob = 0.0 if noise_csv is None else _probability(
            "noise_prob", default["noise"] if noise_prob is None else noise_prob)
        self.rir_prob = 0.0 if rir_csv is None else _probability(
            "rir_prob", default["rir"] if rir_prob is None else rir_prob)
        self.speed_prob = _probability("speed_prob", speed_prob)
        for name, value in (("snr_low", snr_low), ("snr_high", snr_high)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"augmentation {name}={value!r}: must be a number of dB")
        if snr_low > snr_high:
            raise ConfigError(f"augmentation snr_low={snr_low} > snr_high={snr_high}")
        if isinstance(speeds, (str, bytes)) or not isinstance(speeds, (list, tuple)) or not speeds or any(
                isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in speeds):
            raise ConfigError(f"augmentation speeds={speeds!r}: must be a non-empty list of positive integers "
                              "(percent, e.g. [90, 100, 110])")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ConfigError(f"augmentation sample_rate={sample_rate!r}: must be a positive integer")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"augmentation seed={seed!r}: must be an integer or null")
        self.snr_low, self.snr_high = float(snr_low), float(snr_high)
        self.speeds = [int(s) for s in speeds]
        self.sample_rate = sample_rate
        self.seed = seed
        self.noise_csv = None if noise_csv is None else os.path.abspath(noise_csv)
        self.rir_csv = None if rir_csv is None else os.path.abspath(rir_csv)
        # Read the lists now, so that a bad path fails when the config is loaded, not in a worker.
        self.num_noises = len(read_audio_csv(self.noise_csv)) if self.noise_csv else 0
        rirs = read_audio_csv(self.rir_csv) if self.rir_csv else []
        self.num_rirs = len(rirs)
        # Reverb pads each utterance by the longest RIR: speechbrain convolves circularly.
        self.rir_pad = math.ceil(max((d for _, d, _ in rirs), default=0.0) * sample_rate)
        self._modules = None
        self._generator = None

    # -------------------------------------------------------------------- config

    @classmethod
    def from_config(cls, conf: dict | None) -> WaveformAugmenter | None:
        """Build from a config mapping; None for no config or one that turns every augmentation off."""
        return from_config(conf)

    def __repr__(self) -> str:
        return (f"WaveformAugmenter(noise_csv={self.noise_csv!r} [{self.num_noises}], noise_prob={self.noise_prob}, "
                f"snr=[{self.snr_low}, {self.snr_high}] dB, rir_csv={self.rir_csv!r} [{self.num_rirs}], "
                f"rir_prob={self.rir_prob}, speed_prob={self.speed_prob}, speeds={self.speeds}, "
                f"sample_rate={self.sample_rate}, seed={self.seed})")

    @property
    def active(self) -> bool:
        """Whether any augmentation can happen."""
        return self.noise_prob > 0 or self.rir_prob > 0 or (self.speed_prob > 0 and self.speeds != [100])

    # -------------------------------------------------------------- pickling, lazy build

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_modules"] = None  # speechbrain's modules hold data loaders and iterators
        state["_generator"] = None
        return state

    def _build(self) -> dict:
        if self._modules is None:
            from speechbrain.augment.time_domain import AddNoise, AddReverb, SpeedPerturb

            self._modules = {
                "noise": AddNoise(csv_file=self.noise_csv, snr_low=self.snr_low, snr_high=self.snr_high,
                                  pad_noise=True, noise_sample_rate=self.sample_rate,
                                  clean_sample_rate=self.sample_rate) if self.noise_csv else None,
                "reverb": AddReverb(csv_file=self.rir_csv, reverb_sample_rate=self.sample_rate,
                                    clean_sample_rate=self.sample_rate) if self.rir_csv else None,
                "speed": SpeedPerturb(orig_freq=self.sample_rate, speeds=list(self.speeds)),
            }
            # speechbrain opens its noise/RIR loader inside the first call, between its own
            # random draws; open it now, off the global RNG, so the first call draws like any other.
            with torch.random.fork_rng(devices=[]):
                silence = torch.zeros(1, 160)
                if self._modules["noise"] is not None:
                    self._modules["noise"](silence, torch.ones(1))
                if self._modules["reverb"] is not None:
                    self._modules["reverb"](silence)
        return self._modules

    @contextlib.contextmanager
    def _rng(self, device: torch.device) -> Iterator[None]:
        """With an int seed, run the call on a private RNG stream; otherwise on the global RNG as it is."""
        if self.seed is None:
            yield
            return
        if self._generator is None:
            info = torch.utils.data.get_worker_info()
            self._generator = torch.Generator().manual_seed(self.seed + (0 if info is None else info.id))
        call_seed = int(torch.randint(0, 2**62, (1,), generator=self._generator))
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda, device_type="cuda"):
            torch.default_generator.manual_seed(call_seed)
            if cuda:
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(call_seed)
            yield

    # ------------------------------------------------------------------------ call

    def __call__(self, wavs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment a padded batch: ``wavs`` (B, T) float, ``lengths`` (B,) samples -> new (wavs, lengths).

        The input is not modified. The output may be longer or shorter than T after
        speed perturbation; samples beyond each returned length are zero.
        """
        if wavs.dim() != 2 or not wavs.is_floating_point():
            raise ValueError(f"expected a (batch, time) float tensor, got {tuple(wavs.shape)} {wavs.dtype}")
        lengths_in = lengths
        lengths = torch.as_tensor(lengths).to(device="cpu", dtype=torch.long).reshape(-1)
        if lengths.numel() != wavs.shape[0] or (lengths < 0).any() or (lengths > wavs.shape[1]).any():
            raise ValueError(f"lengths {lengths.tolist()} do not fit a batch of shape {tuple(wavs.shape)}")
        with torch.no_grad(), self._rng(wavs.device):
            wavs, lengths = self._augment(wavs, lengths)
        return wavs, lengths.to(device=lengths_in.device if torch.is_tensor(lengths_in) else "cpu",
                                dtype=lengths_in.dtype if torch.is_tensor(lengths_in) else torch.long)

    def _augment(self, wavs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        modules = self._build()
        wavs = _masked(wavs, lengths)  # a new tensor: the input is not modified
        batch = wavs.shape[0]
        # Draw every decision first, so that the draws do not depend on what the modules consume.
        reverb = (torch.rand(batch) < self.rir_prob) & (lengths > 0)
        noise = (torch.rand(batch) < self.noise_prob) & (lengths > 0)
        speed = bool(torch.rand(()) < self.speed_prob)
        if modules["reverb"] is not None:
            for i in torch.nonzero(reverb).flatten().tolist():
                wavs[i, :lengths[i]] = self._reverb_one(modules["reverb"], wavs[i, :lengths[i]])
        if modules["noise"] is not None and noise.any():
            rows = torch.nonzero(noise).flatten().to(wavs.device)
            width = int(lengths[noise].max())
            _restart(modules["noise"], "data_loader", "noise_data")
            relative = (lengths[noise].double() / width).to(device=wavs.device, dtype=torch.float32)
            mixed = modules["noise"](wavs[rows, :width], relative)
            wavs[rows, :width] = mixed
            wavs = _masked(wavs, lengths)
        if speed:
            perturb = modules["speed"]
            perturb.device = wavs.device  # speechbrain would otherwise move the batch to its construction device
            wavs = perturb(wavs)
            percent = self.speeds[int(perturb.samp_index)]
            # torchaudio's resampler gives ceil(T * new / orig) samples; new/orig = 100/percent.
            lengths = torch.clamp((lengths * 100 + percent - 1) // percent, max=wavs.shape[1])
            wavs = _masked(wavs, lengths)
        return wavs, lengths

    def _reverb_one(self, module, wav: torch.Tensor) -> torch.Tensor:
        """Convolve one utterance with one random RIR; zero padding keeps the circular tail off its start.

        The padded length is rounded up to a product of 2, 3 and 5 (scipy's ``next_fast_len``
        for real transforms): speechbrain's FFT convolution is up to 10x slower at lengths
        with a large prime factor.
        """
        _restart(module, "data_loader", "rir_data")
        size = next_fast_len(wav.shape[0] + self.rir_pad, real=True)
        padded = torch.nn.functional.pad(wav, (0, size - wav.shape[0]))
        return module(padded.unsqueeze(0))[0, :wav.shape[0]]


#: The options of :func:`from_config`: the keyword arguments of :class:`WaveformAugmenter`.
CONFIG_KEYS = tuple(inspect.signature(WaveformAugmenter).parameters)


def _restart(module, loader_attr: str, iter_attr: str) -> None:
    """Start speechbrain's noise/RIR loader afresh, so the files drawn depend only on the RNG state now.

    speechbrain keeps one shuffled iterator for the module's lifetime; restarting it
    makes a call reproducible from the seed alone, whatever calls came before it. Its
    shuffling sampler (``ReproducibleRandomSampler``) does not use torch's RNG but its
    own seed (``SB_GLOBAL_SEED``, default 563375142) plus an epoch that nobody advances,
    so every restart would give the same order and every reverberated utterance the
    same RIR. The sampler's seed is therefore drawn from torch's RNG (seeded by the
    trainer) before each restart. The loader itself is built on first use.
    """
    loader = getattr(module, loader_attr, None)
    if loader is not None:
        sampler = getattr(loader, "sampler", None)
        if sampler is not None and hasattr(sampler, "seed") and hasattr(sampler, "set_epoch"):
            sampler.seed = int(torch.randint(0, 2**31 - 1, ()))
            sampler.set_epoch(0)
        setattr(module, iter_attr, iter(loader))


def _masked(wavs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(wavs.shape[1], device=wavs.device)
    return wavs * (positions.unsqueeze(0) < lengths.to(wavs.device).unsqueeze(1)).to(wavs.dtype)


def from_config(conf: dict | None) -> WaveformAugmenter | None:
    """A :class:`WaveformAugmenter` from a mapping of :data:`CONFIG_KEYS`; None when nothing would be augmented.

    Unknown keys raise :class:`ConfigError` listing the allowed ones.
    """
    if conf is None:
        return None
    if not isinstance(conf, dict):
        raise ConfigError(f"augmentation config must be a mapping, got {type(conf).__name__}")
    if not conf:
        return None
    unknown = sorted(str(k) for k in conf if k not in CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"unknown augmentation option(s) {', '.join(unknown)}; allowed: {', '.join(CONFIG_KEYS)}")
    augmenter = WaveformAugmenter(**conf)
    return augmenter if augmenter.active else None
