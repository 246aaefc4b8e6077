"""Word error rate of ASR transcripts against reference transcripts (the ASR stage's ``wer.json``).

The text models of the emotion recipe train on ASR transcripts; how wrong those are is
part of the result, so the ASR stage scores every set that comes with a reference
``text``. The alignment and the counts come from ``jiwer`` (Levenshtein over words);
this module fixes what is compared and how it is reported.

Text normalisation (:func:`normalize_text`, applied to the reference and the hypothesis
alike, documented as :data:`NORMALIZATION` in every report):

1. Unicode NFKC, then lowercase (``str.lower``);
2. apostrophes (``'``, ``’``, ``‘``, ``ʼ``) removed, so that ``don't`` and ``dont`` agree;
3. every other punctuation character (Unicode category ``P*``) becomes a space, so that
   ``well-known`` is two words and ``Hello, world.`` is ``hello world``;
4. whitespace collapsed.

Numbers, spelling variants and symbols are left as they are (no number expansion, no
American/British mapping): the figure is a plain lowercase, punctuation-free WER.

Counts are corpus-level: ``wer = (substitutions + deletions + insertions) / ref_words``,
summed over utterances. An utterance whose hypothesis is the empty-hypothesis placeholder
(:data:`voxrecipes.models.asr.DEFAULT_EMPTY_PLACEHOLDER`) counts as an empty hypothesis:
all of its reference words are deletions. A reference that is empty after normalisation
(punctuation only) has no words to miss; its hypothesis words are insertions.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_write

#: what :func:`normalize_text` does, written into every report
NORMALIZATION = ("NFKC, lowercase, apostrophes removed, other punctuation (Unicode P*) replaced by a space, "
                 "whitespace collapsed")
#: keys every ``wer.json`` has (checked by :func:`load_wer`)
WER_KEYS = ("wer", "substitutions", "deletions", "insertions", "hits", "ref_words", "utts", "empty_hypotheses",
            "normalization")
_APOSTROPHES = frozenset("'\u2019\u2018\u02bc")


def normalize_text(text: str) -> str:
    """The transcript as compared by the WER: see the module docstring (steps 1-4)."""
    chars = []
    for char in unicodedata.normalize("NFKC", str(text)).lower():
        if char in _APOSTROPHES:
            continue
        chars.append(" " if unicodedata.category(char).startswith("P") else char)
    return " ".join("".join(chars).split())


def word_error_rate(references: Mapping[str, str], hypotheses: Mapping[str, str], *,
                    empty_placeholder: str | None = None, ref_path: str | os.PathLike | None = None,
                    hyp_path: str | os.PathLike | None = None) -> dict:
    """Corpus-level WER of ``hypotheses`` against ``references`` (both ``utt -> text``).

    Every reference utterance must have a hypothesis and vice versa; otherwise a
    :class:`DataError` names ``hyp_path`` and the first utterance that differs (``ref_path``
    is named when the references are unusable). A
    hypothesis equal to ``empty_placeholder`` is scored as empty. Returns the report
    written as ``wer.json``: ``wer`` (a fraction, not a percentage), ``substitutions``,
    ``deletions``, ``insertions``, ``hits``, ``ref_words``, ``utts``,
    ``empty_hypotheses`` and ``normalization``. References without any word after
    normalisation (all of them) are a :class:`DataError`: the WER would be undefined.
    """
    import jiwer

    missing = sorted(set(references) - set(hypotheses))
    extra = sorted(set(hypotheses) - set(references))
    if missing or extra:
        what = (f"no hypothesis for {len(missing)} reference utterances (e.g. {missing[0]})" if missing
                else f"{len(extra)} hypotheses have no reference (e.g. {extra[0]})")
        raise DataError(hyp_path, None, f"hypotheses and references disagree: {what}")
    refs, hyps = [], []
    insertions_without_ref = 0
    empty = 0
    for utt in sorted(references):
        hyp = hypotheses[utt]
        if empty_placeholder is not None and hyp.strip() == empty_placeholder:
            hyp = ""
        ref_norm, hyp_norm = normalize_text(references[utt]), normalize_text(hyp)
        empty += not hyp_norm
        if not ref_norm:  # jiwer cannot align an empty reference: every hypothesis word is an insertion
            insertions_without_ref += len(hyp_norm.split())
            continue
        refs.append(ref_norm)
        hyps.append(hyp_norm)
    counts = {"substitutions": 0, "deletions": 0, "insertions": 0, "hits": 0}
    if refs:
        out = jiwer.process_words(refs, hyps)
        counts = {key: int(getattr(out, key)) for key in counts}
    counts["insertions"] += insertions_without_ref
    ref_words = counts["substitutions"] + counts["deletions"] + counts["hits"]
    errors = counts["substitutions"] + counts["deletions"] + counts["insertions"]
    if not ref_words:
        raise DataError(ref_path, None, "the references have no words after normalization: no WER can be computed")
    return {"wer": errors / ref_words, **counts, "ref_words": ref_words, "utts": len(references),
            "empty_hypotheses": empty, "normalization": NORMALIZATION}


def write_wer(path: str | os.PathLike, report: Mapping) -> None:
    """Write a WER report as indented JSON, atomically (temporary name, then rename)."""
    with atomic_write(path) as handle:
        json.dump(dict(report), handle, indent=1)
        handle.write("\n")


def load_wer(path: str | os.PathLike) -> dict:
    """Read a ``wer.json`` and check its keys; :class:`DataError` naming the file otherwise."""
    from voxrecipes.metrics.results import load_metrics

    report = load_metrics(path, WER_KEYS, "the ASR stage (transcribe)")
    for key in WER_KEYS[:-1]:
        if not isinstance(report[key], int | float) or isinstance(report[key], bool):
            raise DataError(Path(path), None, f"'{key}' must be a number, got {report[key]!r}")
    return report
