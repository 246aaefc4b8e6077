"""The MuTox preparer on TSVs in the release layout: labels from contains_toxicity, undecided and
transcript-less rows dropped with counts, missing audio listed, languages, BOM/CRLF, errors at file:line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voxrecipes.corpora.mutox import parse_url_segment, prepare
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.validate import validate_data_dir
from voxrecipes.errors import DataError

#: The release's columns in its order (seamless_communication mutox/README.md).
COLUMNS = ["id", "lang", "partition", "public_url_segment", "audio_file_transcript", "contains_toxicity",
           "toxicity_types", "perlocutionary_effects", "label", "etox_result", "detoxify_score",
           "mutox_speech_score", "mutox_text_score", "mutox_zero_shot_speech_score", "mutox_zero_shot_text_score"]
SCORES = ["", "0.01", "-3.2", "-2.9", "-3.0", "-2.8"]


def row(seg_id: str, lang: str, partition: str, transcript: str, contains: str, label: str,
        url: str = "https://x.test/a.mp3 0 2000") -> list[str]:
    return [seg_id, lang, partition, url, transcript, contains, "", "", label, *SCORES]


ROWS = [
    row("101", "eng", "train", "you are great", "No", "0"),
    row("102", "eng", "train", "some flapdoodle words", "Yes", "1"),
    row("201", "spa", "dev", "hola a todos", "No", "0"),
    row("202", "spa", "devtest", "qué flapdudel", "yes", "1"),          # lower case, as in the release
    row("301", "fra", "train", "bonjour", "Cannot say", "0"),           # undecided: label is 0 in the release
    row("302", "fra", "train", "salut", "Cannot Say", "0"),
    row("303", "deu", "train", "", "No", "0"),                          # no transcript
    row("401", "pes", "dev", "salam", "No", "0"),                       # Western Persian as the file writes it
]
REPO = Path(__file__).resolve().parents[2]


def write_tsv(path: Path, rows, columns=COLUMNS, *, bom: bool = False, newline: str = "\n") -> Path:
    text = newline.join("\t".join(r) for r in [columns, *rows]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def audio_for(audio_dir: Path, make_wav, rows, skip=()) -> None:
    for r in rows:
        if r[0] not in skip:
            make_wav(audio_dir / f"{r[0]}.wav", 1.2)


@pytest.fixture
def corpus(tmp_path, make_wav) -> tuple[Path, Path]:
    tsv = write_tsv(tmp_path / "mutox.tsv", ROWS)
    audio_dir = tmp_path / "wav"
    audio_dir.mkdir()
    audio_for(audio_dir, make_wav, ROWS, skip={"201"})
    return tsv, audio_dir


def test_prepare_drops_undecided_empty_and_missing_with_counts(corpus, tmp_path):
    tsv, audio_dir = corpus
    counts = prepare(tsv, audio_dir, tmp_path / "all")
    assert counts["utterances"] == 4 and counts["toxic"] == 2
    assert counts["dropped_undecided_label"] == 2
    assert counts["dropped_empty_transcript"] == 1
    assert counts["dropped_missing_audio"] == 1
    validate_data_dir(tmp_path / "all", check_audio=True, require=["text", "utt2lang", "utt2labels"])
    dd = DataDir.load(tmp_path / "all")
    assert dd.utt2labels == {"en-101": ["No_Violation"], "en-102": ["Toxic"], "es-202": ["Toxic"],
                             "fa-401": ["No_Violation"]}
    assert dd.utt2lang == {"en-101": "en", "en-102": "en", "es-202": "es", "fa-401": "fa"}
    assert dd.text["es-202"] == "qué flapdudel"
    assert all(spk == utt for utt, spk in dd.utt2spk.items())
    assert dd.wav_scp["en-102"] == str((audio_dir / "102.wav").resolve())
    missing = (tmp_path / "all" / "missing_audio.txt").read_text().splitlines()
    assert missing == [f"201\tspa\tdev\t{(audio_dir / '201.wav').resolve()}\t{tsv.resolve()}:4"]


def test_partition_language_and_pattern(tmp_path, make_wav):
    tsv = write_tsv(tmp_path / "mutox.tsv", ROWS)
    audio_dir = tmp_path / "wav"
    for r in ROWS:
        make_wav(audio_dir / r[2] / f"{r[1]}_{r[0]}.wav", 1.0)
    pattern = "{partition}/{lang}_{id}.wav"
    counts = prepare(tsv, audio_dir, tmp_path / "train", partition="train", audio_pattern=pattern)
    assert list(DataDir.load(tmp_path / "train").utt2spk) == ["en-101", "en-102"]
    assert counts["dropped_undecided_label"] == 2 and "dropped_missing_audio" not in counts
    assert (tmp_path / "train" / "missing_audio.txt").read_text() == ""
    prepare(tsv, audio_dir, tmp_path / "es", languages=["es"], audio_pattern=pattern)
    assert list(DataDir.load(tmp_path / "es").utt2spk) == ["es-201", "es-202"]


def test_bom_and_crlf(tmp_path, make_wav):
    tsv = write_tsv(tmp_path / "mutox.tsv", ROWS[:4], bom=True, newline="\r\n")
    audio_dir = tmp_path / "wav"
    audio_for(audio_dir, make_wav, ROWS[:4])
    prepare(tsv, audio_dir, tmp_path / "data")
    dd = DataDir.load(tmp_path / "data")
    assert list(dd.utt2spk) == ["en-101", "en-102", "es-201", "es-202"]
    assert dd.text["en-101"] == "you are great"  # no '\r' left on the last column or the id
    assert dd.utt2labels["es-202"] == ["Toxic"]


def test_unknown_language(tmp_path, make_wav):
    rows = ROWS[:2] + [row("501", "xyz", "train", "wat", "Yes", "1")]
    tsv = write_tsv(tmp_path / "mutox.tsv", rows)
    audio_dir = tmp_path / "wav"
    audio_for(audio_dir, make_wav, rows)
    with pytest.raises(DataError, match=r"mutox.tsv:4: unknown language code 'xyz'"):
        prepare(tsv, audio_dir, tmp_path / "data")
    assert not (tmp_path / "data").exists()
    counts = prepare(tsv, audio_dir, tmp_path / "data", unknown_language="drop")
    assert counts["utterances"] == 2 and counts["dropped_unknown_language"] == 1
    prepare(tsv, audio_dir, tmp_path / "kept", unknown_language="keep")
    assert DataDir.load(tmp_path / "kept").utt2lang["xyz-501"] == "xyz"


def test_label_column_alone(tmp_path, make_wav):
    keep = [i for i, c in enumerate(COLUMNS) if c != "contains_toxicity"]
    rows = [[r[i] for i in keep] for r in ROWS[:4]]
    tsv = write_tsv(tmp_path / "mutox.tsv", rows, [COLUMNS[i] for i in keep])
    audio_dir = tmp_path / "wav"
    audio_for(audio_dir, make_wav, rows)
    prepare(tsv, audio_dir, tmp_path / "data")
    assert DataDir.load(tmp_path / "data").utt2labels["es-202"] == ["Toxic"]


def test_sources_layout_units(tmp_path, make_wav):
    """Offsets: milliseconds for eng/spa, 16 kHz samples for the other languages."""
    rows = [row("1", "eng", "train", "hello there", "No", "0", "https://h.test/pod/ep%201.wav 500 1500"),
            row("2", "fra", "train", "bonjour toi", "Yes", "1", "https://h.test/fr/show.wav?x=1 8000 24000")]
    tsv = write_tsv(tmp_path / "mutox.tsv", rows)
    audio_dir = tmp_path / "src"
    make_wav(audio_dir / "ep 1.wav", 2.0)  # the URL's file name, unquoted
    make_wav(audio_dir / "show.wav", 2.0)
    prepare(tsv, audio_dir, tmp_path / "data", audio_layout="sources")
    dd = DataDir.load(tmp_path / "data")
    assert {u: seg[1:] for u, seg in dd.segments.items()} == {"en-1": (0.5, 1.5), "fr-2": (0.5, 1.5)}
    assert parse_url_segment("u/a.wav 8000 24000", "fra", tsv, 2, "ms")[1:] == (8.0, 24.0)
    with pytest.raises(DataError, match=r"mutox.tsv:7: public_url_segment 'u/a.wav 5' is not"):
        parse_url_segment("u/a.wav 5", "eng", tsv, 7)


@pytest.mark.parametrize("rows,columns,match", [
    ([r[:4] + r[5:] for r in ROWS], COLUMNS[:4] + COLUMNS[5:],
     r"mutox.tsv:1: missing column\(s\) audio_file_transcript"),
    ([r[:5] + r[6:8] for r in ROWS], COLUMNS[:5] + COLUMNS[6:8], r"mutox.tsv:1: missing column: need one of"),
    (ROWS[:1] + [ROWS[1][:5] + ["maybe"] + ROWS[1][6:]], COLUMNS,
     r"mutox.tsv:3: unknown contains_toxicity value 'maybe'"),
    (ROWS[:1] + [ROWS[1][:2] + ["test"] + ROWS[1][3:]], COLUMNS, r"mutox.tsv:3: unknown partition 'test'"),
    (ROWS[:2] + ROWS[1:2], COLUMNS, r"mutox.tsv:4: duplicate id 102"),
    (ROWS[:1] + [ROWS[1][:3]], COLUMNS, r"mutox.tsv:3: 3 tab-separated fields, header has 15"),
])
def test_bad_tsv(tmp_path, make_wav, rows, columns, match):
    tsv = write_tsv(tmp_path / "mutox.tsv", rows, columns)
    audio_dir = tmp_path / "wav"
    audio_for(audio_dir, make_wav, rows)
    with pytest.raises(DataError, match=match):
        prepare(tsv, audio_dir, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_cli_error_and_nothing_written(tmp_path, make_wav):
    rows = ROWS[:1] + [ROWS[1][:5] + ["Perhaps"] + ROWS[1][6:]]
    tsv = write_tsv(tmp_path / "mutox.tsv", rows)
    audio_dir = tmp_path / "wav"
    audio_for(audio_dir, make_wav, rows)
    proc = subprocess.run([sys.executable, "-m", "voxrecipes.bin.prepare_mutox", "--tsv", str(tsv), "--audio_dir",
                           str(audio_dir), "--out_dir", str(tmp_path / "data")], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 1
    assert "mutox.tsv:3: unknown contains_toxicity value 'Perhaps'" in proc.stderr
    assert not (tmp_path / "data").exists()
