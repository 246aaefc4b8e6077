"""The DeToxy preparer on CSVs in the release layout (quoted text, empty Starting/Ending), drops and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxrecipes.corpora.detoxy import prepare
from voxrecipes.data.datadir import DataDir
from voxrecipes.errors import DataError

HEADER = "Dataset,FileName,text,label2a,Starting,Ending"
ROWS = [
    'CMU-MOSEI,240915_1," This is supposed to be a romantic comedy, but I find it stupid",1,5.778,12.685',
    "Common Voice,common_voice_en_41565,Don't be an idiot!,1,,",
    'Common Voice,common_voice_en_108642,"""Well, why did you say that?"" the sun asked.",0,,',
    "LJ Speech,LJ001-0001,Printing in the only sense,0,,",
    "MELD,train_dia0_utt0,,0,,",                                   # empty text: dropped
]


def write(tmp_path: Path, make_wav, rows=ROWS, skip=(), crlf=False) -> tuple[Path, Path]:
    nl = "\r\n" if crlf else "\n"
    csv_path = tmp_path / "test.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + (nl.join([HEADER, *rows]) + nl).encode("utf-8"))
    audio = tmp_path / "Final_Audio"
    audio.mkdir(exist_ok=True)
    for r in rows:
        name = r.split(",")[1]
        if name not in skip:
            make_wav(audio / f"{name}.wav", 1.0)
    return csv_path, audio


def test_prepare(tmp_path, make_wav):
    csv_path, audio = write(tmp_path, make_wav, skip={"LJ001-0001"}, crlf=True)
    counts = prepare(csv_path, audio, tmp_path / "data")
    assert counts["utterances"] == 3 and counts["toxic"] == 2
    assert counts["dropped_empty_text"] == 1 and counts["dropped_missing_audio"] == 1
    dd = DataDir.load(tmp_path / "data")
    assert dd.utt2labels == {"CMU-MOSEI-240915_1": ["Toxic"], "Common_Voice-common_voice_en_108642": ["No_Violation"],
                             "Common_Voice-common_voice_en_41565": ["Toxic"]}
    assert dd.text["Common_Voice-common_voice_en_108642"] == '"Well, why did you say that?" the sun asked.'
    assert set(dd.utt2lang.values()) == {"en"}
    missing = (tmp_path / "data" / "missing_audio.txt").read_text().splitlines()
    assert missing == [f"LJ Speech\tLJ001-0001\t{(audio / 'LJ001-0001.wav').resolve()}\t{csv_path.resolve()}:5"]


@pytest.mark.parametrize("rows,match", [
    (ROWS[:1] + ["Common Voice,common_voice_en_41565,Don't be an idiot!,2,,"],
     r"test.csv:3: unknown label2a value '2'"),
    (ROWS[:2] + ROWS[1:2], r"test.csv:4: duplicate utterance Common Voice/common_voice_en_41565"),
    (ROWS[:1] + ["LJ Speech,LJ001-0001,Printing"], r"test.csv:3: 3 comma-separated fields, header has 6"),
])
def test_bad_csv(tmp_path, make_wav, rows, match):
    csv_path, audio = write(tmp_path, make_wav, rows)
    with pytest.raises(DataError, match=match):
        prepare(csv_path, audio, tmp_path / "data")
    assert not (tmp_path / "data").exists()
