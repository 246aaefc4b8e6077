"""Tests of the shared plumbing: atomic writes, table I/O, posteriors, --config."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from voxrecipes import cli
from voxrecipes.data.posteriors import Posteriors, read_posteriors, write_posteriors
from voxrecipes.data.table import read_table, write_table
from voxrecipes.errors import DataError, VoxError
from voxrecipes.fileio import atomic_dir, atomic_write


def test_atomic_write_leaves_old_file_on_error(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("new\n")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_atomic_dir_replaces_only_on_success(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "a").write_text("1")
    assert (out / "a").read_text() == "1"
    with pytest.raises(ValueError):
        with atomic_dir(out) as tmp:
            (tmp / "b").write_text("2")
            raise ValueError
    assert sorted(p.name for p in out.iterdir()) == ["a"]
    assert not (tmp_path / "out.tmp").exists()


def test_table_c_locale_order_and_exact_bytes(tmp_path):
    path = tmp_path / "utt2spk"
    write_table(path, {"utt2": "s", "utt10": "s", "a_1": "t", "A_1": "t"})
    assert path.read_bytes() == b"A_1 t\na_1 t\nutt10 s\nutt2 s\n"
    assert list(read_table(path)) == ["A_1", "a_1", "utt10", "utt2"]


@pytest.mark.parametrize("content,line,reason", [
    ("b x\na y\n", 2, "not sorted"),
    ("a x\na y\n", 2, "duplicate key 'a'"),
    ("a x\n\nb y\n", 2, "empty line"),
    ("a\n", 1, "has no value"),
])
def test_table_errors_name_file_and_line(tmp_path, content, line, reason):
    path = tmp_path / "text"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        read_table(path)
    assert f"{path}:{line}: " in str(err.value)
    assert reason in str(err.value)


def test_posteriors_round_trip_sorted(tmp_path):
    post = Posteriors(["u2", "u1"], ["A", "B"], np.array([[0.25, 0.75], [0.5, 0.5]]))
    path = tmp_path / "post.txt"
    write_posteriors(path, post)
    assert path.read_text() == "#classes A B\nu1 0.5 0.5\nu2 0.25 0.75\n"
    back = read_posteriors(path)
    assert back.utts == ["u1", "u2"] and back.classes == ["A", "B"]
    np.testing.assert_allclose(back.matrix, [[0.5, 0.5], [0.25, 0.75]])


def test_posteriors_bad_row(tmp_path):
    path = tmp_path / "post.txt"
    path.write_text("#classes A B\nu1 0.5\n")
    with pytest.raises(DataError, match=r"post.txt:2: expected 2 values, found 1"):
        read_posteriors(path)


def _parser():
    parser = argparse.ArgumentParser(prog="t")
    parser.add_argument("--lda_dim", type=int, default=3)
    parser.add_argument("--exclude", nargs="*", default=[])
    return parser


def test_config_yaml_sets_defaults_and_command_line_wins(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text("lda_dim: 15\nexclude: [O, X]\n")
    seen = []
    cli.run(lambda a: seen.append((a.lda_dim, a.exclude)), _parser(), ["--config", str(conf)])
    cli.run(lambda a: seen.append((a.lda_dim, a.exclude)), _parser(), ["--config", str(conf), "--lda_dim", "4"])
    assert seen == [(15, ["O", "X"]), (4, ["O", "X"])]


def test_config_unknown_key_is_an_error(tmp_path, capsys):
    conf = tmp_path / "c.yaml"
    conf.write_text("lda_dims: 15\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.run(lambda a: None, _parser(), ["--config", str(conf)])
    assert exit_info.value.code == 2
    assert "unknown option(s) lda_dims" in capsys.readouterr().err


def test_vox_error_becomes_exit_1(capsys):
    def main(args):
        raise VoxError("data/x/wav.scp:3: file not found")
    with pytest.raises(SystemExit) as exit_info:
        cli.run(main, _parser(), [])
    assert exit_info.value.code == 1
    assert "ERROR: data/x/wav.scp:3: file not found" in capsys.readouterr().err


def test_key_mismatch_names_both_files_and_the_first_key_in_c_order():
    from voxrecipes.data.table import key_mismatch, missing_keys

    assert key_mismatch(["b", "a"], {"a", "b"}, "x", "y") is None and missing_keys("ab", "abc", "x", "y") is None
    assert missing_keys(["u3", "U9", "u1"], ["u1"], "x/utt2labels", "p.txt") == \
        "2 utterances of x/utt2labels are missing from p.txt (first: 'U9')"
    assert key_mismatch(["a", "b", "c"], ["b", "z", "d"], "l", "p") == \
        "2 utterances of l are missing from p (first: 'a'); 2 utterances of p are missing from l (first: 'd')"
