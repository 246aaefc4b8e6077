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

Decoding: greedy (``beam_size`` 1, temperature 0), no conditioning on previous text, no
VAD. Greedy Whisper sometimes falls into a repetition loop ("that was the only thing
that was the only thing ..." until the token limit); the batched pipeline has no cure
for it. So, with ``fallback`` on (the default), an utterance whose hypothesis fails
Whisper's own test -- gzip compression ratio above :data:`COMPRESSION_RATIO_THRESHOLD`
(2.4, OpenAI's and faster-whisper's default) -- is decoded again alone by
:meth:`faster_whisper.WhisperModel.transcribe` with Whisper's temperature fallback
(:data:`FALLBACK_TEMPERATURES`, seeded, so runs repeat), and the count is logged.

Language: the batch's language (all utterances of a batch share
one, see :class:`voxrecipes.models.asr.BatchedTranscriber`), or, when it is unknown,
detection per utterance inside the batch (the pipeline's ``multilingual`` option, one
encoder pass). An utterance longer than the 30 s window goes through
:meth:`faster_whisper.WhisperModel.transcribe` (sequential long-form decoding) alone.

Packing (``pack_seconds`` > 0, off by default): every utterance decoded alone still
costs a full 30 s encoder pass. With packing, the utterances of a batch (one language)
are laid end to end in windows of at most ``pack_seconds``, ``pack_gap_seconds`` of
silence between them (:mod:`voxrecipes.models.asr_packing`), each window is one clip,
decoded with word timestamps, and each word goes back to the utterance that holds it.
A window with more than one utterance whose text fails the repetition test, and an
utterance of such a window that got no word (Whisper skipped it), are decoded again one
utterance per clip as above; the counts are logged. Packing needs a known language
(``--language`` or ``utt2lang``): a batch whose language is detected is not packed.
Segments of a packed utterance are the parts of Whisper's segments that fell on it, their
times from its words.

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
#: Whisper's repetition test: a text whose gzip compression ratio is above this failed (OpenAI's default)
COMPRESSION_RATIO_THRESHOLD = 2.4
#: temperatures tried in turn when decoding fails (OpenAI's and faster-whisper's defaults)
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
#: CTranslate2's sampling seed before a fallback decoding, so that reruns give the same transcript
FALLBACK_SEED = 0
#: Whisper's input window (seconds): the most a packed window may hold
WINDOW_SECONDS = 30.0
#: silence between the utterances of a packed window. ours: 1.0 because with 0.5 s Whisper ran sentences together
#: (a window's words landed on its neighbours, and more windows looped: WER 32.5% against 29.0% unpacked on 100
#: utterances of the mini podcast's dev_filt), while 1.0 s gave 17.1% (BENCHMARKS.md, "ASR packing")
DEFAULT_PACK_GAP_SECONDS = 1.0
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
    ``fallback`` re-decodes a repetition loop with temperature fallback (module docstring);
    ``cpu_threads`` 0 leaves faster-whisper's default (``OMP_NUM_THREADS`` when set, else 4;
    the recipes' path.sh sets 1 thread per job); ``pack_seconds`` > 0 packs the utterances
    of a batch into windows of that length, ``pack_gap_seconds`` apart (module docstring).
    """

    backend = "faster_whisper"

    def __init__(self, model: str, *, device: str | None = "cpu", compute_type: str = "auto", language: str = "",
                 task: str = DEFAULT_TASK, num_beams: int = 1, max_new_tokens: int | None = None,
                 timestamps: bool = True, fallback: bool = True, cpu_threads: int = 0, pack_seconds: float = 0.0,
                 pack_gap_seconds: float = DEFAULT_PACK_GAP_SECONDS) -> None:
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
        if not 0 <= pack_seconds <= WINDOW_SECONDS:
            raise ConfigError(f"pack_seconds must be between 0 (off) and Whisper's {WINDOW_SECONDS} s window, "
                              f"got {pack_seconds}")
        if pack_gap_seconds < 0:
            raise ConfigError(f"pack_gap_seconds must be >= 0, got {pack_gap_seconds}")
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
        self.fallback = bool(fallback)
        #: utterances decoded again with temperature fallback so far
        self.fallbacks = 0
        self.pack_seconds = float(pack_seconds)
        self.pack_gap_seconds = float(pack_gap_seconds)
        #: packed utterances decoded again alone so far (their window failed the repetition test, or they got no word)
        self.unpacked = 0
        self.language = (language or "").strip()
        if self.language:
            self.decoding_language(self.language)  # an unknown code fails now, not after the first batch

    def known_language(self, language: str) -> bool:
        return language in self._all_languages

    def describe(self) -> str:
        packing = (f"{self.pack_seconds:g} s windows, {self.pack_gap_seconds:g} s gaps" if self.pack_seconds
                   else "off")
        return (f"{self.model_spec} ({self.model_path}; faster-whisper, CTranslate2 "
                f"{'multilingual' if self.multilingual else 'English-only'}) on {self.device}:{self.device_index} "
                f"in {self.compute_type}, {self.sampling_rate} Hz, beam_size={self.num_beams}, task={self.task}, "
                f"language={self.language or 'per utterance'}, timestamps={self.timestamps}, "
                f"fallback={self.fallback}, packing={packing}")

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
        if self.pack_seconds and language and len(waves) > 1:
            hyps = self._decode_packed(waves, language)
        else:
            hyps = self._decode_clips(waves, language)
        if self.fallback:
            from faster_whisper.transcribe import get_compression_ratio

            for i, hyp in enumerate(hyps):
                if hyp.text and get_compression_ratio(hyp.text) > COMPRESSION_RATIO_THRESHOLD:
                    hyps[i] = self._transcribe_long(waves[i], language, fallback=True)
                    self.fallbacks += 1
                    logger.info("repetition loop (%d words, compression ratio %.1f) decoded again with temperature "
                                "fallback: %d words", len(hyp.text.split()), get_compression_ratio(hyp.text),
                                len(hyps[i].text.split()))
        return hyps

    def _concatenate(self, clip_waves: Sequence[Sequence[np.ndarray]], gap_seconds: float
                     ) -> tuple[np.ndarray, list[dict], list[float]]:
        """The clips laid end to end, :data:`GAP_SECONDS` apart; a clip's waves ``gap_seconds`` apart inside it.

        Returns the audio, the pipeline's ``clip_timestamps`` and each clip's start as the
        pipeline rounds it (seconds).
        """
        rate = self.sampling_rate
        gap, inner_gap = int(round(GAP_SECONDS * rate)), int(round(gap_seconds * rate))
        pieces, clips, offsets, position = [], [], [], 0
        for waves in clip_waves:
            start = position
            for j, wave in enumerate(waves):
                if j:
                    pieces.append(np.zeros(inner_gap, np.float32))
                    position += inner_gap
                pieces.append(np.asarray(wave, dtype=np.float32))
                position += len(wave)
            clips.append({"start": start / rate, "end": position / rate})
            offsets.append(int(clips[-1]["start"] * rate) / rate)  # the pipeline's own rounding of the start
            pieces.append(np.zeros(gap, np.float32))
            position += gap
        return np.concatenate(pieces), clips, offsets

    def _clip_of_seek(self, offsets: Sequence[float]) -> dict[int, int]:
        """Frame offset (a segment's ``seek``) -> clip index."""
        frames_per_second = self.model.frames_per_second
        clip_of_seek = {int(offset * frames_per_second): i for i, offset in enumerate(offsets)}
        if len(clip_of_seek) != len(offsets):  # cannot happen with a gap of several frames; guards the mapping
            raise RuntimeError("faster-whisper clips share a frame offset; increase GAP_SECONDS")
        return clip_of_seek

    def _decode_packed(self, waves: Sequence[np.ndarray], language: str) -> list[Hypothesis]:
        """Hypotheses of ``waves`` (one known language) decoded in packed windows (module docstring)."""
        from faster_whisper.transcribe import get_compression_ratio

        from voxrecipes.models.asr_packing import assign_words, pack_windows, window_spans

        rate = self.sampling_rate
        durations = [len(w) / rate for w in waves]
        windows = pack_windows(durations, self.pack_seconds, self.pack_gap_seconds)
        audio, clips, offsets = self._concatenate([[waves[i] for i in w] for w in windows], self.pack_gap_seconds)
        clip_of_seek = self._clip_of_seek(offsets)
        # each utterance's span on the concatenated audio's clock, where the words' timestamps are
        spans = [window_spans([durations[i] for i in w], self.pack_gap_seconds, clip["start"])
                 for w, clip in zip(windows, clips, strict=True)]
        segments, _ = self.pipeline.transcribe(audio, batch_size=len(windows), clip_timestamps=clips,
                                               multilingual=False, word_timestamps=True,
                                               **{**self._options(language), "without_timestamps": False})
        per_utt: list[list[Segment]] = [[] for _ in waves]
        window_texts: list[list[str]] = [[] for _ in windows]
        for seg in segments:
            k = clip_of_seek[seg.seek]
            window_texts[k].append(seg.text)
            words = seg.words or []
            owners = assign_words([(w.start, w.end) for w in words], spans[k])
            for j, i in enumerate(windows[k]):  # the part of this segment that fell on utterance i
                mine = [w for w, owner in zip(words, owners, strict=True) if owner == j]
                if mine:
                    per_utt[i].append(Segment(mine[0].start - spans[k][j][0], mine[-1].end - spans[k][j][0],
                                              "".join(w.word for w in mine)))
        hyps = [make_hypothesis(segs, duration, language)
                for segs, duration in zip(per_utt, durations, strict=True)]
        again: list[int] = []
        for k, window in enumerate(windows):
            if len(window) < 2:
                continue
            text = " ".join(window_texts[k]).strip()
            if text and get_compression_ratio(text) > COMPRESSION_RATIO_THRESHOLD:
                again += window  # a repetition loop may have swallowed any utterance of the window
            else:
                again += [i for i in window if not hyps[i].text]
        if again:
            self.unpacked += len(again)
            logger.info("%d of %d packed utterances decoded again one per clip (repetition loop in their window, or "
                        "no word)", len(again), len(waves))
            for i, hyp in zip(again, self._decode_clips([waves[i] for i in again], language), strict=True):
                hyps[i] = hyp
        return hyps

    def _decode_clips(self, waves: Sequence[np.ndarray], language: str) -> list[Hypothesis]:
        """Hypotheses of ``waves`` decoded one utterance per clip, in one batched call."""
        rate = self.sampling_rate
        audio, clips, offsets = self._concatenate([[wave] for wave in waves], 0.0)
        clip_of_seek = self._clip_of_seek(offsets)
        detect = not language and self.multilingual
        segments, _ = self.pipeline.transcribe(audio, batch_size=len(waves), clip_timestamps=clips,
                                               multilingual=detect, **self._options(language))
        per_clip: list[list[Segment]] = [[] for _ in waves]
        for seg in segments:
            i = clip_of_seek[seg.seek]
            per_clip[i].append(Segment(seg.start - offsets[i], seg.end - offsets[i], seg.text))
        return [make_hypothesis(segs, len(wave) / rate, language or None)
                for segs, wave in zip(per_clip, waves, strict=True)]

    def _transcribe_long(self, wave: np.ndarray, language: str, fallback: bool | None = None) -> Hypothesis:
        """One wave through faster-whisper's sequential decoding (long-form over the 30 s window), not conditioned.

        With ``fallback`` (default: :attr:`fallback`), a window that fails Whisper's tests is
        decoded again at the next of :data:`FALLBACK_TEMPERATURES` (seeded sampling).
        """
        import ctranslate2

        options = self._options(language)
        if self.fallback if fallback is None else fallback:
            ctranslate2.set_random_seed(FALLBACK_SEED)
            options.update(temperature=list(FALLBACK_TEMPERATURES),
                           compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD)
        segments, _ = self.model.transcribe(np.asarray(wave, dtype=np.float32), condition_on_previous_text=False,
                                            **options)
        return make_hypothesis([Segment(s.start, s.end, s.text) for s in segments], len(wave) / self.sampling_rate,
                               language or None)
