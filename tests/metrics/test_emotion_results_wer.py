"""make_emotion_results: the ASR word-error-rate table from the ASR stage's wer.json files."""

from __future__ import annotations

import json

import pytest

from voxrecipes.bin.make_emotion_results import get_parser, main
from voxrecipes.cli import run
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.metrics.emotion_results import make_emotion_results
from voxrecipes.metrics.wer import word_error_rate, write_wer

ENV = {"date": "D", "git commit": "abc"}


def category(tmp_path) -> str:
    d = tmp_path / "exp" / "text" / "dev_bal"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"set": "dev_bal", "classes": ["A"], "macro_f1": 0.3,
                                                "macro_f1_ci": [0.2, 0.4], "per_class_f1": {"A": 0.3}}))
    return f"text=dev_bal={d / 'metrics.json'}"


def wer_file(tmp_path, set_name: str, refs: dict, hyps: dict) -> str:
    report = word_error_rate(refs, hyps, empty_placeholder="<empty>")
    report.update(set=set_name, model="package:whisper_base", backend="faster_whisper")
    path = tmp_path / "dump" / "text" / set_name / "wer.json"
    write_wer(path, report)
    return f"{set_name}={path}"


def test_wer_table_exact(tmp_path):
    # dev_bal: 1 substitution in 4 words; train: 2 deletions (an empty hypothesis) and 1 insertion in 5 words
    specs = [wer_file(tmp_path, "dev_bal", {"a": "Hello there, friend.", "b": "yes"}, {"a": "hello their friend",
                                                                                      "b": "Yes!"}),
             wer_file(tmp_path, "train", {"a": "one two three", "b": "four five"}, {"a": "one two three go",
                                                                                   "b": "<empty>"})]
    text = make_emotion_results("emo", tmp_path / "RESULTS.md", category=[category(tmp_path)], wers=specs, env=ENV)
    section = text[text.index("## ASR transcripts"):]
    assert section == (
        "## ASR transcripts: word error rate\n\n"
        "The text systems are trained and scored on these ASR transcripts; the WER compares them with the corpus "
        "transcripts (corpus-level: (S + D + I) / reference words; empty hypotheses are scored as empty).\n\n"
        "| set | WER (%) | substitutions | deletions | insertions | reference words | utterances | empty hypotheses "
        "| ASR model (backend) | file |\n|---|---|---|---|---|---|---|---|---|---|\n"
        "| dev_bal | 25.00 | 1 | 0 | 0 | 4 | 2 | 0 | package:whisper_base (faster_whisper) "
        "| `dump/text/dev_bal/wer.json` |\n"
        "| train | 60.00 | 0 | 2 | 1 | 5 | 2 | 1 | package:whisper_base (faster_whisper) "
        "| `dump/text/train/wer.json` |\n\n"
        "Text normalisation before scoring: NFKC, lowercase, apostrophes removed, other punctuation (Unicode P*) "
        "replaced by a space, whitespace collapsed.\n")
    # without --wer there is no such section
    assert "ASR transcripts" not in make_emotion_results("emo", tmp_path / "R2.md", category=[category(tmp_path / "x")],
                                                         env=ENV)


def test_wer_spec_errors(tmp_path, capsys):
    cat = category(tmp_path)
    spec = wer_file(tmp_path, "test1", {"a": "x y"}, {"a": "x"})
    with pytest.raises(ConfigError, match="a WER for set 'test1' was already given"):
        make_emotion_results("emo", tmp_path / "R.md", category=[cat], wers=[spec, spec], env=ENV)
    with pytest.raises(ConfigError, match="--wer must be SET=path/to/wer.json"):
        make_emotion_results("emo", tmp_path / "R.md", category=[cat], wers=["test1"], env=ENV)
    with pytest.raises(DataError, match="nothing/wer.json: file not found; run the ASR stage"):
        make_emotion_results("emo", tmp_path / "R.md", category=[cat], wers=[f"x={tmp_path}/nothing/wer.json"],
                             env=ENV)
    assert not (tmp_path / "R.md").exists()
    run(main, get_parser(), ["--title", "emo", "--category", cat, "--wer", spec, "--out", str(tmp_path / "R.md")])
    assert "| test1 | 50.00 | 0 | 1 | 0 | 2 | 1 | 0 |" in capsys.readouterr().out
