"""The inputs of the emotion RESULTS.md, parsed and checked: systems' metrics, pairs, checks, weights, WERs.

:mod:`voxrecipes.metrics.emotion_results` takes its systems either as command-line specs
(``NAME=SET=path/to/metrics.json``, ``NAME_WITHOUT=NAME_WITH``, ``FUSED=SYS1,SYS2``,
``TEXT=SPEECH``, ``NAME=weights.json``, ``SET=wer.json``) or from the system registry
(:mod:`voxrecipes.metrics.emotion_registry`). This module parses the specs, reads every
JSON file they name (a missing key is a :class:`DataError` naming the file and the stage
that should have written it), and checks that the names they use refer to systems and sets
that exist, so that nothing is written when one input is wrong. It also indexes the
entries of a table (row order, ``#N`` ids, metrics per system and set) for the renderers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.labels import ATTRIBUTES
from voxrecipes.metrics.results import Entry, load_metrics

logger = logging.getLogger(__name__)

#: Keys a categorical metrics.json must have (written by evaluate_classification).
CATEGORY_KEYS = ("macro_f1", "macro_f1_ci", "classes", "per_class_f1")
#: Keys an attribute metrics.json must have (written by evaluate_attributes).
ATTRIBUTE_KEYS = ("ccc", "ccc_ci", "ccc_mean", "ccc_mean_ci")
DEFAULT_PRIOR_SET = "dev_bal"
#: Sets on which fusion and modality verdicts are given by default (the issue's Dev_bal and Test1).
DEFAULT_CHECK_SETS = ("dev_bal", "test1")
#: Keys every weights.json of fuse_posteriors has, and those of each method.
WEIGHTS_KEYS = ("method", "task", "systems", "tune_labels", "num_tune")
WEIGHTS_METHOD_KEYS = {"interpolation": ("weights", "step"), "logreg": ("C", "features")}
#: Per table: the option that fills it, the score a fusion check compares, its key and its format.
KINDS = {"category": ("--category", "macro-F1", "macro_f1", 3),
         "attributes": ("--attributes", "mean CCC", "ccc_mean", 4)}


def parse_spec(spec: str, option: str = "--category") -> tuple[str, str, Path]:
    """Split ``NAME=SET=path/to/metrics.json`` (the path may contain ``=``)."""
    parts = spec.split("=", 2)
    if len(parts) != 3 or not all(p.strip() for p in parts) or any("|" in p for p in parts[:2]):
        raise ConfigError(f"{option} must be NAME=SET=path/to/metrics.json (NAME and SET without '=' or '|'), "
                          f"got '{spec}'")
    return parts[0].strip(), parts[1].strip(), Path(parts[2])


def parse_prior_pair(spec: str) -> tuple[str, str]:
    """Split ``NAME_WITHOUT=NAME_WITH`` (system without the prior correction, system with it)."""
    without, sep, with_prior = spec.partition("=")
    if not sep or not without.strip() or not with_prior.strip() or "=" in with_prior:
        raise ConfigError(f"--prior_pair must be NAME_WITHOUT_PRIOR=NAME_WITH_PRIOR, got '{spec}'")
    return without.strip(), with_prior.strip()


def parse_fusion_check(spec: str) -> tuple[str, list[str]]:
    """Split ``FUSED_NAME=SYS1,SYS2,...`` (a fused system and the single systems it should beat)."""
    fused, sep, rest = spec.partition("=")
    singles = [s.strip() for s in rest.split(",")]
    fused = fused.strip()
    if not sep or not fused or "=" in rest or not rest.strip() or not all(singles):
        raise ConfigError(f"--fusion_check must be FUSED_NAME=SYS1,SYS2,... (names without '=' or ','), "
                          f"got '{spec}'")
    if fused in singles or len(set(singles)) != len(singles):
        raise ConfigError(f"--fusion_check '{spec}': the single systems must be distinct and differ from "
                          f"the fused system '{fused}'")
    return fused, singles


def parse_modality_check(spec: str) -> tuple[str, str]:
    """Split ``TEXT_ATTR_NAME=SPEECH_ATTR_NAME`` (two attribute systems)."""
    text, sep, speech = spec.partition("=")
    text, speech = text.strip(), speech.strip()
    if not sep or not text or not speech or "=" in speech:
        raise ConfigError(f"--modality_check must be TEXT_ATTR_NAME=SPEECH_ATTR_NAME, got '{spec}'")
    if text == speech:
        raise ConfigError(f"--modality_check '{spec}': the text and the speech system must differ")
    return text, speech


def parse_weights_spec(spec: str) -> tuple[str, Path]:
    """Split ``NAME=path/to/weights.json`` (the path may contain ``=``)."""
    name, sep, path = spec.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ConfigError(f"--fusion_weights must be NAME=path/to/weights.json, got '{spec}'")
    return name.strip(), Path(path)


def parse_wer_spec(spec: str) -> tuple[str, Path]:
    """Split ``SET=path/to/wer.json`` (the path may contain ``=``)."""
    set_name, sep, path = spec.partition("=")
    if not sep or not set_name.strip() or not path.strip() or "|" in set_name:
        raise ConfigError(f"--wer must be SET=path/to/wer.json (SET without '=' or '|'), got '{spec}'")
    return set_name.strip(), Path(path)


def load_weights(path: str | os.PathLike) -> dict:
    """Read a weights.json of ``fuse_posteriors`` and check the keys the Fusion weights section uses."""
    report = load_metrics(path, WEIGHTS_KEYS, "fuse_posteriors")
    path = Path(path)
    method, task = report["method"], report["task"]
    if method not in WEIGHTS_METHOD_KEYS or task not in ("category", "attributes"):
        raise DataError(path, None, f"unknown method '{method}' or task '{task}'; written by fuse_posteriors?")
    missing = [k for k in WEIGHTS_METHOD_KEYS[method] if k not in report]
    if missing:
        raise DataError(path, None, f"missing keys {', '.join(missing)} of --method {method}; "
                                    "written by fuse_posteriors?")
    systems = report["systems"]
    if not isinstance(systems, list) or not systems:
        raise DataError(path, None, "'systems' must be a non-empty list of names")
    if method == "interpolation":
        weights = report["weights"]
        rows = list(weights.values()) if task == "attributes" and isinstance(weights, dict) else [weights]
        if not all(isinstance(r, dict) and set(r) == set(systems) for r in rows):
            raise DataError(path, None, f"'weights' must give a weight to each of {', '.join(systems)}"
                                        f"{' per attribute' if task == 'attributes' else ''}")
    return report


def load_entries(items: Sequence[tuple[str, str, Path, str]], option: str, required: Sequence[str],
                  writer: str) -> list[Entry]:
    """Read the metrics of each ``(name, set, metrics.json, what gave it)``; ``what`` goes into the errors."""
    entries: list[Entry] = []
    seen: dict[tuple[str, str], str] = {}
    for name, set_name, path, spec in items:
        if (name, set_name) in seen:
            raise ConfigError(f"{option} '{spec}': system '{name}' on set '{set_name}' was already given "
                              f"('{seen[(name, set_name)]}')")
        seen[(name, set_name)] = spec
        metrics = load_metrics(path, required, writer)
        if option == "--attributes":
            absent = [a for a in ATTRIBUTES if a not in metrics["ccc"] or a not in metrics["ccc_ci"]]
            if absent:
                raise DataError(path, None, f"no CCC for {' '.join(absent)}; written by {writer}?")
        recorded = metrics.get("set")
        if recorded and recorded != set_name:
            logger.warning("%s '%s': the metrics file says set '%s'", option, spec, recorded)
        entries.append(Entry(name, set_name, metrics, path))
    return entries


def load_wers(specs: Sequence[str]) -> list[tuple[str, dict, Path]]:
    """``(set, wer.json report, path)`` of each ``SET=wer.json`` spec; a set given twice is a ConfigError."""
    from voxrecipes.metrics.wer import load_wer

    items: list[tuple[str, dict, Path]] = []
    for spec in specs:
        set_name, path = parse_wer_spec(spec)
        if any(name == set_name for name, _, _ in items):
            raise ConfigError(f"--wer {spec}: a WER for set '{set_name}' was already given")
        items.append((set_name, load_wer(path), path))
    return items


def distinct_names(names: Sequence[str], option: str) -> list[str]:
    """``names`` stripped; ConfigError if one is listed twice."""
    names = [n.strip() for n in names]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{option} lists {' '.join(dupes)} more than once")
    return names


def check_set_names(check_sets: Sequence[str]) -> list[str]:
    names = distinct_names(check_sets, "--check_sets")
    if not names or not all(names):
        raise ConfigError("--check_sets needs at least one set name")
    return names


def column_sets(sets: Sequence[str] | None, groups: Sequence[tuple[str, Sequence[Entry]]]) -> list[str]:
    """Column order: ``sets`` (checked to cover every entry) or the order of first appearance."""
    if sets:
        sets = distinct_names(sets, "--sets")
        for option, entries in groups:
            for e in entries:
                if e.set not in sets:
                    raise ConfigError(f"{option} {e.system}={e.set}={e.path}: set '{e.set}' is not in --sets "
                                      f"({' '.join(sets)})")
        return sets
    order: list[str] = []
    for _, entries in groups:
        for e in entries:
            if e.set not in order:
                order.append(e.set)
    return order


def system_names(entries: Sequence[Entry]) -> list[str]:
    names: list[str] = []
    for e in entries:
        if e.system not in names:
            names.append(e.system)
    return names


def row_ids(entries: Sequence[Entry]) -> dict[str, str]:
    """``#1``, ``#2`` ... per system, in row order (the IDs of one table)."""
    return {name: f"#{i}" for i, name in enumerate(system_names(entries), start=1)}


def metrics_by_key(entries: Sequence[Entry]) -> dict[tuple[str, str], dict]:
    """The metrics of each ``(system, set)``."""
    return {(e.system, e.set): e.metrics for e in entries}


def check_prior_pairs(pairs: Sequence[tuple[str, str]], category: Sequence[Entry], prior_set: str) -> None:
    if pairs and not category:
        raise ConfigError("--prior_pair needs --category entries")
    systems = system_names(category)
    evaluated = {(e.system, e.set) for e in category}
    for without, with_prior in pairs:
        for name in (without, with_prior):
            if name not in systems:
                raise ConfigError(f"--prior_pair {without}={with_prior}: '{name}' is not a --category system "
                                  f"({', '.join(systems)})")
            if (name, prior_set) not in evaluated:
                raise ConfigError(f"--prior_pair {without}={with_prior}: '{name}' has no --category entry for "
                                  f"--prior_set {prior_set}")


def resolve_fusion_checks(checks: Sequence[tuple[str, list[str]]], category: Sequence[Entry],
                           attributes: Sequence[Entry]) -> list[tuple[str, str, list[str]]]:
    """``(kind, fused, singles)`` per ``(fused, singles)``: the table (category or attributes) holding all its names."""
    tables = {kind: system_names(entries) for kind, entries in (("category", category), ("attributes", attributes))}
    resolved = []
    for fused, singles in checks:
        spec = f"{fused}={','.join(singles)}"
        kinds = [k for k, names in tables.items() if fused in names]
        if not kinds:
            raise ConfigError(f"--fusion_check {spec}: '{fused}' is neither a --category system "
                              f"({', '.join(tables['category']) or 'none'}) nor an --attributes system "
                              f"({', '.join(tables['attributes']) or 'none'})")
        fitting = [k for k in kinds if all(n in tables[k] for n in singles)]
        if not fitting:
            kind = kinds[0]
            unknown = next(n for n in singles if n not in tables[kind])
            raise ConfigError(f"--fusion_check {spec}: '{unknown}' is not a {KINDS[kind][0]} system like "
                              f"'{fused}' ({', '.join(tables[kind])})")
        if len(fitting) > 1:
            raise ConfigError(f"--fusion_check {spec}: the names are both --category and --attributes systems; "
                              "give the categorical and the attribute systems different names")
        resolved.append((fitting[0], fused, singles))
    return resolved


def resolve_modality_checks(checks: Sequence[tuple[str, str]], attributes: Sequence[Entry]) -> list[tuple[str, str]]:
    systems = system_names(attributes)
    pairs = []
    for text, speech in checks:
        spec = f"{text}={speech}"
        for name in (text, speech):
            if name not in systems:
                raise ConfigError(f"--modality_check {spec}: '{name}' is not an --attributes system "
                                  f"({', '.join(systems) or 'none'})")
        pairs.append((text, speech))
    return pairs


def load_fusion_weights(named: Sequence[tuple[str, Path]], category: Sequence[Entry],
                         attributes: Sequence[Entry]) -> list[tuple[str, str, dict, Path]]:
    tables = {"category": system_names(category), "attributes": system_names(attributes)}
    items, seen = [], set()
    for name, path in named:
        spec = f"{name}={path}"
        if name in seen:
            raise ConfigError(f"--fusion_weights {spec}: weights for '{name}' were already given")
        seen.add(name)
        report = load_weights(path)
        kind = report["task"]
        if name not in tables[kind]:
            raise ConfigError(f"--fusion_weights {spec}: '{name}' is not a {KINDS[kind][0]} system "
                              f"({', '.join(tables[kind]) or 'none'}), and {path} is a --task {kind} fusion")
        items.append((name, kind, report, path))
    return items
