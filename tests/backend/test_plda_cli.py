"""End-to-end tests of the train_plda / score_plda entry points, run as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

import kaldiio
import numpy as np

from voxrecipes.data.posteriors import read_posteriors
from voxrecipes.data.table import write_table

CLASSES = ["A", "H", "N", "S"]
DIM = 16


def write_set(tmp_path, name, per_class, seed, extra_labels=None):
    """Gaussian class clusters written with kaldiio (ark + scp) and their utt2category."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(7).normal(scale=2.5, size=(len(CLASSES), DIM))
    vectors, labels = {}, {}
    for c, cls in enumerate(CLASSES):
        for i in range(per_class):
            utt = f"spk{i % 3}-{name}_{cls}{i:03d}"
            vectors[utt] = (means[c] + rng.normal(size=DIM)).astype(np.float32)
            labels[utt] = cls
    labels.update(extra_labels or {})
    folder = tmp_path / name
    folder.mkdir()
    with kaldiio.WriteHelper(f"ark,scp:{folder / 'emb.ark'},{folder / 'emb.scp'}") as writer:
        for utt in sorted(vectors):
            writer(utt, vectors[utt])
    write_table(folder / "utt2category", labels)
    return folder / "emb.scp", folder / "utt2category", labels


def cli(name, *args):
    return subprocess.run([sys.executable, "-m", f"voxrecipes.bin.{name}", *map(str, args)],
                          capture_output=True, text=True)


def test_train_score_cli_well_above_chance(tmp_path):
    train_scp, train_lab, _ = write_set(tmp_path, "train", 30, seed=0, extra_labels={"spk9-train_O000": "O"})
    test_scp, _, test_labels = write_set(tmp_path, "test", 15, seed=1)
    model = tmp_path / "model"
    # The O utterance has no embedding but is excluded, so training must not ask for it.
    proc = cli("train_plda", "--embedding_scp", train_scp, "--labels", train_lab, "--out_dir", model,
               "--exclude", "O", "X", "--rank_f", 8, "--nb_iter", 5, "--blas_threads", 0)
    assert proc.returncode == 0, proc.stderr
    assert (model / "plda.npz").is_file()
    meta = json.loads((model / "classes.json").read_text())
    assert meta["classes"] == CLASSES and meta["num_train"] == 120 and meta["excluded"] == {"O": 1, "X": 0}

    out = tmp_path / "scores" / "posteriors.txt"
    proc = cli("score_plda", "--model_dir", model, "--embedding_scp", test_scp, "--out", out, "--blas_threads", 1)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines()[0] == "#classes A H N S"
    post = read_posteriors(out)
    scp_utts = [line.split()[0] for line in test_scp.read_text().splitlines()]
    assert set(post.utts) == set(scp_utts) and len(post.utts) == len(scp_utts)
    assert post.utts == sorted(post.utts, key=lambda u: u.encode())
    np.testing.assert_allclose(post.matrix.sum(axis=1), 1.0, atol=1e-5)
    predicted = [CLASSES[k] for k in post.matrix.argmax(axis=1)]
    accuracy = np.mean([p == test_labels[u] for p, u in zip(predicted, post.utts)])
    assert accuracy > 0.8, accuracy  # chance is 0.25


def test_missing_embedding_names_both_files_and_exits_1(tmp_path):
    scp, lab, _ = write_set(tmp_path, "train", 5, seed=0, extra_labels={"spk9-train_A999": "A"})
    proc = cli("train_plda", "--embedding_scp", scp, "--labels", lab, "--out_dir", tmp_path / "model")
    assert proc.returncode == 1
    error = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(error) == 1 and "Traceback" not in proc.stderr
    assert str(scp) in error[0] and str(lab) in error[0] and "spk9-train_A999" in error[0]
    assert not (tmp_path / "model" / "classes.json").exists()
