"""Tests of the PLDA backend stages (train_plda / score_plda) on synthetic embeddings."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from voxrecipes.backend.plda_stage import score_plda_backend, train_plda_backend
from voxrecipes.data.posteriors import read_posteriors
from voxrecipes.data.table import write_table
from voxrecipes.errors import DataError
from voxrecipes.features.arkio import write_ark_scp

CLASSES = ["A", "H", "N", "S"]


def make_set(tmp_path, name, per_class, seed, extra_label=None):
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(123).normal(scale=3.0, size=(len(CLASSES), 12))
    items, labels = [], {}
    for c, cls in enumerate(CLASSES):
        for i in range(per_class):
            utt = f"{name}-{cls}{i:03d}"
            items.append((utt, (means[c] + rng.normal(size=12)).astype(np.float32)))
            labels[utt] = cls
    if extra_label:
        labels.update(extra_label)
    write_ark_scp(tmp_path / name / "embedding", sorted(items))
    write_table(tmp_path / name / "utt2category", labels)
    return tmp_path / name / "embedding.scp", tmp_path / name / "utt2category", labels


def test_train_and_score_well_above_chance(tmp_path):
    train_scp, train_lab, _ = make_set(tmp_path, "train", 30, seed=0)
    test_scp, _, test_labels = make_set(tmp_path, "test", 20, seed=1)
    train_plda_backend(train_scp, train_lab, tmp_path / "model", rank_f=8)
    meta = json.loads((tmp_path / "model" / "classes.json").read_text())
    assert meta["classes"] == CLASSES and meta["num_train"] == 120 and meta["rank_f"] == 8
    score_plda_backend(tmp_path / "model", test_scp, tmp_path / "post.txt")
    post = read_posteriors(tmp_path / "post.txt")
    assert post.classes == CLASSES
    assert sorted(post.utts) == sorted(test_labels) and post.utts == sorted(post.utts)
    np.testing.assert_allclose(post.matrix.sum(axis=1), 1.0, atol=1e-6)
    predicted = [post.classes[i] for i in post.matrix.argmax(axis=1)]
    accuracy = np.mean([p == test_labels[u] for p, u in zip(predicted, post.utts)])
    assert accuracy > 0.8  # chance is 0.25


def test_excluded_classes_are_left_out(tmp_path):
    scp, lab, labels = make_set(tmp_path, "train", 10, seed=0)
    # Relabel two utterances as X: they are excluded, not a fifth class.
    relabelled = dict(labels)
    for utt in list(relabelled)[:2]:
        relabelled[utt] = "X"
    write_table(lab, relabelled)
    model = train_plda_backend(scp, lab, tmp_path / "model", exclude=["X"], rank_f=4)
    assert model.classes == CLASSES
    assert json.loads((tmp_path / "model" / "classes.json").read_text())["excluded"] == {"X": 2}


def test_missing_embedding_names_both_files(tmp_path):
    scp, lab, _ = make_set(tmp_path, "train", 5, seed=0, extra_label={"train-zz999": "A"})
    with pytest.raises(DataError) as err:
        train_plda_backend(scp, lab, tmp_path / "model")
    assert str(scp) in str(err.value) and str(lab) in str(err.value) and "train-zz999" in str(err.value)
    assert not (tmp_path / "model" / "classes.json").exists()


def test_cli_exit_status_for_missing_model(tmp_path):
    scp, _, _ = make_set(tmp_path, "test", 2, seed=0)
    proc = subprocess.run([sys.executable, "-m", "voxrecipes.bin.score_plda", "--model_dir", str(tmp_path / "none"),
                           "--embedding_scp", str(scp), "--out", str(tmp_path / "p.txt")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "classes.json: PLDA model not found" in proc.stderr
    assert not (tmp_path / "p.txt").exists()
