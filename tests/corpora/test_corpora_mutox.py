"""The MuTox reader: binary labels from `label` or `contains_toxicity`, languages to ISO 639-1, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voxrecipes.corpora.mutox import prepare
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.validate import validate_data_dir
from voxrecipes.errors import DataError

COLUMNS = ["id", "lang", "partition", "public_url_segment", "audio_file_transcript", "contains_toxicity",
           "toxicity_types", "label"]
ROWS = [
    ["101", "eng", "train", "https://x/a.mp3 0 2000", "you are great", "No", "", "0"],
    ["102", "eng", "train", "https://x/b.mp3 0 2000", "some flapdoodle words", "Yes", "Profanities", "1"],
    ["201", "spa", "dev", "https://x/c.mp3 0 2000", "hola a todos", "No", "", "0"],
    ["202", "spa", "devtest", "https://x/d.mp3 0 2000", "qué flapdudel", "Yes", "Profanities", "1"],
]
REPO = Path(__file__).resolve().parents[2]


def mutox_tsv(tmp_path: Path, make_wav, rows=ROWS, columns=COLUMNS, audio=True) -> tuple[Path, Path]:
    tsv = tmp_path / "mutox.tsv"
    tsv.write_text("\n".join("\t".join(r) for r in [columns, *rows]) + "\n", encoding="utf-8")
    audio_dir = tmp_path / "wav"
    audio_dir.mkdir(exist_ok=True)
    if audio:
        for row in rows:
            make_wav(audio_dir / f"{row[0]}.wav", 1.2)
    return tsv, audio_dir


def test_prepare_all_and_by_partition(tmp_path, make_wav):
    tsv, audio_dir = mutox_tsv(tmp_path, make_wav)
    counts = prepare(tsv, audio_dir, tmp_path / "all")
    assert counts["utterances"] == 4 and counts["toxic"] == 2
    validate_data_dir(tmp_path / "all", check_audio=True, require=["text", "utt2lang", "utt2labels"])
    dd = DataDir.load(tmp_path / "all")
    assert dd.utt2labels == {"en-101": ["No_Violation"], "en-102": ["Toxic"], "es-201": ["No_Violation"],
                             "es-202": ["Toxic"]}
    assert dd.utt2lang == {"en-101": "en", "en-102": "en", "es-201": "es", "es-202": "es"}
    assert dd.text["es-201"] == "hola a todos"
    assert all(spk == utt for utt, spk in dd.utt2spk.items())
    assert dd.wav_scp["en-102"] == str((audio_dir / "102.wav").resolve())
    prepare(tsv, audio_dir, tmp_path / "train", partition="train")
    assert list(DataDir.load(tmp_path / "train").utt2spk) == ["en-101", "en-102"]
    prepare(tsv, audio_dir, tmp_path / "es", languages=["es"])
    assert list(DataDir.load(tmp_path / "es").utt2spk) == ["es-201", "es-202"]


def test_contains_toxicity_without_label_column_and_pattern(tmp_path, make_wav):
    columns = COLUMNS[:-1]
    rows = [r[:-1] for r in ROWS]
    tsv, audio_dir = mutox_tsv(tmp_path, make_wav, rows, columns, audio=False)
    for r in rows:
        make_wav(audio_dir / f"{r[1]}_{r[0]}.wav", 1.0)
    prepare(tsv, audio_dir, tmp_path / "data", audio_pattern="{lang}_{id}.wav")
    dd = DataDir.load(tmp_path / "data")
    assert dd.utt2labels["en-102"] == ["Toxic"] and dd.utt2labels["en-101"] == ["No_Violation"]


def test_cannot_say_fails_unless_skipped(tmp_path, make_wav):
    rows = [r[:-1] for r in ROWS] + [["301", "fra", "train", "u", "bonjour", "Cannot say", ""]]
    tsv, audio_dir = mutox_tsv(tmp_path, make_wav, rows, COLUMNS[:-1])
    with pytest.raises(DataError, match=r"mutox.tsv:6: undefined toxicity label"):
        prepare(tsv, audio_dir, tmp_path / "data")
    counts = prepare(tsv, audio_dir, tmp_path / "data", skip_incomplete=True)
    assert counts["utterances"] == 4


@pytest.mark.parametrize("rows,columns,match", [
    ([r[:4] + r[5:] for r in ROWS], COLUMNS[:4] + COLUMNS[5:],
     r"mutox.tsv:1: missing column\(s\) audio_file_transcript"),
    ([r[:5] + r[6:7] for r in ROWS], COLUMNS[:5] + ["toxicity_types"], r"mutox.tsv:1: missing column: need one of"),
    (ROWS[:1] + [ROWS[1][:-1] + ["maybe"]], COLUMNS, r"mutox.tsv:3: unknown label value 'maybe'"),
    (ROWS[:1] + [ROWS[1][:1] + ["xxx"] + ROWS[1][2:]], COLUMNS, r"mutox.tsv:3: unknown language code 'xxx'"),
    ([ROWS[0][:4] + [""] + ROWS[0][5:]], COLUMNS, r"mutox.tsv:2: empty transcript"),
    (ROWS[:2] + ROWS[1:2], COLUMNS, r"mutox.tsv:4: duplicate id 102"),
])
def test_bad_tsv(tmp_path, make_wav, rows, columns, match):
    tsv, audio_dir = mutox_tsv(tmp_path, make_wav, rows, columns)
    with pytest.raises(DataError, match=match):
        prepare(tsv, audio_dir, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_missing_audio_via_cli(tmp_path, make_wav):
    tsv, audio_dir = mutox_tsv(tmp_path, make_wav)
    (audio_dir / "201.wav").unlink()
    proc = subprocess.run([sys.executable, "-m", "voxrecipes.bin.prepare_mutox", "--tsv", str(tsv), "--audio_dir",
                           str(audio_dir), "--out_dir", str(tmp_path / "data")], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 1
    assert "mutox.tsv:4: audio file" in proc.stderr and "201.wav" in proc.stderr
    assert not (tmp_path / "data").exists()
