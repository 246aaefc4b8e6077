"""The sections of the emotion RESULTS.md that report on fusion and ASR: verdicts, weights, word error rates.

* fusion against single systems: per check set, whether each fused system strictly beats
  each system it was fused from (macro-F1, or mean CCC for attributes);
* text against speech: per check set, whether the text system leads on valence and the
  speech system on arousal (CCC);
* fusion weights: what ``fuse_posteriors`` chose, as recorded in its weights.json;
* ASR word error rate: one row per set from the ASR stage's wer.json.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from voxrecipes.metrics.emotion_inputs import KINDS, metrics_by_key, row_ids
from voxrecipes.metrics.emotion_tables import ATTRIBUTE_TITLES, fmt_ccc
from voxrecipes.metrics.results import Entry, markdown_header, markdown_row, relative_link

#: Subsection prefix per table (the ``#N`` ids are those of that table's rows).
KIND_TITLES = {"category": "Categories", "attributes": "Attributes"}


def _num(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def _diff(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def render_fusion_checks(checks: Sequence[tuple[str, str, list[str]]], tables: dict[str, Sequence[Entry]],
                         check_sets: Sequence[str]) -> list[str]:
    """Per ``(kind, fused, singles)`` check and check set: does the fused score strictly beat each single one?"""
    lines = ["## Fusion against single systems", "",
             f"Whether each fused system beats each of its single systems on {_and(list(check_sets))}: "
             "categorical systems compare macro-F1, attribute systems the mean CCC of valence, arousal and "
             "dominance; a fused system beats a single system when its unrounded score is strictly higher."]
    for kind, fused, singles in checks:
        _, score_name, key, digits = KINDS[kind]
        entries = tables[kind]
        ids = row_ids(entries)
        by_key = metrics_by_key(entries)
        lines += ["", f"### {KIND_TITLES[kind]}: {ids[fused]} {fused} ({score_name})", ""]
        for s in check_sets:
            fused_metrics = by_key.get((fused, s))
            missing = [f"{ids[n]} {n}" for n in singles if (n, s) not in by_key]
            if fused_metrics is None or len(missing) == len(singles):
                absent = [f"{ids[fused]} {fused}"] if fused_metrics is None else missing
                lines.append(f"- {s}: not evaluated (no metrics for {', '.join(absent)})")
                continue
            f = fused_metrics[key]
            clauses, not_beaten = [], []
            for n in singles:
                m = by_key.get((n, s))
                if m is None:
                    clauses.append(f"vs {ids[n]} {n}: not evaluated")
                    continue
                beats = f > m[key]
                if not beats:
                    not_beaten.append(f"{ids[n]} {n}")
                clauses.append(f"vs {ids[n]} {n} {_num(m[key], digits)}: {'beats' if beats else 'does not beat'} "
                               f"({_diff(f - m[key], digits)})")
            if not_beaten:
                verdict = f"does not beat every single system (not {', '.join(not_beaten)})"
            elif missing:
                verdict = f"beats every evaluated single system ({', '.join(missing)} not evaluated)"
            else:
                verdict = "beats every single system"
            lines.append(f"- {s}: {ids[fused]} {fused} {_num(f, digits)} {'; '.join(clauses)}. Verdict: {verdict}")
    return lines


def render_modality_checks(pairs: Sequence[tuple[str, str]], entries: Sequence[Entry],
                           check_sets: Sequence[str]) -> list[str]:
    """Per ``(text, speech)`` attribute pair and check set: text leads on valence? speech leads on arousal?"""
    ids = row_ids(entries)
    by_key = metrics_by_key(entries)
    lines = ["## Text and speech by attribute", "",
             f"Whether the text system leads on valence and the speech system on arousal on "
             f"{_and(list(check_sets))} (CCC); a system leads when its unrounded CCC is strictly higher."]
    for text, speech in pairs:
        lines += ["", f"### Attributes: {ids[text]} {text} (text) vs {ids[speech]} {speech} (speech)", ""]
        for s in check_sets:
            absent = [f"{ids[n]} {n}" for n in (text, speech) if (n, s) not in by_key]
            if absent:
                lines.append(f"- {s}: not evaluated (no metrics for {', '.join(absent)})")
                continue
            t, sp = by_key[(text, s)]["ccc"], by_key[(speech, s)]["ccc"]
            val = t["valence"] - sp["valence"]
            aro = sp["arousal"] - t["arousal"]
            lines.append(f"- {s}: valence CCC text {fmt_ccc(t['valence'])} vs speech {fmt_ccc(sp['valence'])}: "
                         f"text {'leads' if val > 0 else 'does not lead'} ({_diff(val, 4)}); "
                         f"arousal CCC speech {fmt_ccc(sp['arousal'])} vs text {fmt_ccc(t['arousal'])}: "
                         f"speech {'leads' if aro > 0 else 'does not lead'} ({_diff(aro, 4)})")
    return lines


def _weight_digits(step) -> int:
    """Decimals that show every grid weight exactly (0.05 -> 2, 0.025 -> 3), at least 2, at most 6."""
    try:
        text = f"{float(step):.6f}".rstrip("0")
    except (TypeError, ValueError):
        return 2
    return max(2, len(text.split(".")[1]))


def _scores_line(label: str, scores: dict | None, digits: int) -> list[str]:
    if not isinstance(scores, dict) or not isinstance(scores.get("systems"), dict) or "fused" not in scores:
        return []
    parts = [f"{n} {_num(v, digits)}" for n, v in scores["systems"].items()]
    parts.append(f"fused {_num(scores['fused'], digits)}")
    return [f"- {label}: {', '.join(parts)}"]


def render_fusion_weights(items: Sequence[tuple[str, str, dict, Path]], ids: dict[str, dict[str, str]],
                          out_dir: str | os.PathLike) -> list[str]:
    """The Fusion weights section: one subsection per ``(name, kind, weights.json report, path)``."""
    lines = ["## Fusion weights", "",
             "Chosen by fuse_posteriors on the tuning set, as recorded in its weights.json. A fused system's "
             "scores on its own tuning set, and on sets that contain it (Dev_filt, Development), are optimistic "
             "(for the logistic regression they include its training data); "
             "the other sets are the fair comparison."]
    for name, kind, report, path in items:
        systems = [str(n) for n in report["systems"]]
        tuned_on = f"{report['num_tune']} utterances of {report['tune_labels']}"
        where = relative_link(path, out_dir)
        lines += ["", f"### {KIND_TITLES[kind]}: {ids[kind][name]} {name}", ""]
        if report["method"] == "logreg":
            kind_of = "log posteriors" if report["features"] == "log" else "posteriors"
            lines.append(f"- multinomial logistic regression, C={float(report['C'])}, features {kind_of} of "
                         f"{_and(systems)} (concatenated), trained on {tuned_on}")
            lines += _scores_line("macro-F1 on its training data", report.get("tune_macro_f1"), 3)
        elif kind == "category":
            weights = report["weights"]
            digits = _weight_digits(report["step"])
            lines.append(f"- interpolation of the posteriors, grid step {report['step']}, tuned on {tuned_on} "
                         "(macro-F1)")
            lines.append(f"- weights: {', '.join(f'{n} {_num(weights[n], digits)}' for n in systems)}")
            lines += _scores_line("tuning macro-F1", report.get("tune_macro_f1"), 3)
        else:
            weights = report["weights"]
            digits = _weight_digits(report["step"])
            tune = report.get("tune_ccc") if isinstance(report.get("tune_ccc"), dict) else {}
            single = tune.get("systems") if isinstance(tune.get("systems"), dict) else {}
            fused = tune.get("fused") if isinstance(tune.get("fused"), dict) else {}
            with_ccc = all(isinstance(single.get(n), dict) for n in systems) and bool(fused)
            lines.append(f"- interpolation of the attribute predictions, one weight vector per attribute, grid step "
                         f"{report['step']}, tuned on {tuned_on} (CCC of each attribute)")
            lines.append("")
            head = ["Attribute", *(f"Weight {n}" for n in systems)]
            if with_ccc:
                head += [*(f"Tuning CCC {n}" for n in systems), "Tuning CCC fused"]
            lines += markdown_header(head)
            for d in weights:  # one weight vector per attribute, in fuse_posteriors' column order
                cells = [ATTRIBUTE_TITLES.get(d, d), *(_num(weights[d][n], digits) for n in systems)]
                if with_ccc:
                    cells += [fmt_ccc(single[n][d]) if d in single[n] else "-" for n in systems]
                    cells.append(fmt_ccc(fused[d]) if d in fused else "-")
                lines.append(markdown_row(cells))
            lines.append("")
        lines.append(f"- file: `{where}`")
    return lines


def render_wer_table(items: Sequence[tuple[str, dict, Path]], out_dir: str | os.PathLike) -> list[str]:
    """The "ASR transcripts" section: one row per set, WER in percent with its counts, model and backend."""
    lines = ["## ASR transcripts: word error rate", "",
             "The text systems are trained and scored on these ASR transcripts; the WER compares them with the "
             "corpus transcripts (corpus-level: (S + D + I) / reference words; empty hypotheses are scored as "
             "empty).", ""]
    lines += markdown_header(["set", "WER (%)", "substitutions", "deletions", "insertions", "reference words",
                              "utterances", "empty hypotheses", "ASR model (backend)", "file"])
    for set_name, report, path in items:
        model = f"{report.get('model', '?')} ({report.get('backend', '?')})"
        lines.append(markdown_row([set_name, f"{100 * report['wer']:.2f}", *(str(int(report[k])) for k in (
            "substitutions", "deletions", "insertions", "ref_words", "utts", "empty_hypotheses")), model,
            f"`{relative_link(path, out_dir)}`"]))
    normalizations = sorted({str(report["normalization"]) for _, report, _ in items})
    lines += ["", f"Text normalisation before scoring: {'; '.join(normalizations)}."]
    return lines
