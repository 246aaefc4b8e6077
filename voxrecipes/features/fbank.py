"""Kaldi-compatible log-mel filterbank features over a data directory.

Uses :func:`torchaudio.compliance.kaldi.fbank`, which reproduces Kaldi's
``compute-fbank-feats`` (povey window, pre-emphasis 0.97, DC removal, snip_edges,
no dither here so that features are reproducible). Kaldi reads 16-bit samples as
integers, so the float waveform in [-1, 1] from :func:`voxrecipes.data.audio.iter_audio`
is multiplied by ``waveform_scale`` (32768 by default) to obtain Kaldi's log-energies.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from voxrecipes.errors import DataError
from voxrecipes.features.arkio import write_ark_scp

logger = logging.getLogger(__name__)


@dataclass
class FbankConfig:
    """Options of the log-mel front end (argparse defaults mirror these)."""

    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    sample_rate: int = 16000
    waveform_scale: float = 32768.0

    def min_samples(self) -> int:
        """Samples needed for one frame (snip_edges=True)."""
        return int(self.sample_rate * self.frame_length_ms / 1000.0)


def compute_fbank(wave: np.ndarray, config: FbankConfig, utt: str = "<utt>", source: str | os.PathLike | None = None,
                  line: int | None = None) -> np.ndarray:
    """Return the (frames x num_mel_bins) float32 log-mel matrix of a mono waveform.

    Raises :class:`DataError` naming ``utt`` when the audio is shorter than one frame
    or the features are not finite (``source``/``line`` locate it, e.g. in wav.scp).
    """
    import torch
    import torchaudio.compliance.kaldi as kaldi

    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    need = config.min_samples()
    if wave.size < need:
        raise DataError(source, line, f"utterance '{utt}' is too short: {wave.size} samples, one "
                                      f"{config.frame_length_ms:g} ms frame needs {need}")
    if not np.all(np.isfinite(wave)):
        raise DataError(source, line, f"utterance '{utt}': audio contains NaN or infinite samples")
    tensor = torch.from_numpy(wave * np.float32(config.waveform_scale)).unsqueeze(0)
    feats = kaldi.fbank(tensor, num_mel_bins=config.num_mel_bins, frame_length=config.frame_length_ms,
                        frame_shift=config.frame_shift_ms, sample_frequency=float(config.sample_rate),
                        dither=0.0, energy_floor=0.0).numpy().astype(np.float32)
    if feats.shape[0] == 0:
        raise DataError(source, line, f"utterance '{utt}' gives no frames")
    if not np.all(np.isfinite(feats)):
        raise DataError(source, line, f"utterance '{utt}': log-mel features contain NaN or infinite values")
    return feats


def extract_fbank(data_dir: str | os.PathLike, out_prefix: str | os.PathLike, config: FbankConfig,
                  progress: bool = True) -> int:
    """Write log-mel features of every utterance of ``data_dir`` to ``<out_prefix>.ark/.scp``.

    Nothing is left under the final names when any utterance fails.
    """
    from tqdm import tqdm

    from voxrecipes.data.audio import iter_audio
    from voxrecipes.data.datadir import DataDir

    dd = DataDir.load(data_dir)
    # an utterance is located by its segments line when there is one, else by its wav.scp line
    where = "segments" if dd.table("segments") else "wav.scp"
    wav_scp = dd.file_path("wav.scp")
    stats = {"frames": 0, "utts": 0}
    start = time.time()

    def items() -> Iterator[tuple[str, np.ndarray]]:
        for utt, wave in tqdm(iter_audio(dd, sample_rate=config.sample_rate), total=len(dd.utts), desc="fbank",
                              unit="utt", disable=not progress, mininterval=2.0):
            feats = compute_fbank(wave, config, utt, source=dd.file_path(where), line=dd.line_of(where, utt))
            stats["frames"] += feats.shape[0]
            stats["utts"] += 1
            yield utt, feats

    count = write_ark_scp(out_prefix, items())
    if count == 0:
        raise DataError(wav_scp, None, "no utterances")
    logger.info("wrote %d utterances, %d frames (%.1f s of audio) of %d-bin log-mel to %s.scp in %.1f s",
                count, stats["frames"], stats["frames"] * config.frame_shift_ms / 1000.0, config.num_mel_bins,
                os.fspath(out_prefix), time.time() - start)
    return count
