"""RESULTS.md of the emotion recipe from the system registry (:mod:`voxrecipes.registry`).

Scans ``exp/*/system.json`` and turns what the stages recorded into the inputs of
:func:`voxrecipes.metrics.emotion_results.build_emotion_results`:

* one row per registered system (RESULTS.md order: speech, text, fusion), named by
  :func:`voxrecipes.registry.display_name`, with the ``metrics.json`` of its evaluation
  directory on each requested set it has an output for;
* prior pairs: each categorical system scored with its training prior (variant ``train``)
  and its balanced-prior twin (variant ``uniform``) in the same directory;
* fusion checks: each fusion against the systems it was fused from; modality checks: each
  attribute fusion's first text member against its first speech member;
* the fusion weights: each fusion's ``weights.json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from voxrecipes.errors import ConfigError
from voxrecipes.metrics.emotion_inputs import DEFAULT_CHECK_SETS, DEFAULT_PRIOR_SET
from voxrecipes.metrics.emotion_results import build_emotion_results
from voxrecipes.registry import System, display_name, find, scan, system_id, table_ids

METRICS_FILE = "metrics.json"


def registry_inputs(exp_dir: str | os.PathLike, sets: Sequence[str]) -> dict:
    """The keyword arguments of ``build_emotion_results`` for the systems under ``exp_dir`` on ``sets``."""
    systems = scan(exp_dir)
    if not systems:
        raise ConfigError(f"no system registered under {exp_dir} (no {exp_dir}/*/system.json); run the stages "
                          "that make them first")
    ids = table_ids(systems)
    names = {s.id: display_name(s, ids) for s in systems}

    def entries(kind: str) -> list:
        return [(names[s.id], set_name, s.eval_dir(set_name) / METRICS_FILE, s.id)
                for s in systems if s.kind == kind for set_name in sets if set_name in s.outputs]

    by_id = {s.id: s for s in systems}
    pairs = []
    for s in systems:
        twin = system_id(s.id.rsplit("/", 1)[0], "uniform")
        if s.kind == "category" and s.variant == "train" and twin in by_id:
            pairs.append((names[s.id], names[twin]))
    fusions = [s for s in systems if s.role == "fusion" and s.fused_from]
    checks, modality, weights = [], [], []
    for fused in fusions:
        members: list[System] = find(systems, fused.fused_from, exp_dir)
        checks.append((names[fused.id], [names[m.id] for m in members]))
        text = next((m for m in members if m.role == "text"), None)
        speech = next((m for m in members if m.role == "speech"), None)
        if fused.kind == "attributes" and text is not None and speech is not None:
            modality.append((names[text.id], names[speech.id]))
        if fused.weights:
            weights.append((names[fused.id], fused.dir / fused.weights))
    return {"category": entries("category"), "attributes": entries("attributes"), "prior_pairs": pairs,
            "fusion_checks": checks, "modality_checks": modality, "fusion_weights": weights}


def results_from_registry(title: str, out: str | os.PathLike, exp_dir: str | os.PathLike, sets: Sequence[str], *,
                          prior_set: str = DEFAULT_PRIOR_SET, check_sets: Sequence[str] = DEFAULT_CHECK_SETS,
                          wers: Sequence[str] = (), env: dict[str, str] | None = None,
                          notes: str | os.PathLike | None = None) -> str:
    """Write RESULTS.md for every system registered under ``exp_dir``, with ``sets`` as the columns (+ ``notes``)."""
    inputs = registry_inputs(exp_dir, sets)
    return build_emotion_results(title, out, sets=sets, prior_set=prior_set, check_sets=check_sets, wers=wers,
                                 env=env, notes=notes, **inputs)
