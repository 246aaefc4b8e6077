"""Spoken-language identification with Whisper's language token (faster-whisper), per chunk or per recording.

The labelling pipeline needs each sentence's language (the manifest's ``language``
column, the per-language evaluation) and gets nothing but audio. Whisper predicts a
language token from the first 30 s of a clip; faster-whisper exposes its probabilities
(:meth:`faster_whisper.WhisperModel.detect_language`, one encoder pass). The ASR stage
decodes with the language it is given (``utt2lang``) and records it, so this stage runs
first and writes ``utt2lang``:

- the candidates are restricted to ``languages`` (the languages the platform serves);
  the chunk's language is the candidate of highest probability;
- ``per_recording`` (default in the recipes): one language per recording, the candidate
  with the highest summed log-probability over the recording's chunks. A voice-chat
  session is one language; a short chunk ("ok", "gg") alone is often misidentified,
  and the vote across the session corrects it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from voxrecipes.errors import ConfigError

logger = logging.getLogger(__name__)

#: probability floor before the log (a candidate Whisper gives ~0 must not make the sum -inf)
PROB_FLOOR = 1e-8


class WhisperLanguageId:
    """Candidate-restricted language probabilities of 16 kHz clips from a CTranslate2 Whisper."""

    def __init__(self, model: str, languages: Sequence[str], *, device: str = "cpu", compute_type: str = "auto",
                 cpu_threads: int = 0) -> None:
        from faster_whisper import WhisperModel

        from voxrecipes.models.asr_faster_whisper import AUTO_COMPUTE_TYPES, split_device
        from voxrecipes.models.model_paths import resolve_ct2_model_dir

        if not languages:
            raise ConfigError("language identification needs at least one candidate language")
        path = resolve_ct2_model_dir(model)
        name, index = split_device(device)
        ctype = AUTO_COMPUTE_TYPES[name] if compute_type == "auto" else compute_type
        self.model = WhisperModel(path, device=name, device_index=index, compute_type=ctype, cpu_threads=cpu_threads)
        if not self.model.model.is_multilingual:
            raise ConfigError(f"{model} is an English-only Whisper: it cannot identify languages")
        self.languages = list(languages)

    def probabilities(self, wave: np.ndarray) -> np.ndarray:
        """Probabilities of the candidate languages (renormalised over them) for one clip."""
        _, _, all_probs = self.model.detect_language(audio=np.asarray(wave, dtype=np.float32))
        table = dict(all_probs)
        unknown = [c for c in self.languages if c not in table]
        if unknown:
            raise ConfigError(f"Whisper has no language code {', '.join(unknown)}")
        probs = np.array([table[c] for c in self.languages], dtype=np.float64)
        return probs / probs.sum() if probs.sum() > 0 else np.full(len(probs), 1.0 / len(probs))


def decide(probs: dict[str, np.ndarray], utt2rec: dict[str, str], languages: Sequence[str],
           per_recording: bool) -> dict[str, str]:
    """``utt -> language``: the best candidate per chunk, or per recording by summed log-probabilities."""
    if not per_recording:
        return {u: languages[int(np.argmax(p))] for u, p in probs.items()}
    totals: dict[str, np.ndarray] = {}
    for utt, p in probs.items():
        rec = utt2rec[utt]
        totals[rec] = totals.get(rec, 0.0) + np.log(np.maximum(p, PROB_FLOOR))
    best = {rec: languages[int(np.argmax(t))] for rec, t in totals.items()}
    return {u: best[utt2rec[u]] for u in probs}


def identify(lid: WhisperLanguageId, audio: Iterable[tuple[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Candidate probabilities of every ``(utt, 16 kHz wave)``."""
    return {utt: lid.probabilities(wave) for utt, wave in audio}
