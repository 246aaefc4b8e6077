"""Automatic speech recognition for data directories (the ASR stage), with two backends.

The text side of both systems reads a ``text`` file (the emotion paper's LLaMA-2 and
RoBERTa text models are trained and evaluated on ASR transcripts of every split, made
with greedy decoding; the toxicity recipe's text encoder embeds transcripts). Sets that
come without transcripts -- or, by the recipe's option, every set, so that training and
evaluation transcripts come from the same system -- get one here.

Backends (:data:`BACKENDS`), both greedy by default (the paper decoded greedily, and a
beam is several times slower), both batched, both giving Whisper segments:

- ``transformers`` -- :class:`Transcriber`: a ``transformers``
  ``automatic-speech-recognition`` pipeline (``trust_remote_code`` off) on a device and
  in a dtype. The model is a local directory, a Hugging Face model id or
  ``package:<name>`` (:func:`voxrecipes.models.text_encoder.resolve_model_path` with
  ``what="ASR"``). Whisper-like and CTC models.
- ``faster_whisper`` -- :class:`voxrecipes.models.asr_faster_whisper.FasterWhisperTranscriber`:
  a CTranslate2 Whisper (int8 on CPU by default), what many researchers run for
  Whisper-large-v3 transcription at scale.

What both share lives in :class:`BatchedTranscriber`: utterances are read ahead, grouped
by language and sorted by length, and sent in batches; a Whisper input longer than its
30 s window is a batch of its own (long-form decoding).

Language, per utterance: the data dir's ``utt2lang`` when it has one, else the
transcriber's ``language`` (``--language``), else the model detects it per utterance.
An English-only model (``tiny.en``) decodes everything as English and says so once per
other language.

Outputs of :func:`transcribe_data_dir` in ``<out_dir>``, each written atomically:

- ``text`` -- ``<utt> <hypothesis>`` lines, C-sorted, one per utterance;
- ``segments.jsonl`` -- one JSON object per utterance, in the order of ``text``:
  ``{"utt": "<utt>", "language": "en" | null, "segments": [{"start": 0.0, "end": 2.48,
  "text": "Hello there."}, ...]}``. ``start`` and ``end`` are seconds from the start of
  the utterance (its segment of the recording when the data dir has ``segments``),
  rounded to :data:`SEGMENT_TIME_DECIMALS` decimals and clipped to the utterance; the
  texts are cleaned by :func:`clean_hypothesis` and their concatenation (joined by
  spaces) is the utterance's hypothesis. ``language`` is the language the utterance was
  decoded as, or ``null`` when the model detected it. Without timestamps (``timestamps``
  off, or a CTC model) an utterance with a non-empty hypothesis has one segment from 0
  to its duration; an empty hypothesis has no segments.
- ``wer.json`` -- only when the data dir has a reference ``text``: the word error rate
  of the hypotheses against it (:func:`voxrecipes.metrics.wer.word_error_rate`; its
  normalisation is documented there and in the file), plus ``model``, ``backend`` and
  the set's name.

Empty hypotheses: the data contract forbids an empty transcript (every reader rejects
``utt`` with nothing after it), but silence, noise or a short segment legitimately
decodes to nothing. Dropping the utterance would make ``text`` disagree with
``utt2spk`` and silently shrink the evaluation sets; failing the stage would make one
silent clip stop a recipe. So an empty hypothesis is written as a placeholder,
:data:`DEFAULT_EMPTY_PLACEHOLDER` (``<empty>``) unless configured, and the count is
logged (a warning): the text models see one consistent token for "nothing recognised".
The WER scores the placeholder as an empty hypothesis.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.models.text_encoder import pick_device, resolve_model_path

logger = logging.getLogger(__name__)

#: the ASR backends of ``transcribe --asr_backend``
BACKENDS = ("transformers", "faster_whisper")
#: what an utterance whose hypothesis is empty gets in ``text`` (the contract forbids empty transcripts)
DEFAULT_EMPTY_PLACEHOLDER = "<empty>"
DEFAULT_BATCH_SIZE = 8
DEFAULT_TASK = "transcribe"
#: utterances read ahead and sorted by language and length before batching: ``batch_size * SORT_WINDOW_BATCHES``
SORT_WINDOW_BATCHES = 16
DTYPES = ("float32", "bfloat16", "float16")
#: decimals of segment times in segments.jsonl (Whisper's timestamp tokens are 20 ms apart)
SEGMENT_TIME_DECIMALS = 3
#: the files of an output directory
TEXT_FILE, SEGMENTS_FILE, WER_FILE = "text", "segments.jsonl", "wer.json"
#: Whisper's temperature fallback in transformers' ``generate`` (its documented values): temperatures tried in turn
#: when a hypothesis fails, and the failure test (zlib compression ratio of the tokens, transformers' scale)
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
HF_COMPRESSION_RATIO_THRESHOLD = 1.35
HF_LOGPROB_THRESHOLD = -1.0
#: torch seed before each Whisper batch: the fallback samples, and reruns should give the same transcripts
FALLBACK_SEED = 0
#: pipeline types (``AutomaticSpeechRecognitionPipeline.type``) that decode with ``generate``
_GENERATING_TYPES = ("seq2seq", "seq2seq_whisper")


def clean_hypothesis(text: str) -> str:
    """The hypothesis on one line: every run of whitespace (newlines, tabs) becomes one space, ends stripped."""
    return " ".join(str(text).split())


def check_placeholder(placeholder: str) -> str:
    """The cleaned empty-hypothesis placeholder; :class:`ConfigError` if it is empty (it would break ``text``)."""
    cleaned = clean_hypothesis(placeholder)
    if not cleaned:
        raise ConfigError("the empty-hypothesis placeholder must not be empty: the data contract forbids empty "
                          f"transcripts (default {DEFAULT_EMPTY_PLACEHOLDER!r})")
    return cleaned


def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else a :class:`ConfigError` listing them."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown ASR backend '{backend}': choose one of {', '.join(BACKENDS)}")
    return backend


@dataclass
class Segment:
    """A stretch of an utterance and its text; times in seconds from the start of the utterance."""

    start: float
    end: float
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"start": round(float(self.start), SEGMENT_TIME_DECIMALS),
                "end": round(float(self.end), SEGMENT_TIME_DECIMALS), "text": self.text}


@dataclass
class Hypothesis:
    """What an utterance was recognised as: the one-line text and its segments."""

    text: str
    segments: list[Segment] = field(default_factory=list)
    #: the language it was decoded as; ``None`` when the model detected it
    language: str | None = None


def make_hypothesis(segments: Iterable[Segment], duration: float, language: str | None) -> Hypothesis:
    """A :class:`Hypothesis` from raw segments: texts cleaned, empty segments dropped, times clipped to the utterance.

    The text is the cleaned segment texts joined by spaces. A segment whose end is
    unknown (``None``, a timestamp cut off by the length limit) or before its start ends
    at the utterance's end.
    """
    kept = []
    for seg in segments:
        text = clean_hypothesis(seg.text)
        if not text:
            continue
        start = min(max(float(seg.start or 0.0), 0.0), duration)
        end = duration if seg.end is None else min(max(float(seg.end), start), duration)
        kept.append(Segment(start, end, text))
    return Hypothesis(" ".join(s.text for s in kept), kept, language)


def whole_utterance(text: str, duration: float, language: str | None) -> Hypothesis:
    """A :class:`Hypothesis` without timestamps: one segment over the whole utterance (none if the text is empty)."""
    return make_hypothesis([Segment(0.0, duration, text)], duration, language)


class BatchedTranscriber:
    """What both backends share: batching by language and length, long-form inputs alone, languages checked.

    A backend sets :attr:`model_spec`, :attr:`model_path`, :attr:`sampling_rate`,
    :attr:`language` (the default, ``""``: detect), :attr:`multilingual`,
    :attr:`long_form_samples` (``None``: no window) and implements
    :meth:`transcribe_batch`, :meth:`known_language` and :meth:`describe`.
    """

    backend = ""
    model_spec = ""
    model_path = ""
    sampling_rate = 16000
    language = ""
    multilingual = True
    #: inputs longer than this many samples go through long-form decoding in a batch of their own
    long_form_samples: int | None = None

    def __init__(self) -> None:
        self._warned_languages: set[str] = set()  # other languages an English-only model was given, warned once

    def transcribe_batch(self, waves: Sequence[np.ndarray], language: str) -> list[Hypothesis]:
        """Hypotheses of float32 mono waveforms at :attr:`sampling_rate`, in order; ``language`` ``""``: detect."""
        raise NotImplementedError

    def known_language(self, language: str) -> bool:
        """Whether the model has the language code ``language`` (e.g. ``en``)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the log: model, backend, device, precision, decoding options."""
        raise NotImplementedError

    def decoding_language(self, language: str | None) -> str:
        """The language an utterance is decoded as: its own (``utt2lang``), else the default, else ``""`` (detect).

        An English-only model decodes everything as English (a warning names each other
        language once). An unknown code is a :class:`ConfigError`.
        """
        language = (language or self.language or "").strip()
        if not language:
            return "" if self.multilingual else "en"
        if not self.known_language(language):
            raise ConfigError(f"language '{language}' is not one of {self.model_spec}'s languages")
        if not self.multilingual and language != "en":
            if language not in self._warned_languages:
                self._warned_languages.add(language)
                logger.warning("%s is English-only: utterances in '%s' are decoded as English", self.model_spec,
                               language)
            return "en"
        return language

    def transcribe_items(self, items: Iterable[tuple[str, np.ndarray]], batch_size: int = DEFAULT_BATCH_SIZE,
                         on_batch: Callable[[int], None] | None = None,
                         languages: Mapping[str, str] | None = None) -> Iterator[tuple[str, Hypothesis]]:
        """Yield ``(key, hypothesis)`` for ``(key, waveform)`` items, in input order.

        ``languages`` maps keys to language codes (``utt2lang``); keys without one get
        :meth:`decoding_language`'s default. ``batch_size * SORT_WINDOW_BATCHES`` items
        are read ahead, grouped by language and sorted by length, so that a batch has one
        language and pads little (CTC models without attention masks also see less
        padding); an input longer than :attr:`long_form_samples` is a batch of its own.
        ``on_batch(n)`` is called after each batch of ``n`` (for a progress bar).
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        languages = languages or {}
        window: list[tuple[str, np.ndarray, str]] = []
        for key, wave in items:
            window.append((key, wave, self.decoding_language(languages.get(key))))
            if len(window) >= batch_size * SORT_WINDOW_BATCHES:
                yield from self._transcribe_window(window, batch_size, on_batch)
                window = []
        yield from self._transcribe_window(window, batch_size, on_batch)

    def _transcribe_window(self, window: list[tuple[str, np.ndarray, str]], batch_size: int,
                           on_batch: Callable[[int], None] | None) -> Iterator[tuple[str, Hypothesis]]:
        order = sorted(range(len(window)), key=lambda i: (window[i][2], -len(window[i][1])))
        batches: list[list[int]] = []
        if self.long_form_samples is not None:  # long-form inputs cannot share a batch: one at a time
            batches = [[i] for i in order if len(window[i][1]) > self.long_form_samples]
            order = [i for i in order if len(window[i][1]) <= self.long_form_samples]
        start = 0
        while start < len(order):  # batches of one language
            language = window[order[start]][2]
            stop = start + 1
            while stop < len(order) and stop - start < batch_size and window[order[stop]][2] == language:
                stop += 1
            batches.append(order[start:stop])
            start = stop
        hyps: dict[int, Hypothesis] = {}
        for idx in batches:
            language = window[idx[0]][2]
            nonempty = [i for i in idx if len(window[i][1])]  # zero samples: nothing to decode
            for i, hyp in zip(nonempty, self.transcribe_batch([window[i][1] for i in nonempty], language),
                              strict=True):
                hyps[i] = hyp
            for i in idx:
                hyps.setdefault(i, Hypothesis("", [], language or None))
            if on_batch is not None:
                on_batch(len(idx))
        for i, (key, _, _) in enumerate(window):
            yield key, hyps[i]

    def transcribe(self, waves: Sequence[np.ndarray], batch_size: int = DEFAULT_BATCH_SIZE,
                   languages: Sequence[str] | None = None) -> list[str]:
        """Cleaned hypotheses (possibly empty) of ``waves``, in order; ``languages``: one code per wave."""
        by_key = None if languages is None else dict(enumerate(languages))
        return [hyp.text for _, hyp in self.transcribe_items(enumerate(waves), batch_size, languages=by_key)]


def _torch_dtype(dtype: str, device: str):
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype '{dtype}': choose one of {', '.join(DTYPES)}")
    if dtype == "float16" and not device.startswith("cuda"):
        raise ConfigError("dtype float16 needs a GPU (--device cuda); use float32 (or bfloat16) on CPU")
    return getattr(torch, dtype)


class Transcriber(BatchedTranscriber):
    """The ``transformers`` backend: a speech-recognition pipeline that turns waveforms into hypotheses.

    ``language`` (e.g. ``"en"``; empty: Whisper detects it per utterance) and ``task``
    are passed to ``generate`` only for Whisper-like models; every generating model
    decodes greedily (``num_beams=1``, ``do_sample=False``) unless ``num_beams`` says
    otherwise. ``max_new_tokens`` (``None``: the model's or the pipeline's default)
    bounds a hypothesis. ``timestamps`` (Whisper only) decodes with timestamp tokens, so
    that an utterance gets Whisper's segments; off, Whisper predicts no timestamps and an
    utterance is one segment. ``fallback`` (Whisper only) turns on ``generate``'s
    temperature fallback: a hypothesis that fails Whisper's tests (a repetition loop:
    compression ratio above :data:`HF_COMPRESSION_RATIO_THRESHOLD`; or mean log-probability
    below :data:`HF_LOGPROB_THRESHOLD`) is decoded again at the next of
    :data:`FALLBACK_TEMPERATURES`, seeded; a hypothesis that passes stays greedy. The model
    is in eval mode.
    """

    backend = "transformers"

    def __init__(self, model: str, *, device: str | None = "cpu", dtype: str = "float32", language: str = "",
                 task: str = DEFAULT_TASK, num_beams: int = 1, max_new_tokens: int | None = None,
                 timestamps: bool = True, fallback: bool = True, trust_remote_code: bool = False) -> None:
        from transformers import pipeline

        super().__init__()
        self.model_spec = str(model)
        self.model_path = resolve_model_path(model, what="ASR")
        self.device = pick_device(device)
        self.dtype = dtype
        torch_dtype = _torch_dtype(dtype, self.device)
        if num_beams < 1:
            raise ConfigError(f"num_beams must be >= 1, got {num_beams}")
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        try:
            self.pipe = pipeline("automatic-speech-recognition", model=self.model_path, device=self.device,
                                 dtype=torch_dtype, trust_remote_code=trust_remote_code)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"cannot load ASR model '{model}' ({self.model_path}) as an automatic-speech-"
                              f"recognition pipeline: {err}; there is no network at run time, so give a local "
                              "directory (model, tokenizer and feature extractor) or a model in the local HF cache"
                              ) from None
        if self.pipe.feature_extractor is None or self.pipe.tokenizer is None:
            raise ConfigError(f"ASR model {self.model_path} lacks a feature extractor or tokenizer "
                              "(save the processor next to the model)")
        self.pipe.model.eval()
        if self.pipe.tokenizer.pad_token is None and self.pipe.tokenizer.eos_token is not None:
            # Compatibility only: the converter (voxrecipes.models.ct2_whisper, version >= 2) and OpenAI's
            # tokenizers name <|endoftext|> as the pad token, but a directory converted by an older
            # voxrecipes or by other tools may name none, and the pipeline refuses to batch without one
            # (the pad token is never generated).
            logger.warning("%s: the tokenizer names no pad token; padding with its eos token %r (re-convert "
                           "the model with voxrecipes.bin.convert_ct2_whisper to record it)", self.model_path,
                           self.pipe.tokenizer.eos_token)
            self.pipe.tokenizer.pad_token = self.pipe.tokenizer.eos_token
        self.sampling_rate = int(self.pipe.feature_extractor.sampling_rate)
        self.kind = str(self.pipe.type)
        self.is_whisper = self.kind == "seq2seq_whisper"
        generation_config = getattr(self.pipe.model, "generation_config", None)
        #: Whisper's language tokens (``<|en|>`` -> ``en``); empty for other models
        self.languages = sorted(token.strip("<|>") for token in (getattr(generation_config, "lang_to_id", None)
                                                                  or {}))
        self.multilingual = not self.is_whisper or bool(getattr(generation_config, "is_multilingual", True))
        self.timestamps = bool(timestamps) and self.is_whisper
        if self.timestamps and not self._has_timestamp_tokens(generation_config):
            logger.warning("%s has no Whisper timestamp tokens (no ids after <|notimestamps|>): decoding without "
                           "timestamps, one segment per utterance", self.model_spec)
            self.timestamps = False
        #: Whisper inputs longer than its 30 s window go through long-form generation, whose features are not
        #: padded to the window; a batch mixing them with others (or each other) fails, so they go alone
        if self.is_whisper:
            self.long_form_samples = int(getattr(self.pipe.feature_extractor, "n_samples", 30 * self.sampling_rate))
        self.generate_kwargs: dict[str, Any] = {}
        if self.kind in _GENERATING_TYPES:
            self.generate_kwargs.update(num_beams=num_beams, do_sample=False)
            if max_new_tokens is not None:
                self.generate_kwargs["max_new_tokens"] = max_new_tokens
        if self.is_whisper and self.multilingual:  # an English-only Whisper's generate refuses task and language
            self.generate_kwargs["task"] = task
        self.fallback = bool(fallback) and self.is_whisper
        if self.fallback:
            self.generate_kwargs.update(temperature=FALLBACK_TEMPERATURES,
                                        compression_ratio_threshold=HF_COMPRESSION_RATIO_THRESHOLD,
                                        logprob_threshold=HF_LOGPROB_THRESHOLD)
        language = (language or "").strip()
        if language and not self.is_whisper:
            logger.warning("--language %s ignored: %s is a %s model, not Whisper-like", language, self.model_path,
                           self.kind)
            language = ""
        self.language = language
        if language:
            self.decoding_language(language)  # an unknown code fails now, not after the first batch
            if self.multilingual:
                self.generate_kwargs["language"] = language

    def _has_timestamp_tokens(self, generation_config) -> bool:
        """Whether the model can predict Whisper's timestamp tokens.

        ``generate`` and the pipeline's decoding take every id above ``<|notimestamps|>``
        as a timestamp (by arithmetic, as OpenAI's and CTranslate2's decoders do), so the
        output layer must have ids beyond it; a tokenizer need not list them.
        """
        no_timestamps = getattr(generation_config, "no_timestamps_token_id", None)
        vocab_size = int(getattr(self.pipe.model.config, "vocab_size", 0))
        return no_timestamps is not None and vocab_size > no_timestamps + 1

    def known_language(self, language: str) -> bool:
        """A language token of the model, or, for a model without them (English-only), a Whisper language code."""
        from transformers.models.whisper.tokenization_whisper import LANGUAGES

        return not self.is_whisper or language in (self.languages or LANGUAGES)

    def decoding_language(self, language: str | None) -> str:
        if not self.is_whisper:  # CTC and other models have no language option
            return ""
        return super().decoding_language(language)

    def describe(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.generate_kwargs.items()) or "argmax (CTC)"
        return (f"{self.model_spec} ({self.model_path}; transformers {self.kind}, "
                f"{self.pipe.model.__class__.__name__}) on {self.device} in {self.dtype}, {self.sampling_rate} Hz, "
                f"{options}, timestamps={self.timestamps}")

    def transcribe_batch(self, waves: Sequence[np.ndarray], language: str = "") -> list[Hypothesis]:
        """Hypotheses of float32 mono waveforms at :attr:`sampling_rate`, in order, in one forward pass."""
        import torch

        if not waves:
            return []
        inputs = [{"raw": np.ascontiguousarray(w, dtype=np.float32), "sampling_rate": self.sampling_rate}
                  for w in waves]
        generate_kwargs = dict(self.generate_kwargs)
        if self.is_whisper and self.multilingual:
            generate_kwargs.pop("language", None)
            if language:
                generate_kwargs["language"] = language
        kwargs: dict[str, Any] = {"generate_kwargs": generate_kwargs} if generate_kwargs else {}
        if self.timestamps:
            kwargs["return_timestamps"] = True
        if self.fallback:
            torch.manual_seed(FALLBACK_SEED)
        with torch.inference_mode():
            outputs = self.pipe(inputs, batch_size=len(inputs), **kwargs)
        hyps = []
        for wave, out in zip(waves, outputs, strict=True):
            duration = len(wave) / self.sampling_rate
            if self.timestamps:
                segments = [Segment(chunk["timestamp"][0], chunk["timestamp"][1], chunk["text"])
                            for chunk in out.get("chunks", [])]
                hyps.append(make_hypothesis(segments, duration, language or None))
            else:
                hyps.append(whole_utterance(out["text"], duration, language or None))
        return hyps


def resolve_asr_model(backend: str, model: str) -> str:
    """Where ``backend`` will load ``model`` from: a :class:`ConfigError` now if it does not exist."""
    if check_backend(backend) == "faster_whisper":
        from voxrecipes.models.model_paths import resolve_ct2_model_dir

        return resolve_ct2_model_dir(model)
    return resolve_model_path(model, what="ASR")


def load_transcriber(backend: str, model: str, **options) -> BatchedTranscriber:
    """The transcriber of ``backend`` (:data:`BACKENDS`) for ``model``; ``options`` go to its constructor."""
    if check_backend(backend) == "faster_whisper":
        from voxrecipes.models.asr_faster_whisper import FasterWhisperTranscriber

        return FasterWhisperTranscriber(model, **options)
    return Transcriber(model, **options)


def _check_languages(transcriber: BatchedTranscriber, dd) -> dict[str, str]:
    """The data dir's ``utt2lang`` (empty without one); a code the model lacks is a DataError at its line."""
    utt2lang = dict(dd.utt2lang or {})
    checked: dict[str, bool] = {}
    for utt, lang in utt2lang.items():
        if lang not in checked:
            try:
                transcriber.decoding_language(lang)
                checked[lang] = True
            except ConfigError as err:
                raise DataError(dd.file_path("utt2lang"), dd.line_of("utt2lang", utt), str(err)) from None
    return utt2lang


def write_segments(path: str | os.PathLike, hyps: Mapping[str, Hypothesis]) -> None:
    """``segments.jsonl``: one JSON object per utterance, C-sorted (format in the module docstring), atomically."""
    from voxrecipes.data.table import c_sort_key
    from voxrecipes.fileio import atomic_write

    with atomic_write(path) as handle:
        for utt in sorted(hyps, key=c_sort_key):
            hyp = hyps[utt]
            record = {"utt": utt, "language": hyp.language, "segments": [s.to_json() for s in hyp.segments]}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_segments(path: str | os.PathLike) -> dict[str, dict]:
    """``segments.jsonl`` back as ``utt -> record``; a malformed line is a :class:`DataError` at its line."""
    records: dict[str, dict] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                record = json.loads(line)
                utt = record["utt"]
                for seg in record["segments"]:
                    if not (isinstance(seg["start"], int | float) and isinstance(seg["end"], int | float)
                            and isinstance(seg["text"], str) and 0 <= seg["start"] <= seg["end"]):
                        raise ValueError(f"bad segment {seg}")
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise DataError(path, number, f"not a segments.jsonl record ({err})") from None
            if utt in records:
                raise DataError(path, number, f"utterance '{utt}' appears twice")
            records[utt] = record
    return records


def audio_key(dd, utt: str, language: str | None) -> tuple[str, float, float | None, str | None]:
    """What a hypothesis of ``utt`` depends on besides the model: its wav.scp entry, its segment, its language."""
    rec, start, end = dd.recording_of(utt)
    return dd.wav_scp[rec], start, end, language


def transcribe_data_dir(transcriber: BatchedTranscriber, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                        *, batch_size: int = DEFAULT_BATCH_SIZE, empty_placeholder: str = DEFAULT_EMPTY_PLACEHOLDER,
                        progress: bool = True, decoded: dict[tuple, Hypothesis] | None = None) -> int:
    """Transcribe every utterance of ``data_dir`` into ``out_dir``; returns the number of utterances.

    The data directory is loaded and validated first, and its ``utt2lang`` codes checked
    against the model; audio is read as the rest of the package does
    (:func:`voxrecipes.data.audio.iter_audio`: wav.scp paths or ``cmd |`` pipes,
    segments, resampled to the model's rate), so missing or corrupt audio is a
    :class:`DataError` naming wav.scp (or segments) and the line. ``text``,
    ``segments.jsonl`` and, when the data dir has a reference ``text``, ``wer.json`` are
    written (module docstring) only once every utterance is transcribed (temporary
    names, then rename; ``text`` last): a failed run leaves no partial file and older
    outputs untouched. An empty hypothesis is written as ``empty_placeholder`` and
    counted in a warning.

    ``decoded`` holds the hypotheses of earlier directories of the run by :func:`audio_key`.
    When it has every utterance of ``data_dir`` (a subset of a directory transcribed
    before, as Dev_bal of Dev_filt), nothing is decoded and the outputs are written from
    it; otherwise the directory is decoded whole, batched as if alone, and its hypotheses
    are added to it.
    """
    from tqdm import tqdm

    from voxrecipes.data.audio import iter_audio
    from voxrecipes.data.datadir import DataDir
    from voxrecipes.data.table import write_table
    from voxrecipes.metrics.wer import word_error_rate, write_wer

    placeholder = check_placeholder(empty_placeholder)
    dd = data_dir if isinstance(data_dir, DataDir) else DataDir.load(data_dir)
    languages = _check_languages(transcriber, dd)
    out_dir = Path(out_dir)
    utts = dd.utts
    keys = {utt: audio_key(dd, utt, languages.get(utt)) for utt in utts}
    start, cpu_start = time.time(), time.process_time()
    hyps: dict[str, Hypothesis] = {}
    audio_seconds = 0.0
    if decoded is not None and all(key in decoded for key in keys.values()):
        hyps = {utt: decoded[key] for utt, key in keys.items()}
        logger.info("%s: all %d utterances were transcribed earlier in this run (same audio and language), "
                    "their transcripts are reused", dd.path, len(utts))
    else:
        logger.info("transcribing %d utterances of %s with %s (%s)%s", len(utts), dd.path, transcriber.model_spec,
                    transcriber.backend, f", languages from {dd.file_path('utt2lang')}" if languages else "")

        def audio() -> Iterator[tuple[str, np.ndarray]]:
            nonlocal audio_seconds
            for utt, wave in iter_audio(dd, sample_rate=transcriber.sampling_rate):
                audio_seconds += len(wave) / transcriber.sampling_rate
                yield utt, wave

        with tqdm(total=len(utts), desc=f"asr {Path(str(dd.path)).name}", unit="utt", disable=not progress,
                  mininterval=2.0) as bar:
            for utt, hyp in transcriber.transcribe_items(audio(), batch_size=batch_size, on_batch=bar.update,
                                                         languages=languages):
                hyps[utt] = hyp
        if decoded is not None:
            decoded.update({keys[utt]: hyp for utt, hyp in hyps.items()})
    seconds, cpu_seconds = time.time() - start, time.process_time() - cpu_start
    texts = {utt: hyp.text or placeholder for utt, hyp in hyps.items()}
    empty = [utt for utt, hyp in hyps.items() if not hyp.text]
    write_segments(out_dir / SEGMENTS_FILE, hyps)
    if dd.text is not None:
        report = word_error_rate(dd.text, texts, empty_placeholder=placeholder, ref_path=dd.file_path("text"),
                                 hyp_path=out_dir / TEXT_FILE)
        report.update(set=Path(str(dd.path)).name, model=transcriber.model_spec, backend=transcriber.backend)
        write_wer(out_dir / WER_FILE, report)
        logger.info("WER of %s against %s: %.2f%% (%d substitutions, %d deletions, %d insertions, %d reference "
                    "words, %d utterances)", out_dir / TEXT_FILE, dd.file_path("text"), 100 * report["wer"],
                    report["substitutions"], report["deletions"], report["insertions"], report["ref_words"],
                    report["utts"])
    else:
        (out_dir / WER_FILE).unlink(missing_ok=True)  # an older one would score another reference
    write_table(out_dir / TEXT_FILE, texts)
    if empty:
        logger.warning("%d of %d utterances of %s got an empty hypothesis, written as %r (e.g. %s)", len(empty),
                       len(utts), dd.path, placeholder, ", ".join(empty[:5]))
    # CPU time (all threads of the process) next to wall time: on shared cores the wall time says little
    logger.info("wrote %s and %s: %d transcripts of %.1f s of audio in %.1f s wall, %.1f s CPU (real-time "
                "factor %.3f)", out_dir / TEXT_FILE, out_dir / SEGMENTS_FILE, len(texts), audio_seconds, seconds,
                cpu_seconds, seconds / audio_seconds if audio_seconds else 0.0)
    return len(texts)


def transcribe_data_dirs(transcriber: BatchedTranscriber, data_dirs: Sequence, out_dirs: Sequence[str | os.PathLike],
                         **options) -> None:
    """:func:`transcribe_data_dir` of each directory into its ``out_dirs`` entry, each utterance decoded once.

    The largest directory goes first, so that a directory inside another (same
    utterances, audio and languages: Dev_bal inside Dev_filt) takes its transcripts
    from it instead of being decoded again, and the larger one is decoded exactly as
    it would be alone. ``options`` go to :func:`transcribe_data_dir`.
    """
    from voxrecipes.data.datadir import DataDir

    dds = [dd if isinstance(dd, DataDir) else DataDir.load(dd) for dd in data_dirs]
    if len(dds) != len(out_dirs):
        raise ConfigError(f"{len(dds)} data directories but {len(out_dirs)} output directories")
    decoded: dict[tuple, Hypothesis] = {}
    for i in sorted(range(len(dds)), key=lambda i: -len(dds[i].utt2spk)):
        transcribe_data_dir(transcriber, dds[i], out_dirs[i], decoded=decoded, **options)
