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


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write_float_wav(path: Path, bad_value: float) -> None:
    import numpy as np
    import soundfile

    data = np.full(8000, 0.1, dtype=np.float32)
    data[4000] = bad_value
    soundfile.write(str(path), data, 16000, subtype="FLOAT")


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_audio_is_rejected(tmp_path, make_wav, bad_value):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    _write_float_wav(corpus / "Audios" / GOOD[2][0], bad_value)
    with pytest.raises(DataError, match=r"labels_consensus.csv:4: non-finite sample \(NaN or inf\) at sample 4000 "
                                        r".*MSP-PODCAST_0002_0001.wav"):
        prepare(corpus, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def _add_transcripts(corpus: Path, texts: dict[str, bytes]) -> None:
    (corpus / "Transcripts").mkdir(exist_ok=True)
    for row in GOOD:
        stem = row[0][:-4]
        (corpus / "Transcripts" / f"{stem}.txt").write_bytes(texts.get(stem, f"words of {stem}\n".encode()))


def test_latin1_transcript_fails_unless_its_encoding_is_given(tmp_path, make_wav):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    _add_transcripts(corpus, {"MSP-PODCAST_0002_0001": "le caf\u00e9 est pr\u00eat\n".encode("latin-1")})
    bad = corpus / "Transcripts" / "MSP-PODCAST_0002_0001.txt"
    with pytest.raises(DataError) as err:
        prepare(corpus, tmp_path / "data")
    msg = str(err.value)
    assert msg.startswith(f"{bad}:1: not valid UTF-8") and "0xe9" in msg and "--transcript_encoding" in msg, msg
    assert not (tmp_path / "data").exists()
    prepare(corpus, tmp_path / "data", transcript_encoding="latin-1")
    dev = DataDir.load(tmp_path / "data" / "development")
    assert dev.text == {"msp0007-MSP-PODCAST_0002_0001": "le caf\u00e9 est pr\u00eat"}
    assert "\ufffd" not in (tmp_path / "data" / "development" / "text").read_text(encoding="utf-8")


def test_unknown_transcript_encoding_is_a_config_error(tmp_path, make_wav):
    from voxrecipes.errors import ConfigError

    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    with pytest.raises(ConfigError, match="no-such-codec"):
        prepare(corpus, tmp_path / "data", transcript_encoding="no-such-codec")


def test_empty_transcript_gets_the_placeholder_and_a_missing_one_is_an_error(tmp_path, make_wav, caplog):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    _add_transcripts(corpus, {"MSP-PODCAST_0003_0002": b"  \n"})
    prepare(corpus, tmp_path / "data")
    test1 = DataDir.load(tmp_path / "data" / "test1")
    assert test1.text == {"unk-MSP-PODCAST_0003_0001": "words of MSP-PODCAST_0003_0001",
                          "unk-MSP-PODCAST_0003_0002": "<empty>"}
    assert any("MSP-PODCAST_0003_0002.txt" in r.getMessage() and "<empty>" in r.getMessage() for r in caplog.records)
    with pytest.raises(DataError, match="empty transcript"):
        prepare(corpus, tmp_path / "data2", empty_transcript="")
    assert not (tmp_path / "data2").exists()
    os.unlink(corpus / "Transcripts" / "MSP-PODCAST_0003_0001.txt")
    with pytest.raises(DataError) as err:
        prepare(corpus, tmp_path / "data3")
    assert str(err.value).startswith(f"{corpus / 'Transcripts' / 'MSP-PODCAST_0003_0001.txt'}: "), str(err.value)
    assert "1 of 2 segments of Test1" in str(err.value)
    assert not (tmp_path / "data3").exists()


def test_non_utf8_csv_names_the_line(tmp_path, make_wav):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    csv_path = corpus / "Labels" / "labels_consensus.csv"
    lines = csv_path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"Male", b"M\xe4le")
    csv_path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError, match=r"labels_consensus.csv:4: not valid UTF-8"):
        prepare(corpus, tmp_path / "data")


def test_failed_run_leaves_the_previous_output_and_stale_splits_go(tmp_path, make_wav):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    out = tmp_path / "data"
    (out / "dev_bal").mkdir(parents=True)  # something else in the parent dir stays untouched
    (out / "dev_bal" / "keep").write_text("x\n")
    prepare(corpus, out)
    before = _snapshot(out)
    # A new CSV version: Test1 rows moved to Test2, and the last split (Test3) has bad audio.
    rows = [r[:7] + ["Test2" if r[7] == "Test1" else r[7]] for r in GOOD]
    new = fake_corpus(tmp_path / "corpus2", make_wav, rows)
    _write_float_wav(new / "Audios" / GOOD[5][0], float("nan"))
    with pytest.raises(DataError, match="non-finite"):
        prepare(new, out)
    assert _snapshot(out) == before  # nothing of the failed run, not even the splits before Test3
    assert sorted(os.listdir(out)) == ["dev_bal", "development", "test1", "test3", "train"]
    make_wav(new / "Audios" / GOOD[5][0])
    counts = prepare(new, out)
    assert counts == {"train": 2, "development": 1, "test2": 2, "test3": 1}
    assert sorted(os.listdir(out)) == ["dev_bal", "development", "test2", "test3", "train"]  # test1 is gone
    assert (out / "dev_bal" / "keep").read_text() == "x\n"
    assert str(new) in (out / "train" / "wav.scp").read_text()


def test_output_is_readable_under_the_umask(tmp_path, make_wav):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    old = os.umask(0o022)
    try:
        prepare(corpus, tmp_path / "data", splits=["train"])
    finally:
        os.umask(old)
    assert (tmp_path / "data" / "train" / "wav.scp").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "data" / "train").stat().st_mode & 0o777 == 0o755


KILL_DURING_TEST1 = """
import os, signal, sys
import voxrecipes.data.datadir as datadir
from voxrecipes.corpora.msp_podcast import prepare
real = datadir.write_data_dir
def write_then_die(path, **kwargs):
    if os.path.basename(path) == "test1":
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs, as with kill -9 between splits
    real(path, **kwargs)
datadir.write_data_dir = write_then_die
prepare(sys.argv[1], sys.argv[2])
"""


def test_kill_between_splits_leaves_the_previous_output(tmp_path, make_wav):
    corpus = fake_corpus(tmp_path / "corpus", make_wav, GOOD)
    out = tmp_path / "data"
    prepare(corpus, out)
    before = _snapshot(out)
    rows = [r[:3] + ["1.5"] + r[4:] if r[7] == "Train" else r for r in GOOD]  # a new CSV version: other EmoVal
    new = fake_corpus(tmp_path / "corpus2", make_wav, rows)
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_TEST1, str(new), str(out)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    # train of the new CSV was built (in the stage) but not swapped in: the visible output is the old one
    assert {k: v for k, v in _snapshot(out).items() if not k.startswith(".")} == before
    prepare(new, out)
    assert sorted(os.listdir(out)) == ["development", "test1", "test3", "train"]  # the stage of the killed run is gone
    assert (out / "train" / "utt2attrs").read_text().startswith("msp0012-MSP-PODCAST_0001_0001 1.5 5 4.5\n")
