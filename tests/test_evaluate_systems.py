"""evaluate_systems: every registered system and set scored in one process, as the per-file CLIs score them."""

from __future__ import annotations

import json

import numpy as np

from voxrecipes.bin import evaluate_attributes, evaluate_classification, evaluate_systems, register_system
from voxrecipes.cli import run

CLASSES = ["A", "H", "N"]
SETS = ["dev_bal", "test1"]


def _write(path, header: str, rows: dict[str, list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(f"{u} {' '.join(f'{v:.6g}' for v in row)}\n" for u, row in rows.items()))


def test_one_process_scores_every_system_as_the_single_clis(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    monkeypatch.chdir(tmp_path)
    for set_name in SETS:
        utts = [f"{set_name}_u{i:02d}" for i in range(24)]
        labels = {u: CLASSES[i % 3] if i != 5 else "X" for i, u in enumerate(utts)}  # one X: excluded
        (tmp_path / "data" / set_name).mkdir(parents=True)
        (tmp_path / "data" / set_name / "utt2category").write_text("".join(f"{u} {c}\n" for u, c in labels.items()))
        attrs = {u: list(rng.uniform(1, 7, 3).round(1)) for u in utts}
        _write(tmp_path / "data" / set_name / "utt2attrs", "", attrs)
        probs = rng.dirichlet(np.ones(3), size=len(utts))
        _write(tmp_path / "exp" / "sys_cat" / set_name / "posteriors.txt", "#classes A H N\n", dict(zip(utts, probs)))
        noisy = {u: [min(7.0, max(1.0, v + rng.normal(0, 1))) for v in row] for u, row in attrs.items()}
        _write(tmp_path / "exp" / "sys_attr" / set_name / "attributes.txt", "#classes valence arousal dominance\n",
               noisy)
    for dir_name, kind, pattern in (("sys_cat", "category", "{set}/posteriors.txt"),
                                    ("sys_attr", "attributes", "{set}/attributes.txt")):
        run(register_system.main, register_system.get_parser(),
            ["--exp_dir", "exp", "--dir", dir_name, "--kind", kind, "--role", "speech", "--type", dir_name,
             "--position", "1", "--sets", *SETS, "--output_pattern", pattern, "--embedding_type", "w2vbert"])
    run(evaluate_systems.main, evaluate_systems.get_parser(),
        ["--exp_dir", "exp", "--sets", *SETS, "other_set", "--classes", *CLASSES, "--num_bootstrap", "50",
         "--seed", "3"])
    for set_name in SETS:
        ref_cat, ref_attr = tmp_path / "ref" / set_name / "cat", tmp_path / "ref" / set_name / "attr"
        run(evaluate_classification.main, evaluate_classification.get_parser(),
            ["--posteriors", f"exp/sys_cat/{set_name}/posteriors.txt", "--labels", f"data/{set_name}/utt2category",
             "--classes", *CLASSES, "--num_bootstrap", "50", "--seed", "3", "--set_name", set_name,
             "--out_dir", str(ref_cat)])
        run(evaluate_attributes.main, evaluate_attributes.get_parser(),
            ["--predictions", f"exp/sys_attr/{set_name}/attributes.txt", "--labels", f"data/{set_name}/utt2attrs",
             "--num_bootstrap", "50", "--seed", "3", "--set_name", set_name, "--out_dir", str(ref_attr)])
        got_cat = json.loads((tmp_path / "exp" / "sys_cat" / set_name / "eval" / "metrics.json").read_text())
        got_attr = json.loads((tmp_path / "exp" / "sys_attr" / set_name / "eval" / "metrics.json").read_text())
        assert got_cat == json.loads((ref_cat / "metrics.json").read_text())
        assert got_attr == json.loads((ref_attr / "metrics.json").read_text())
        assert got_cat["num_utts"] == 23 and got_cat["set"] == set_name and got_attr["num_utts"] == 24
        assert (tmp_path / "exp" / "sys_cat" / set_name / "eval" / "confusion.png").stat().st_size > 0
        assert (tmp_path / "exp" / "sys_attr" / set_name / "eval" / "scatter.png").stat().st_size > 0
