"""The MSP-Podcast preparer: data dirs from the release layout, and file:line errors for bad input."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voxrecipes.corpora.msp_podcast import prepare, speaker_id
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.validate import validate_data_dir
from voxrecipes.errors import DataError

HEADER = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"]
REPO = Path(__file__).resolve().parents[2]


def fake_corpus(root: Path, make_wav, rows: list[list[str]], header=HEADER, audio: bool = True) -> Path:
    """A release-layout corpus with noise audio for every FileName (unless ``audio`` is False)."""
    (root / "Labels").mkdir(parents=True)
    (root / "Audios").mkdir()
    with open(root / "Labels" / "labels_consensus.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    if audio:
        for row in rows:
            make_wav(root / "Audios" / row[0])
    return root


GOOD = [
    ["MSP-PODCAST_0001_0001.wav", "H", "5.0", "6.0", "4.5", "12", "Female", "Train"],
    ["MSP-PODCAST_0001_0002.wav", "O", "4.0", "4.0", "4.0", "12", "Female", "Train"],
    ["MSP-PODCAST_0002_0001.wav", "A", "6.2", "2.0", "5.5", "7", "Male", "Development"],
    ["MSP-PODCAST_0003_0001.wav", "N", "3.0", "4.2", "4.0", "Unknown", "Male", "Test1"],
    ["MSP-PODCAST_0003_0002.wav", "S", "2.0", "2.5", "3.0", "Unknown", "Male", "Test1"],
    ["MSP-PODCAST_0004_0001.wav", "", "", "", "", "Unknown", "Male", "Test3"],
]


def test_prepare_fake_release(tmp_path, make_wav):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    counts = prepare(corpus, tmp_path / "data", drop_classes=["O", "X"])
    assert counts == {"train": 1, "development": 1, "test1": 2, "test3": 1}
    assert not (tmp_path / "data" / "test2").exists()
    train = DataDir.load(tmp_path / "data" / "train")
    assert list(train.utt2spk) == ["msp0012-MSP-PODCAST_0001_0001"]
    # valence arousal dominance = EmoVal EmoAct EmoDom
    assert train.utt2attrs["msp0012-MSP-PODCAST_0001_0001"] == (6.0, 5.0, 4.5)
    assert (tmp_path / "data" / "train" / "utt2attrs").read_text() == "msp0012-MSP-PODCAST_0001_0001 6 5 4.5\n"
    assert train.utt2category == {"msp0012-MSP-PODCAST_0001_0001": "H"}
    assert train.wav_scp["msp0012-MSP-PODCAST_0001_0001"] == str((corpus / "Audios" /
                                                                  "MSP-PODCAST_0001_0001.wav").resolve())
    assert os.path.isabs(train.wav_scp["msp0012-MSP-PODCAST_0001_0001"])
    test1 = DataDir.load(tmp_path / "data" / "test1")
    assert test1.utt2spk == {"unk-MSP-PODCAST_0003_0001": "unk-MSP-PODCAST_0003_0001",
                             "unk-MSP-PODCAST_0003_0002": "unk-MSP-PODCAST_0003_0002"}
    names = sorted(os.listdir(tmp_path / "data" / "test3"))
    assert names == ["spk2utt", "utt2dur", "utt2spk", "wav.scp"]  # no text (no transcripts), nothing label-like


def test_drop_classes_only_from_train(tmp_path, make_wav):
    rows = GOOD + [["MSP-PODCAST_0002_0002.wav", "X", "4.0", "4.0", "4.0", "7", "Male", "Development"]]
    corpus = fake_corpus(tmp_path / "corpus", make_wav, rows)
    prepare(corpus, tmp_path / "data", drop_classes=["O", "X"], splits=["train", "development"])
    assert set(DataDir.load(tmp_path / "data" / "train").utt2category.values()) == {"H"}
    assert set(DataDir.load(tmp_path / "data" / "development").utt2category.values()) == {"A", "X"}


def test_speaker_ids():
    assert speaker_id("127", "MSP-PODCAST_0001_0001") == "msp0127"
    assert speaker_id("Unknown", "MSP-PODCAST_0001_0001") == "unk-MSP-PODCAST_0001_0001"


@pytest.mark.parametrize("rows,header,match", [
    (GOOD, [h for h in HEADER if h != "EmoDom"], r"labels_consensus.csv:1: missing column\(s\) EmoDom"),
    (GOOD[:2] + [GOOD[2][:7] + ["Dev"]], HEADER, r"labels_consensus.csv:4: unknown Split_Set 'Dev'"),
    (GOOD[:1] + [GOOD[1][:1] + ["Q"] + GOOD[1][2:]], HEADER, r"labels_consensus.csv:3: unknown EmoClass 'Q'"),
    ([GOOD[0][:2] + ["abc"] + GOOD[0][3:]], HEADER, r"labels_consensus.csv:2: EmoAct 'abc' is not a number"),
    ([GOOD[0][:3] + ["7.5"] + GOOD[0][4:]], HEADER, r"labels_consensus.csv:2: EmoVal 7.5 outside \[1, 7\]"),
    ([GOOD[0][:1] + [""] + GOOD[0][2:]], HEADER, r"labels_consensus.csv:2: empty EmoClass in a labelled split"),
    (GOOD[:2] + GOOD[:1], HEADER, r"labels_consensus.csv:4: duplicate FileName"),
])
def test_bad_csv(tmp_path, make_wav, rows, header, match):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, rows, header=header)
    with pytest.raises(DataError, match=match):
        prepare(corpus, tmp_path / "data")
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_missing_audio(tmp_path, make_wav):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    os.unlink(corpus / "Audios" / GOOD[2][0])
    with pytest.raises(DataError, match=r"labels_consensus.csv:4: audio file .*MSP-PODCAST_0002_0001.wav"):
        prepare(corpus, tmp_path / "data")


def test_cli_exit_status_on_missing_column(tmp_path, make_wav):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD, header=[h for h in HEADER if h != "Split_Set"])
    proc = subprocess.run([sys.executable, "-m", "voxrecipes.bin.prepare_msp_podcast", "--corpus_dir", str(corpus),
                           "--out_dir", str(tmp_path / "data")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    assert "ERROR:" in proc.stderr and "missing column(s) Split_Set" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()


def test_generated_corpus_round_trip(tiny_podcast, tmp_path):
    counts = prepare(tiny_podcast, tmp_path / "data")
    assert set(counts) == {"train", "development", "test1", "test2", "test3"}
    assert sum(counts.values()) == 30
    rows = list(csv.DictReader(open(tiny_podcast / "Labels" / "labels_consensus.csv", newline="")))
    by_stem = {r["FileName"][:-4]: r for r in rows}
    for name in counts:
        validate_data_dir(tmp_path / "data" / name, check_audio=True, require=["text", "utt2dur"])
        dd = DataDir.load(tmp_path / "data" / name)
        for utt in dd.utt2spk:
            stem = utt[utt.index("MSP-PODCAST"):]
            assert utt.startswith(dd.utt2spk[utt])
            transcript = (tiny_podcast / "Transcripts" / f"{stem}.txt").read_text().strip()
            assert dd.text[utt] == transcript
            row = by_stem[stem]
            if name == "test3":
                assert dd.utt2category is None and dd.utt2attrs is None
            else:
                assert dd.utt2category[utt] == row["EmoClass"]
                assert dd.utt2attrs[utt] == (float(row["EmoVal"]), float(row["EmoAct"]), float(row["EmoDom"]))
    test2 = DataDir.load(tmp_path / "data" / "test2")
    assert all(spk == utt for utt, spk in test2.utt2spk.items())  # Unknown: one speaker per utterance


def test_prepare_cli_on_generated_corpus(tiny_podcast, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "voxrecipes.bin.prepare_msp_podcast", "--corpus_dir",
                           str(tiny_podcast), "--out_dir", str(tmp_path / "data"), "--splits", "train", "test3",
                           "--drop_classes", "O", "X"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path / "data")) == ["test3", "train"]
    cats = set(DataDir.load(tmp_path / "data" / "train").utt2category.values())
    assert not cats & {"O", "X"}
    shutil.rmtree(tmp_path / "data")
