"""iter_scp: the same arrays as kaldiio's own reader, each ark opened once, errors with file and line."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest

from voxrecipes.errors import DataError
from voxrecipes.features.arkio import iter_scp, read_scp, write_ark_scp


@pytest.fixture
def two_arks(tmp_path):
    """An scp whose entries point, out of order, into two arks (vectors and matrices of several dtypes)."""
    rng = np.random.default_rng(0)
    first = {f"a{i}": rng.standard_normal((i + 1, 3)).astype(np.float32) for i in range(6)}
    second = {"b0": rng.standard_normal(7), "b1": rng.standard_normal((2, 2)).astype(np.float32)}
    write_ark_scp(tmp_path / "one", first.items())
    write_ark_scp(tmp_path / "two", second.items())
    lines = (tmp_path / "one.scp").read_text().splitlines() + (tmp_path / "two.scp").read_text().splitlines()
    order = [3, 6, 0, 5, 1, 7, 2, 4]  # backwards seeks and alternating arks
    (tmp_path / "mixed.scp").write_text("".join(lines[i] + "\n" for i in order))
    return tmp_path / "mixed.scp", {**first, **second}, [lines[i].split()[0] for i in order]


def test_same_arrays_as_kaldiio_in_scp_order(two_arks):
    scp, arrays, keys = two_arks
    got = list(iter_scp(scp))
    assert [k for k, _ in got] == keys
    reference = kaldiio.load_scp(str(scp))  # the library's reader, one open per entry
    for key, array in got:
        assert array.dtype == reference[key].dtype and np.array_equal(array, reference[key])
        assert np.array_equal(array, arrays[key])


def test_each_ark_is_opened_once(two_arks, monkeypatch):
    scp, _, _ = two_arks
    opened: list[str] = []
    original = kaldiio.matio.open_like_kaldi

    def counting(name, mode="r"):
        opened.append(str(name))
        return original(name, mode)

    monkeypatch.setattr(kaldiio.matio, "open_like_kaldi", counting)
    assert len(read_scp(scp)) == 8
    assert sorted(opened) == sorted({str(scp.parent / "one.ark"), str(scp.parent / "two.ark")})


def test_location_without_offset_and_bad_offset(tmp_path):
    write_ark_scp(tmp_path / "x", [("a", np.arange(3, dtype=np.float32)), ("b", np.ones(2, np.float32))])
    lines = (tmp_path / "x.scp").read_text().splitlines()
    # a location without an offset is a single-matrix file (Kaldi's rxfilename), read from its start
    kaldiio.save_mat(str(tmp_path / "single.mat"), np.full((2, 2), 5.0, np.float32))
    (tmp_path / "y.scp").write_text(f"{lines[1]}\nsingle {tmp_path / 'single.mat'}\n{lines[0]}\n"
                                    f"again {tmp_path / 'single.mat'}\n")
    got = read_scp(tmp_path / "y.scp")
    assert list(got) == ["b", "single", "a", "again"]
    assert np.array_equal(got["again"], np.full((2, 2), 5.0, np.float32))
    assert np.array_equal(got["a"], np.arange(3, dtype=np.float32))
    (tmp_path / "z.scp").write_text(f"{lines[0]}\nc {tmp_path / 'x.ark'}:999999\n")
    with pytest.raises(DataError, match=r"z\.scp:2: cannot read .*for 'c'"):
        read_scp(tmp_path / "z.scp")
