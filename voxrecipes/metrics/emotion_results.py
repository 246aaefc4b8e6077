"""RESULTS.md of the MSP-Podcast emotion recipe, in the layout of the paper's Tables 2 and 3.

Inputs are ``NAME=SET=path/to/metrics.json`` specs: categorical systems scored by
:func:`voxrecipes.metrics.evaluate.evaluate_classification` and attribute systems scored
by :func:`voxrecipes.metrics.attributes.evaluate_attributes`. The page holds:

* an environment header (:func:`voxrecipes.metrics.results.environment`);
* Table 3 layout: one row per categorical system (in the order given), one column per
  evaluation set, cells ``macro-F1 [95% CI]``, ``-`` where a system was not evaluated
  on a set; then per set a per-class F1 table, and the confusion matrix of the last row
  (the recipe's fused system) on the prior set;
* Table 2 layout: one row per attribute system, for each set the columns Valence,
  Arousal, Dominance and Average (CCC); a second table gives each CCC with its 95% CI,
  N and the count of predictions outside the 1-7 scale; the last row's scatter plots;
* prior correction: for each pair (system without prior, system with the balanced
  prior) the two macro-F1s on one set (default ``dev_bal``) and whether the prior
  raised macro-F1, decided on the unrounded values (equal counts as "did not raise");
* fusion against single systems (``FUSED=SYS1,SYS2,...`` checks): per check set
  (default ``dev_bal`` and ``test1``), whether the fused system beats each listed single
  system (macro-F1 for categorical systems, mean CCC for attribute systems; the names
  must all be systems of one of the two tables);
* text against speech (``TEXT=SPEECH`` attribute systems): per check set, whether text
  leads on valence and speech on arousal (CCC);
* fusion weights: for each ``NAME=weights.json`` written by ``fuse_posteriors``, the
  chosen interpolation weights (per attribute for attributes) with the tuning set, its
  size and the tuning scores, or the logistic-regression fuser's C, features and training
  set;
* ASR word error rate (``SET=wer.json`` specs, written by the ASR stage when a set has a
  reference transcript): one row per set (in the order given) with the WER in percent,
  substitutions, deletions, insertions, reference words, utterances, empty hypotheses
  and the ASR model and backend, plus the text normalisation the files record.

RESULTS.md links only to files next to it (the committed results): the two plots are copied
beside it as ``RESULTS_confusion_<set>.png`` and ``RESULTS_scatter_<set>.png``; the other
files it names (every system's plots, weights.json, wer.json) stay under the experiment
directory and appear as plain paths.

Every verdict compares the unrounded values and is strict (equal is "does not beat" /
"does not lead"); a check set without the needed metrics reads "not evaluated".

Columns follow ``sets`` when given (a spec naming another set is an error), else the
order in which sets first appear in the specs; each table shows only the sets that at
least one of its systems was evaluated on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from voxrecipes.errors import ConfigError
from voxrecipes.fileio import atomic_write
from voxrecipes.metrics.emotion_inputs import (
    ATTRIBUTE_KEYS,
    CATEGORY_KEYS,
    DEFAULT_CHECK_SETS,
    DEFAULT_PRIOR_SET,
    check_prior_pairs,
    check_set_names,
    column_sets,
    load_entries,
    load_fusion_weights,
    load_wers,
    parse_fusion_check,
    parse_modality_check,
    parse_prior_pair,
    parse_spec,
    parse_weights_spec,
    resolve_fusion_checks,
    resolve_modality_checks,
    row_ids,
)
from voxrecipes.metrics.emotion_sections import (
    render_fusion_checks,
    render_fusion_weights,
    render_modality_checks,
    render_wer_table,
)
from voxrecipes.metrics.emotion_tables import (
    Figure,
    pick_figure,
    render_attribute_tables,
    render_category_tables,
    render_prior_lines,
)
from voxrecipes.metrics.results import Entry, environment, header_lines, read_notes


def render_emotion_results(title: str, category: Sequence[Entry], attributes: Sequence[Entry],
                           prior_pairs: Sequence[tuple[str, str]], prior_set: str, columns: Sequence[str],
                           env: dict[str, str], out_dir: str | os.PathLike, *,
                           fusion_checks: Sequence[tuple[str, str, list[str]]] = (),
                           modality_checks: Sequence[tuple[str, str]] = (),
                           fusion_weights: Sequence[tuple[str, str, dict, Path]] = (),
                           check_sets: Sequence[str] = DEFAULT_CHECK_SETS,
                           wers: Sequence[tuple[str, dict, Path]] = (),
                           figures: dict[str, Figure | None] | None = None) -> str:
    """The whole RESULTS.md text; paths are relative to ``out_dir``, links only to the ``figures`` beside it.

    ``fusion_checks`` are resolved ``(kind, fused, singles)`` triples (kind: ``category`` or
    ``attributes``), ``fusion_weights`` ``(name, kind, weights.json report, path)``, ``wers``
    ``(set, wer.json report, path)``.
    """
    lines = header_lines(title, env)
    figures = figures or {}
    if category:
        lines += [""] + render_category_tables(category, columns, out_dir, figures.get("category"))
    if prior_pairs:
        lines += [""] + render_prior_lines(category, prior_pairs, prior_set)
    if attributes:
        lines += [""] + render_attribute_tables(attributes, columns, out_dir, figures.get("attributes"))
    tables = {"category": category, "attributes": attributes}
    if fusion_checks:
        lines += [""] + render_fusion_checks(fusion_checks, tables, check_sets)
    if modality_checks:
        lines += [""] + render_modality_checks(modality_checks, attributes, check_sets)
    if fusion_weights:
        ids = {kind: row_ids(entries) for kind, entries in tables.items()}
        lines += [""] + render_fusion_weights(fusion_weights, ids, out_dir)
    if wers:
        lines += [""] + render_wer_table(wers, out_dir)
    return "\n".join(lines) + "\n"


def make_emotion_results(title: str, out: str | os.PathLike, *, category: Sequence[str] = (),
                         attributes: Sequence[str] = (), prior_pairs: Sequence[str] = (),
                         prior_set: str = DEFAULT_PRIOR_SET, sets: Sequence[str] | None = None,
                         fusion_checks: Sequence[str] = (), modality_checks: Sequence[str] = (),
                         fusion_weights: Sequence[str] = (), check_sets: Sequence[str] = DEFAULT_CHECK_SETS,
                         wers: Sequence[str] = (), env: dict[str, str] | None = None,
                         notes: str | os.PathLike | None = None) -> str:
    """Build RESULTS.md from ``NAME=SET=metrics.json`` specs, write it atomically and return the text.

    ``prior_pairs`` are ``NAME_WITHOUT=NAME_WITH`` specs over the categorical systems;
    ``fusion_checks`` ``FUSED=SYS1,SYS2,...`` over the systems of one table;
    ``modality_checks`` ``TEXT=SPEECH`` over the attribute systems; ``fusion_weights``
    ``NAME=weights.json`` of fused systems; ``wers`` ``SET=wer.json`` of the ASR stage.
    The verdicts are given on ``check_sets``.
    Everything is read and checked before anything is written.
    """
    if not category and not attributes:
        raise ConfigError("give at least one --category or --attributes NAME=SET=path/to/metrics.json")
    return build_emotion_results(
        title, out,
        category=[(*parse_spec(spec, "--category"), spec) for spec in category],
        attributes=[(*parse_spec(spec, "--attributes"), spec) for spec in attributes],
        prior_pairs=[parse_prior_pair(p) for p in prior_pairs], prior_set=prior_set, sets=sets,
        fusion_checks=[parse_fusion_check(c) for c in fusion_checks],
        modality_checks=[parse_modality_check(c) for c in modality_checks],
        fusion_weights=[parse_weights_spec(w) for w in fusion_weights], check_sets=check_sets, wers=wers, env=env,
        notes=notes)


def build_emotion_results(title: str, out: str | os.PathLike, *,
                          category: Sequence[tuple[str, str, Path, str]] = (),
                          attributes: Sequence[tuple[str, str, Path, str]] = (),
                          prior_pairs: Sequence[tuple[str, str]] = (), prior_set: str = DEFAULT_PRIOR_SET,
                          sets: Sequence[str] | None = None, fusion_checks: Sequence[tuple[str, list[str]]] = (),
                          modality_checks: Sequence[tuple[str, str]] = (),
                          fusion_weights: Sequence[tuple[str, Path]] = (),
                          check_sets: Sequence[str] = DEFAULT_CHECK_SETS, wers: Sequence[str] = (),
                          env: dict[str, str] | None = None, notes: str | os.PathLike | None = None) -> str:
    """RESULTS.md from parsed inputs: ``(name, set, metrics.json, source)`` entries, name pairs and checks.

    ``notes``: a Markdown file of the recipe appended at the end (:func:`~voxrecipes.metrics.results.read_notes`).
    The common core of :func:`make_emotion_results` (command-line specs) and
    :func:`voxrecipes.metrics.emotion_registry.results_from_registry` (the system registry).
    Everything is read and checked before anything is written.
    """
    if not category and not attributes:
        raise ConfigError("no categorical or attribute system to report")
    cat = load_entries(category, "--category", CATEGORY_KEYS, "evaluate_classification")
    att = load_entries(attributes, "--attributes", ATTRIBUTE_KEYS, "evaluate_attributes")
    pairs = list(prior_pairs)
    check_prior_pairs(pairs, cat, prior_set)
    columns = column_sets(sets, [("--category", cat), ("--attributes", att)])
    checks = resolve_fusion_checks(fusion_checks, cat, att)
    modality = resolve_modality_checks(modality_checks, att)
    verdict_sets = check_set_names(check_sets) if checks or modality else list(check_sets)
    weights = load_fusion_weights(fusion_weights, cat, att)
    wer_items = load_wers(wers)
    notes_text = read_notes(notes)
    out = Path(out)
    figures = {"category": pick_figure(cat, "category", prior_set, columns),
               "attributes": pick_figure(att, "attributes", prior_set, columns)}
    text = render_emotion_results(title, cat, att, pairs, prior_set, columns,
                                  env if env is not None else environment(), out.parent,
                                  fusion_checks=checks, modality_checks=modality, fusion_weights=weights,
                                  check_sets=verdict_sets, wers=wer_items, figures=figures) + notes_text
    for figure in figures.values():
        if figure is not None:
            with atomic_write(out.parent / figure.name, mode="wb") as handle:
                handle.write(figure.source.read_bytes())
    with atomic_write(out) as handle:
        handle.write(text)
    return text
