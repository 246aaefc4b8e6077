"""The ``faster_whisper`` ASR backend: a CTranslate2 Whisper through faster-whisper, batched across utterances.

faster-whisper (CTranslate2, int8 on CPU) is what many researchers run for Whisper
transcription at scale. Its :class:`faster_whisper.BatchedInferencePipeline` batches the
30 s chunks of *one* recording; an ASR stage has many short utterances instead. So a
batch of utterances is laid end to end, with :data:`GAP_SECONDS` of silence between
them, and each utterance is handed to the pipeline as one clip (``clip_timestamps``):
every clip is cut out by itself, padded to Whisper's window and decoded in one batched
``generate`` call, and no audio of one utterance reaches another. Each segment the
pipeline yields carries ``seek``, the frame offset of its clip, which maps it back to
its utterance; its times are made relative to the utterance.

Decoding: greedy (``beam_size`` 1, temperature 0, no fallback), no conditioning on
previous text, no VAD. Language: the batch's language (all utterances of a batch share
one, see :class:`voxrecipes.models.asr.BatchedTranscriber`), or, when it is unknown,
detection per utterance inside the batch (the pipeline's ``multilingual`` option, one
encoder pass). An utterance longer than the 30 s window goes through
:meth:`faster_whisper.WhisperModel.transcribe` (sequential long-form decoding) alone.

The model is a CTranslate2 Whisper directory (``model.bin``, ``config.json``,
``tokenizer.json``, ``vocabulary.txt``) or ``package:whisper_base`` /
``package:whisper_tiny_en`` (:func:`voxrecipes.models.model_paths.resolve_ct2_model_dir`).
``compute_type`` ``auto`` is int8 on CPU and float16 on a GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from voxrecipes.errors import ConfigError
from voxrecipes.models.asr import DEFAULT_TASK, BatchedTranscriber, Hypothesis, Segment, make_hypothesis

logger = logging.getLogger(__name__)

#: silence between the utterances of a batch in the concatenated audio; clips never include it, it only keeps
#: the clips' frame offsets (``seek``) distinct
GAP_SECONDS = 0.1
#: ``compute_type`` ``auto`` per device
AUTO_COMPUTE_TYPES = {"cpu": "int8", "cuda": "float16"}


def split_device(device: str | None) -> tuple[str, int]:
    """``cpu`` / ``cuda`` / ``cuda:N`` / ``auto`` (or empty) -> (CTranslate2 device, device index)."""
    import ctranslate2

    device = (device or "auto").strip()
    if device == "auto":
        return ("cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"), 0
    name, _, index = device.partition(":")
    if name not in ("cpu", "cuda") or (index and not index.isdigit()):
        raise ConfigError(f"device '{device}' is not one of cpu, cuda, cuda:N, auto")
    if name == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        raise ConfigError(f"device '{device}' requested but CTranslate2 sees no CUDA device; use --device cpu")
    return name, int(index or 0)


class FasterWhisperTranscriber(BatchedTranscriber):
    """A CTranslate2 Whisper through faster-whisper, batched across utterances (see the module docstring).

    ``language`` is the default language (``""``: detect per utterance); ``num_beams``
    1 is greedy; ``max_new_tokens`` bounds a hypothesis (``None``: the model's limit);
    ``timestamps`` off decodes without timestamp tokens (one segment per utterance);
    ``cpu_threads`` 0 leaves faster-whisper's default (``OMP_NUM_THREADS`` when set, else 4;
    the recipes' path.sh sets 1 thread per job).
    """

    backend = "faster_whisper"

    def __init__(self, model: str, *, device: str | None = "cpu", compute_type: str = "auto", language: str = "",
                 task: str = DEFAULT_TASK, num_beams: int = 1, max_new_tokens: int | None = None,
                 timestamps: bool = True, cpu_threads: int = 0) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        from voxrecipes.models.model_paths import resolve_ct2_model_dir

        super().__init__()
        # its per-call INFO lines (duration, "VAD filter removed", detected language) describe the concatenated
        # batch, not an utterance, and would only mislead in the stage's log
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
        self.model_spec = str(model)
        self.model_path = resolve_ct2_model_dir(model)
        if num_beams < 1:
            raise ConfigError(f"num_beams must be >= 1, got {num_beams}")
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if cpu_threads < 0:
            raise ConfigError(f"cpu_threads must be >= 0, got {cpu_threads}")
        self.device, self.device_index = split_device(device)
        self.compute_type = AUTO_COMPUTE_TYPES[self.device] if compute_type == "auto" else compute_type
        try:
            self.model = WhisperModel(self.model_path, device=self.device, device_index=self.device_index,
                                      compute_type=self.compute_type, cpu_threads=cpu_threads,
                                      local_files_only=True)
        except (RuntimeError, ValueError, OSError) as err:
            raise ConfigError(f"cannot load ASR model '{model}' ({self.model_path}) with faster-whisper "
                              f"(compute_type {self.compute_type} on {self.device}): {err}") from None
        self.pipeline = BatchedInferencePipeline(self.model)
        self.sampling_rate = int(self.model.feature_extractor.sampling_rate)
        self.multilingual = bool(self.model.model.is_multilingual)
        self._all_languages = frozenset(_LANGUAGE_CODES)
        self.long_form_samples = int(self.model.feature_extractor.chunk_length * self.sampling_rate)
        self.task = task
        self.num_beams = num_beams
        self.max_new_tokens = max_new_tokens
        self.timestamps = bool(timestamps)
        self.language = (language or "").strip()
        if self.language:
            self.decoding_language(self.language)  # an unknown code fails now, not after the first batch

    def known_language(self, language: str) -> bool:
        return language in self._all_languages

    def describe(self) -> str:
        return (f"{self.model_spec} ({self.model_path}; faster-whisper, CTranslate2 "
                f"{'multilingual' if self.multilingual else 'English-only'}) on {self.device}:{self.device_index} "
                f"in {self.compute_type}, {self.sampling_rate} Hz, beam_size={self.num_beams}, task={self.task}, "
                f"language={self.language or 'per utterance'}, timestamps={self.timestamps}")

    def _options(self, language: str) -> dict:
        return dict(language=language or None, task=self.task, beam_size=self.num_beams, temperature=0.0,
                    without_timestamps=not self.timestamps, max_new_tokens=self.max_new_tokens, vad_filter=False,
                    log_progress=False)

    def transcribe_batch(self, waves: Sequence[np.ndarray], language: str = "") -> list[Hypothesis]:
        """Hypotheses of float32 mono waveforms at :attr:`sampling_rate`, in order, decoded as one batch."""
        if not waves:
            return []
        if len(waves) == 1 and len(waves[0]) > self.long_form_samples:
            return [self._transcribe_long(waves[0], language)]
        rate = self.sampling_rate
        gap = int(round(GAP_SECONDS * rate))
        pieces, clips, offsets, position = [], [], [], 0
        for wave in waves:
            clips.append({"start": position / rate, "end": (position + len(wave)) / rate})
            offsets.append(int(clips[-1]["start"] * rate) / rate)  # the pipeline's own rounding of the start
            pieces += [np.asarray(wave, dtype=np.float32), np.zeros(gap, np.float32)]
            position += len(wave) + gap
        frames_per_second = self.model.frames_per_second
        clip_of_seek = {int(offset * frames_per_second): i for i, offset in enumerate(offsets)}
        if len(clip_of_seek) != len(waves):  # cannot happen with a gap of several frames; guards the mapping
            raise RuntimeError("faster-whisper clips share a frame offset; increase GAP_SECONDS")
        detect = not language and self.multilingual
        segments, _ = self.pipeline.transcribe(np.concatenate(pieces), batch_size=len(waves), clip_timestamps=clips,
                                               multilingual=detect, **self._options(language))
        per_clip: list[list[Segment]] = [[] for _ in waves]
        for seg in segments:
            i = clip_of_seek[seg.seek]
            per_clip[i].append(Segment(seg.start - offsets[i], seg.end - offsets[i], seg.text))
        return [make_hypothesis(segs, len(wave) / rate, language or None) for segs, wave in zip(per_clip, waves,
                                                                                                 strict=True)]

    def _transcribe_long(self, wave: np.ndarray, language: str) -> Hypothesis:
        """A wave over the 30 s window: faster-whisper's sequential long-form decoding, greedy, not conditioned."""
        segments, _ = self.model.transcribe(np.asarray(wave, dtype=np.float32), condition_on_previous_text=False,
                                            **self._options(language))
        return make_hypothesis([Segment(s.start, s.end, s.text) for s in segments], len(wave) / self.sampling_rate,
                               language or None)
