"""Tests of the Odyssey 2024 submission writer (metrics/submission.py, bin/write_submission.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from voxrecipes.data.posteriors import Posteriors, write_posteriors
from voxrecipes.data.table import write_table
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.metrics.submission import write_submission

# Utterance order (speaker-first ids) differs from FileName order on purpose.
UTTS = {
    "1001-MSP-PODCAST_0003_0001": "MSP-PODCAST_0003_0001.wav",
    "1002-MSP-PODCAST_0001_0003": "MSP-PODCAST_0001_0003.wav",
    "1003-MSP-PODCAST_0002_0007": "MSP-PODCAST_0002_0007.wav",
}


def make_data_dir(tmp_path, with_segments=False):
    data = tmp_path / "data" / "test3"
    utt2spk = {u: u.split("-", 1)[0] for u in UTTS}
    if with_segments:
        recs = {u: f"rec{i}" for i, u in enumerate(UTTS)}
        write_table(data / "segments", {u: f"{recs[u]} 0 2.5" for u in UTTS})
        write_table(data / "wav.scp", {recs[u]: f"sox /corpus/Audios/{n} -t wav - |" for u, n in UTTS.items()})
    else:
        write_table(data / "wav.scp", {u: f"/corpus/Audios/{n}" for u, n in UTTS.items()})
    write_table(data / "utt2spk", utt2spk)
    write_table(data / "spk2utt", {s: u for u, s in utt2spk.items()})
    return data


def write_category_posteriors(path, drop=None):
    classes = ["A", "S", "H", "U", "F", "D", "C", "N", "O", "X"]
    rows = {
        "1001-MSP-PODCAST_0003_0001": [0.1, 0.0, 0.5, 0, 0, 0, 0, 0.2, 0.1, 0.1],  # H
        "1002-MSP-PODCAST_0001_0003": [0.05, 0.1, 0, 0, 0, 0, 0, 0.15, 0.7, 0],   # O largest -> N
        "1003-MSP-PODCAST_0002_0007": [0.1, 0.3, 0, 0, 0, 0, 0, 0, 0, 0.6],       # X largest -> S
    }
    if drop:
        rows.pop(drop)
    write_posteriors(path, Posteriors(list(rows), classes, np.array(list(rows.values()))))


def test_category_csv_bytes(tmp_path):
    data = make_data_dir(tmp_path)
    write_category_posteriors(tmp_path / "post.txt")
    n = write_submission(tmp_path / "post.txt", data, tmp_path / "sub.csv")
    assert n == 3
    assert (tmp_path / "sub.csv").read_bytes() == (
        b"FileName,EmoClass\n"
        b"MSP-PODCAST_0001_0003.wav,N\n"
        b"MSP-PODCAST_0002_0007.wav,S\n"
        b"MSP-PODCAST_0003_0001.wav,H\n")


def test_attributes_csv_bytes_through_segments(tmp_path):
    data = make_data_dir(tmp_path, with_segments=True)
    # Posteriors-format columns: valence arousal dominance; the CSV wants Act, Val, Dom.
    utts = list(UTTS)
    matrix = np.array([[2.5, 6.25, 4.0], [3.0, 1.5, 5.75], [7.0, 2.0, 1.0]])
    write_posteriors(tmp_path / "attrs.txt", Posteriors(utts, ["valence", "arousal", "dominance"], matrix))
    write_submission(tmp_path / "attrs.txt", data, tmp_path / "sub.csv", task="attributes")
    assert (tmp_path / "sub.csv").read_bytes() == (
        b"FileName,EmoAct,EmoVal,EmoDom\n"
        b"MSP-PODCAST_0001_0003.wav,1.5,3,5.75\n"
        b"MSP-PODCAST_0002_0007.wav,2,7,1\n"
        b"MSP-PODCAST_0003_0001.wav,6.25,2.5,4\n")


def test_missing_utterance_names_both_files(tmp_path):
    data = make_data_dir(tmp_path)
    write_category_posteriors(tmp_path / "post.txt", drop="1003-MSP-PODCAST_0002_0007")
    with pytest.raises(DataError) as err:
        write_submission(tmp_path / "post.txt", data, tmp_path / "sub.csv")
    message = str(err.value)
    assert str(tmp_path / "post.txt") in message and str(data / "utt2spk") in message
    assert "1003-MSP-PODCAST_0002_0007" in message
    assert not (tmp_path / "sub.csv").exists()


def test_attributes_need_named_columns(tmp_path):
    data = make_data_dir(tmp_path)
    write_category_posteriors(tmp_path / "post.txt")
    with pytest.raises(DataError, match=r"post.txt:1: header has no column for arousal valence dominance"):
        write_submission(tmp_path / "post.txt", data, tmp_path / "sub.csv", task="attributes")


def test_o_and_x_are_not_submittable_classes(tmp_path):
    data = make_data_dir(tmp_path)
    write_category_posteriors(tmp_path / "post.txt")
    with pytest.raises(ConfigError, match="O X are not challenge classes"):
        write_submission(tmp_path / "post.txt", data, tmp_path / "sub.csv", classes=["A", "O", "X"])


def test_cli_writes_csv_and_exits_1_on_error(tmp_path):
    data = make_data_dir(tmp_path)
    write_category_posteriors(tmp_path / "post.txt")
    cmd = [sys.executable, "-m", "voxrecipes.bin.write_submission", "--posteriors", str(tmp_path / "post.txt"),
           "--data", str(data), "--out", str(tmp_path / "sub.csv"), "--classes", "A", "S"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sub.csv").read_text().splitlines()[1:] == [
        "MSP-PODCAST_0001_0003.wav,S", "MSP-PODCAST_0002_0007.wav,S", "MSP-PODCAST_0003_0001.wav,A"]
    write_category_posteriors(tmp_path / "post.txt", drop="1001-MSP-PODCAST_0003_0001")
    proc = subprocess.run(cmd[:-5] + ["--out", str(tmp_path / "bad.csv")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "ERROR:" in proc.stderr and "have no row here" in proc.stderr
    assert not (tmp_path / "bad.csv").exists()
