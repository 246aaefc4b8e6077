"""Posteriors that must be class probabilities: rows of non-negative values summing to 1 (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from voxrecipes.data.posteriors import (
    DEFAULT_SUM_TOLERANCE,
    Posteriors,
    read_posteriors,
    read_probabilities,
    write_posteriors,
)
from voxrecipes.errors import DataError


def _write(path, rows: list[str], header: str = "#classes A S H") -> str:
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


def test_rows_that_are_not_distributions_name_file_line_and_value(tmp_path):
    good = ["u1 0.2 0.3 0.5", "u2 0.1 0.1 0.8"]
    path = _write(tmp_path / "post.txt", [*good, "u3 1 2 4"])
    with pytest.raises(DataError) as err:
        read_probabilities(path)
    assert str(err.value).startswith(f"{path}:4: ")
    assert "'u3'" in str(err.value) and "sum to 7" in str(err.value) and "--renormalise" in str(err.value)
    path = _write(tmp_path / "neg.txt", [good[0], "u2 -0.2 0.7 0.5", good[1].replace("u2", "u3")])
    with pytest.raises(DataError) as err:
        read_probabilities(path)
    assert str(err.value).startswith(f"{path}:3: ")
    assert "negative" in str(err.value) and "-0.2" in str(err.value) and "'A'" in str(err.value)
    # the same files are fine as plain matrices (scores, attribute predictions)
    assert read_posteriors(path).matrix[1, 0] == pytest.approx(-0.2)


def test_tolerance_is_stated_and_applied(tmp_path):
    off = 0.5 * DEFAULT_SUM_TOLERANCE
    path = _write(tmp_path / "post.txt", ["u1 0.2 0.3 0.5", f"u2 0.1 0.1 {0.8 + off!r}"])
    post = read_probabilities(path)
    assert post.matrix[1, 2] == pytest.approx(0.8 + off)  # accepted as it is
    with pytest.raises(DataError, match=r"post\.txt:3: .*'u2'.*tolerance"):
        read_probabilities(path, sum_tolerance=0.1 * off)


def test_rows_written_by_write_posteriors_pass(tmp_path):
    """Softmax rows rounded to write_posteriors' 6 significant digits stay within the tolerance."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 6, size=(500, 10))
    soft = np.exp(logits - logits.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    path = tmp_path / "post.txt"
    write_posteriors(path, Posteriors([f"u{i:03d}" for i in range(500)], list("ASHUFDCNOX"), soft))
    post = read_probabilities(path)
    assert np.abs(post.matrix.sum(1) - 1).max() < 1e-5


def test_renormalise_divides_by_the_row_sum_but_not_negative_or_empty_rows(tmp_path):
    path = _write(tmp_path / "post.txt", ["u1 0.2 0.3 0.5", "u2 1 2 4"])
    post = read_probabilities(path, renormalise=True)
    np.testing.assert_allclose(post.matrix, [[0.2, 0.3, 0.5], [1 / 7, 2 / 7, 4 / 7]])
    assert post.utts == ["u1", "u2"] and post.classes == ["A", "S", "H"]
    for rows, line, reason in ((["u1 0.2 0.3 0.5", "u2 2 -1 0"], 3, "negative"),
                               (["u1 0 0 0"], 2, "all zero")):
        path = _write(tmp_path / "bad.txt", rows)
        with pytest.raises(DataError, match=rf"bad\.txt:{line}: .*{reason}"):
            read_probabilities(path, renormalise=True)
