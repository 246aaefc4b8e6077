"""Word error rate of the ASR stage: normalisation, counts against hand-counted alignments, bad input."""

from __future__ import annotations

import json

import pytest

from voxrecipes.errors import DataError
from voxrecipes.metrics.wer import NORMALIZATION, WER_KEYS, load_wer, normalize_text, word_error_rate, write_wer


def test_normalize_text():
    assert normalize_text("  Hello,   World! ") == "hello world"
    assert normalize_text("Don't stop; it's WELL-known.") == "dont stop its well known"
    assert normalize_text("l\u2019\u00e9t\u00e9 \u00ab\u00a0chaud\u00a0\u00bb") == "l\u00e9t\u00e9 chaud"  # ’ « »
    assert normalize_text("\uff21\uff22\uff23 ...") == "abc"  # NFKC: full-width letters
    assert normalize_text("42 $5") == "42 $5"  # numbers and symbols stay
    assert normalize_text("?!") == ""


def test_counts_against_hand_counted_alignments():
    references = {
        "u1": "The cat sat on the mat.",   # the -> a: 1 substitution, 5 hits
        "u2": "Don't stop, well-known!",   # dont stop well known (+ now): 1 insertion, 4 hits
        "u3": "Hello there",               # placeholder = empty hypothesis: 2 deletions
        "u4": "Yes.",                      # 1 hit
        "u5": "...",                       # no reference word: "uh huh" is 2 insertions
    }
    hypotheses = {"u1": "the cat sat on a mat", "u2": "dont stop well known now", "u3": "<empty>", "u4": "yes",
                  "u5": "Uh, huh."}
    report = word_error_rate(references, hypotheses, empty_placeholder="<empty>")
    assert report == {"wer": pytest.approx(6 / 13), "substitutions": 1, "deletions": 2, "insertions": 3,
                      "hits": 10, "ref_words": 13, "utts": 5, "empty_hypotheses": 1, "normalization": NORMALIZATION}
    # without the placeholder option "<empty>" is an ordinary word: a substitution and a deletion
    plain = word_error_rate(references, hypotheses)
    assert (plain["substitutions"], plain["deletions"], plain["empty_hypotheses"]) == (2, 1, 0)


def test_perfect_and_all_wrong():
    assert word_error_rate({"a": "one two"}, {"a": "One, two."})["wer"] == 0.0
    report = word_error_rate({"a": "one two"}, {"a": "three four five"})
    assert (report["substitutions"], report["insertions"], report["wer"]) == (2, 1, 1.5)


def test_disagreeing_keys_and_wordless_references(tmp_path):
    with pytest.raises(DataError, match=r"hyp/text: hypotheses and references disagree: no hypothesis for 1 "
                                        r"reference utterances \(e.g. b\)"):
        word_error_rate({"a": "x", "b": "y"}, {"a": "x"}, hyp_path="hyp/text")
    with pytest.raises(DataError, match=r"2 hypotheses have no reference \(e.g. b\)"):
        word_error_rate({"a": "x"}, {"a": "x", "b": "y", "c": "z"})
    with pytest.raises(DataError, match="data/x/text: the references have no words after normalization"):
        word_error_rate({"a": "...", "b": "!"}, {"a": "x", "b": ""}, ref_path="data/x/text")


def test_write_and_load(tmp_path):
    report = word_error_rate({"a": "one two"}, {"a": "one"})
    write_wer(tmp_path / "wer.json", report)
    assert json.loads((tmp_path / "wer.json").read_text()) == report
    assert load_wer(tmp_path / "wer.json") == report
    assert [p.name for p in tmp_path.iterdir()] == ["wer.json"]
    broken = dict(report, deletions="one")
    (tmp_path / "bad.json").write_text(json.dumps(broken))
    with pytest.raises(DataError, match="bad.json: 'deletions' must be a number"):
        load_wer(tmp_path / "bad.json")
    (tmp_path / "missing.json").write_text(json.dumps({k: report[k] for k in WER_KEYS[:3]}))
    with pytest.raises(DataError, match="missing keys insertions, hits"):
        load_wer(tmp_path / "missing.json")
    with pytest.raises(DataError, match="file not found; run the ASR stage"):
        load_wer(tmp_path / "nothing.json")
