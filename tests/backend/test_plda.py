import numpy as np
import pytest

from voxrecipes.backend.plda import PldaBackend, fit_plda
from voxrecipes.errors import DataError

CLASSES = ["A", "H", "N", "S"]


def gaussian_classes(n_per_class, seed, dim=12, spread=3.0):
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(42).normal(0, spread, size=(len(CLASSES), dim))
    x, y = [], []
    for k, c in enumerate(CLASSES):
        x.append(means[k] + rng.normal(0, 1.0, size=(n_per_class, dim)))
        y += [c] * n_per_class
    return np.vstack(x), y


@pytest.fixture(scope="module")
def model():
    x, y = gaussian_classes(60, seed=0)
    return fit_plda(x, y, rank_f=8, nb_iter=5)


def test_posteriors_in_input_order_and_accurate(model):
    x, y = gaussian_classes(25, seed=1)
    rng = np.random.default_rng(7)
    order = rng.permutation(len(y))
    # ids whose sorted order differs from the input order, so a sorted-order leak would be caught
    utts = [f"utt{rng.integers(10**6):07d}_{i}" for i in range(len(y))]
    x, y = x[order], [y[i] for i in order]
    post = model.posteriors(x, utts)
    assert post.utts == utts and post.classes == CLASSES
    np.testing.assert_allclose(post.matrix.sum(axis=1), 1.0, atol=1e-9)
    pred = [CLASSES[i] for i in post.matrix.argmax(axis=1)]
    acc = np.mean([p == t for p, t in zip(pred, y)])
    assert acc > 0.9, acc  # chance is 0.25
    # scoring each utterance alone gives the same row: rows really belong to their utterances
    for i in (0, 17, 63):
        alone = model.score(x[i:i + 1], [utts[i]])
        np.testing.assert_allclose(alone[0], model.score(x, utts)[i], rtol=1e-8, atol=1e-8)
    # a reversed input gives reversed rows
    np.testing.assert_allclose(model.score(x[::-1], utts[::-1]), model.score(x, utts)[::-1], atol=1e-8)


def test_save_load_roundtrip(model, tmp_path):
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["classes.json", "plda.npz"]
    np.load(tmp_path / "m" / "plda.npz", allow_pickle=False).close()
    loaded = PldaBackend.load(tmp_path / "m")
    x, _ = gaussian_classes(5, seed=3)
    utts = [f"u{i:03d}" for i in range(len(x))]
    assert loaded.classes == CLASSES
    np.testing.assert_array_equal(loaded.score(x, utts), model.score(x, utts))


def test_bad_input(model, tmp_path):
    x, _ = gaussian_classes(2, seed=4)
    with pytest.raises(ValueError, match="not unique"):
        model.score(x, ["a"] * len(x))
    with pytest.raises(ValueError, match="dimension"):
        model.score(x[:, :5], [f"u{i}" for i in range(len(x))])
    model.save(tmp_path / "bad")
    np.savez(tmp_path / "bad" / "plda.npz", center=model.center)
    with pytest.raises(DataError, match=r"plda\.npz: not a PLDA model: missing arrays mean, F, Sigma, class_models"):
        PldaBackend.load(tmp_path / "bad")
    with pytest.raises(ValueError, match="without training data"):
        fit_plda(x, ["A"] * len(x), classes=["A", "B"])


def test_constant_dimensions_are_projected_out_and_reload(tmp_path):
    """Dead ReLU units give constant embedding dimensions; PLDA must still train and score."""
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    means = rng.normal(0, 3, (3, 6))
    labels = [classes[i % 3] for i in range(150)]
    informative = np.stack([means[i % 3] + rng.normal(0, 1, 6) for i in range(150)])
    x = np.concatenate([informative, np.full((150, 4), 0.7)], axis=1)  # 4 constant dimensions
    model = fit_plda(x, labels, rank_f=8, nb_iter=5)
    assert model.projection.shape == (10, 6)
    post = model.posteriors(x, [f"u{i}" for i in range(150)])
    assert np.isfinite(post.matrix).all()
    accuracy = np.mean([classes[k] == lab for k, lab in zip(post.matrix.argmax(1), labels)])
    assert accuracy > 0.8
    model.save(tmp_path / "m")
    again = PldaBackend.load(tmp_path / "m")
    np.testing.assert_allclose(again.posteriors(x, post.utts).matrix, post.matrix)


def test_labels_outside_classes_are_left_out_and_lengths_checked():
    x, y = gaussian_classes(20, seed=5)
    keep = [i for i, lab in enumerate(y) if lab in ("H", "S")]
    subset = fit_plda(x, y, rank_f=4, nb_iter=3, classes=["S", "H"])
    alone = fit_plda(x[keep], [y[i] for i in keep], rank_f=4, nb_iter=3, classes=["S", "H"])
    assert subset.classes == ["S", "H"]
    utts = [f"u{i}" for i in range(len(x))]
    np.testing.assert_allclose(subset.score(x, utts), alone.score(x, utts), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="79 labels for 80 embeddings"):
        fit_plda(x, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        fit_plda(np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), y)
