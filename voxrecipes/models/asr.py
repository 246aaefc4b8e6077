"""Automatic speech recognition for data directories without transcripts (the ASR stage).

The text side of both systems reads a ``text`` file (the emotion paper's LLaMA-2 and
RoBERTa text models are trained and evaluated on ASR transcripts of every split, made
with greedy decoding; the toxicity recipe's text encoder embeds transcripts). Sets that
come without transcripts -- or, by the recipe's option, every set, so that training and
evaluation transcripts come from the same system -- get one from a ``transformers``
``automatic-speech-recognition`` pipeline.

- the model: a local directory, a Hugging Face model id, or ``package:<module>``
  (:func:`voxrecipes.models.text_encoder.resolve_model_path` with ``what="ASR"``).
- :class:`Transcriber` -- the pipeline, loaded once (``trust_remote_code`` off), on a
  device and in a dtype; greedy decoding for models that generate (``num_beams=1``, no
  sampling: the paper decoded greedily and a beam is several times slower), plus
  ``language`` and ``task=transcribe`` for Whisper-like models only (CTC models have no
  such options). Waveforms are transcribed in batches of similar length.
- :func:`clean_hypothesis` -- one line, whitespace collapsed.
- :func:`transcribe_data_dir` -- the stage for one data directory: every utterance of
  ``wav.scp`` (segments honoured, pipes run), ``<out_dir>/text`` written atomically in
  C-sorted order.

Empty hypotheses: the data contract forbids an empty transcript (every reader rejects
``utt`` with nothing after it), but silence, noise or a short segment legitimately
decodes to nothing. Dropping the utterance would make ``text`` disagree with
``utt2spk`` and silently shrink the evaluation sets; failing the stage would make one
silent clip stop a recipe. So an empty hypothesis is written as a placeholder,
:data:`DEFAULT_EMPTY_PLACEHOLDER` (``<empty>``) unless configured, and the count is
logged (a warning): the text models see one consistent token for "nothing recognised".
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxrecipes.errors import ConfigError
from voxrecipes.models.text_encoder import pick_device, resolve_model_path

logger = logging.getLogger(__name__)

#: what an utterance whose hypothesis is empty gets in ``text`` (the contract forbids empty transcripts)
DEFAULT_EMPTY_PLACEHOLDER = "<empty>"
DEFAULT_BATCH_SIZE = 8
DEFAULT_TASK = "transcribe"
#: utterances read ahead and sorted by length before batching: ``batch_size * SORT_WINDOW_BATCHES``
SORT_WINDOW_BATCHES = 16
DTYPES = ("float32", "bfloat16", "float16")
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


def _torch_dtype(dtype: str, device: str):
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype '{dtype}': choose one of {', '.join(DTYPES)}")
    if dtype == "float16" and not device.startswith("cuda"):
        raise ConfigError("dtype float16 needs a GPU (--device cuda); use float32 (or bfloat16) on CPU")
    return getattr(torch, dtype)


class Transcriber:
    """A ``transformers`` speech-recognition pipeline that turns waveforms into one-line hypotheses.

    ``language`` (e.g. ``"en"``; empty: Whisper detects it per utterance) and ``task``
    are passed to ``generate`` only for Whisper-like models; every generating model
    decodes greedily (``num_beams=1``, ``do_sample=False``) unless ``num_beams`` says
    otherwise. ``max_new_tokens`` (``None``: the model's or the pipeline's default)
    bounds a hypothesis. The model is in eval mode; hypotheses come back cleaned by
    :func:`clean_hypothesis` and may be empty (see :func:`transcribe_data_dir` for what
    is written then).
    """

    def __init__(self, model: str, *, device: str | None = "cpu", dtype: str = "float32", language: str = "",
                 task: str = DEFAULT_TASK, num_beams: int = 1, max_new_tokens: int | None = None,
                 trust_remote_code: bool = False) -> None:
        from transformers import pipeline

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
        self.sampling_rate = int(self.pipe.feature_extractor.sampling_rate)
        self.kind = str(self.pipe.type)
        self.is_whisper = self.kind == "seq2seq_whisper"
        #: Whisper inputs longer than its 30 s window go through long-form generation, whose features are not
        #: padded to the window; a batch mixing them with others (or each other) fails, so they go alone
        self.long_form_samples: int | None = None
        if self.is_whisper:
            self.long_form_samples = int(getattr(self.pipe.feature_extractor, "n_samples", 30 * self.sampling_rate))
        self.generate_kwargs: dict[str, Any] = {}
        language = (language or "").strip()
        if self.kind in _GENERATING_TYPES:
            self.generate_kwargs.update(num_beams=num_beams, do_sample=False)
            if max_new_tokens is not None:
                self.generate_kwargs["max_new_tokens"] = max_new_tokens
        if self.is_whisper:
            self.generate_kwargs["task"] = task
            if language:
                self.generate_kwargs["language"] = language
        elif language:
            logger.warning("--language %s ignored: %s is a %s model, not Whisper-like", language, self.model_path,
                           self.kind)

    def describe(self) -> str:
        """One line for the log: model, kind, device, dtype, decoding options."""
        options = ", ".join(f"{k}={v}" for k, v in self.generate_kwargs.items()) or "argmax (CTC)"
        return (f"{self.model_spec} ({self.model_path}; {self.kind}, {self.pipe.model.__class__.__name__}) on "
                f"{self.device} in {self.dtype}, {self.sampling_rate} Hz, {options}")

    def transcribe_batch(self, waves: Sequence[np.ndarray]) -> list[str]:
        """Cleaned hypotheses of float32 mono waveforms at :attr:`sampling_rate`, in order, in one forward pass."""
        import torch

        if not waves:
            return []
        inputs = [{"raw": np.ascontiguousarray(w, dtype=np.float32), "sampling_rate": self.sampling_rate}
                  for w in waves]
        kwargs = {"generate_kwargs": dict(self.generate_kwargs)} if self.generate_kwargs else {}
        with torch.inference_mode():
            outputs = self.pipe(inputs, batch_size=len(inputs), **kwargs)
        return [clean_hypothesis(out["text"]) for out in outputs]

    def transcribe_items(self, items: Iterable[tuple[str, np.ndarray]], batch_size: int = DEFAULT_BATCH_SIZE,
                         on_batch: Callable[[int], None] | None = None) -> Iterator[tuple[str, str]]:
        """Yield ``(key, hypothesis)`` for ``(key, waveform)`` items.

        ``batch_size * SORT_WINDOW_BATCHES`` items are read ahead and sorted by length, so
        that a batch pads little (CTC models without attention masks also see less
        padding); a Whisper input longer than 30 s is a batch of its own (long-form
        generation). Results of a window come back in input order. ``on_batch(n)`` is called
        after each batch of ``n`` (for a progress bar).
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        window: list[tuple[str, np.ndarray]] = []
        for item in items:
            window.append(item)
            if len(window) >= batch_size * SORT_WINDOW_BATCHES:
                yield from self._transcribe_window(window, batch_size, on_batch)
                window = []
        yield from self._transcribe_window(window, batch_size, on_batch)

    def _transcribe_window(self, window: list[tuple[str, np.ndarray]], batch_size: int,
                           on_batch: Callable[[int], None] | None) -> Iterator[tuple[str, str]]:
        order = sorted(range(len(window)), key=lambda i: -len(window[i][1]))
        batches: list[list[int]] = []
        if self.long_form_samples is not None:  # Whisper long-form inputs cannot share a batch: one at a time
            batches = [[i] for i in order if len(window[i][1]) > self.long_form_samples]
            order = [i for i in order if len(window[i][1]) <= self.long_form_samples]
        batches += [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
        hyps: dict[int, str] = {}
        for idx in batches:
            for i, hyp in zip(idx, self.transcribe_batch([window[i][1] for i in idx])):
                hyps[i] = hyp
            if on_batch is not None:
                on_batch(len(idx))
        for i, (key, _) in enumerate(window):
            yield key, hyps[i]

    def transcribe(self, waves: Sequence[np.ndarray], batch_size: int = DEFAULT_BATCH_SIZE) -> list[str]:
        """Cleaned hypotheses (possibly empty) of ``waves``, in order."""
        return [hyp for _, hyp in self.transcribe_items(enumerate(waves), batch_size)]


def transcribe_data_dir(transcriber: Transcriber, data_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                        batch_size: int = DEFAULT_BATCH_SIZE, empty_placeholder: str = DEFAULT_EMPTY_PLACEHOLDER,
                        progress: bool = True) -> int:
    """Transcribe every utterance of ``data_dir`` into ``<out_dir>/text``; returns the number of utterances.

    The data directory is loaded and validated first; audio is read as the rest of the
    package does (:func:`voxrecipes.data.audio.iter_audio`: wav.scp paths or ``cmd |``
    pipes, segments, resampled to the model's rate), so missing or corrupt audio is a
    :class:`DataError` naming wav.scp (or segments) and the line. ``text`` holds one
    ``<utt> <hypothesis>`` line per utterance, C-sorted, and is written only once every
    utterance is transcribed (temporary name, then rename): a failed run leaves no
    partial file and an older ``text`` untouched. An empty hypothesis is written as
    ``empty_placeholder`` (see the module docstring) and counted in a warning.
    """
    from tqdm import tqdm

    from voxrecipes.data.audio import iter_audio
    from voxrecipes.data.datadir import DataDir
    from voxrecipes.data.table import write_table

    placeholder = check_placeholder(empty_placeholder)
    dd = data_dir if isinstance(data_dir, DataDir) else DataDir.load(data_dir)
    out_path = Path(out_dir) / "text"
    utts = dd.utts
    logger.info("transcribing %d utterances of %s with %s", len(utts), dd.path, transcriber.model_spec)
    start = time.time()
    texts: dict[str, str] = {}
    empty: list[str] = []
    with tqdm(total=len(utts), desc=f"asr {Path(str(dd.path)).name}", unit="utt", disable=not progress,
              mininterval=2.0) as bar:
        for utt, hyp in transcriber.transcribe_items(iter_audio(dd, sample_rate=transcriber.sampling_rate),
                                                     batch_size=batch_size, on_batch=bar.update):
            if not hyp:
                empty.append(utt)
                hyp = placeholder
            texts[utt] = hyp
    write_table(out_path, texts)
    if empty:
        logger.warning("%d of %d utterances of %s got an empty hypothesis, written as %r (e.g. %s)", len(empty),
                       len(utts), dd.path, placeholder, ", ".join(empty[:5]))
    logger.info("wrote %s: %d transcripts in %.1f s", out_path, len(texts), time.time() - start)
    return len(texts)
