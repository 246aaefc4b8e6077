"""The toxicity manifest preparer: TSV/JSONL round trip with segments, and file:line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from voxrecipes.corpora.toxicity_manifest import prepare
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.validate import validate_data_dir
from voxrecipes.errors import DataError

COLUMNS = ["utt_id", "audio", "start", "end", "language", "transcript", "labels"]


def write_manifest(path: Path, rows: list[list[str]], columns=COLUMNS) -> Path:
    path.write_text("\n".join("\t".join(r) for r in [columns, *rows]) + "\n", encoding="utf-8")
    return path


def _read_rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


@pytest.mark.parametrize("split", ["train", "dev"])
def test_round_trip_generated(tiny_toxicity, tmp_path, split):
    manifest = tiny_toxicity / f"manifest_{split}.tsv"
    counts = prepare(manifest, tmp_path / split)
    rows = _read_rows(manifest)
    uses_segments = any(r["start"] for r in rows)
    assert uses_segments == (split == "train")  # the tiny corpus has session recordings in train only
    validate_data_dir(tmp_path / split, check_audio=True,
                      require=["text", "utt2lang", "utt2labels"] + (["segments"] if uses_segments else []),
                      classes=["Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation"])
    dd = DataDir.load(tmp_path / split)
    assert counts["utterances"] == len(rows) == len(dd.utt2spk)
    for r in rows:
        utt = f"{r['speaker']}-{r['utt_id']}"
        assert dd.utt2spk[utt] == r["speaker"]
        assert dd.text[utt] == r["transcript"]
        assert dd.utt2lang[utt] == r["language"]
        assert dd.utt2labels[utt] == r["labels"].split(";")
        if not uses_segments:
            assert dd.wav_scp[utt] == str((tiny_toxicity / r["audio"]).resolve())
            continue
        rec, start, end = dd.segments[utt]
        assert dd.wav_scp[rec] == str((tiny_toxicity / r["audio"]).resolve())
        if r["start"]:
            assert (start, end) == pytest.approx((float(r["start"]), float(r["end"])), abs=1e-3)
        else:
            assert start == 0.0 and end == pytest.approx(dd.utt2dur[utt], abs=1e-3)


def test_jsonl_gives_the_same_data_dir(tiny_toxicity, tmp_path):
    manifest = tiny_toxicity / "manifest_train.tsv"
    jsonl = tiny_toxicity / "manifest_train.copy.jsonl"
    with open(jsonl, "w", encoding="utf-8") as handle:
        for r in _read_rows(manifest):
            obj = dict(r, labels=r["labels"].split(";"), start=float(r["start"]) if r["start"] else None,
                       end=float(r["end"]) if r["end"] else None)
            handle.write(json.dumps(obj, ensure_ascii=False) + "\n")
    try:
        prepare(manifest, tmp_path / "tsv")
        prepare(jsonl, tmp_path / "jsonl")
    finally:
        os.unlink(jsonl)
    for name in sorted(os.listdir(tmp_path / "tsv")):
        assert (tmp_path / "tsv" / name).read_text() == (tmp_path / "jsonl" / name).read_text(), name


def test_whole_files_without_segments_and_one_speaker_per_utt(tmp_path, make_wav):
    make_wav(tmp_path / "a.wav", 1.5)
    make_wav(tmp_path / "b.wav", 2.0)
    manifest = write_manifest(tmp_path / "m.tsv", [["u2", "b.wav", "", "", "es", "hola amigo", "Profanity;Racist"],
                                                   ["u1", str(tmp_path / "a.wav"), "", "", "en", "hi", "No_Violation"]])
    prepare(manifest, tmp_path / "data")
    assert not (tmp_path / "data" / "segments").exists()
    dd = DataDir.load(tmp_path / "data")
    assert dd.utt2spk == {"u1": "u1", "u2": "u2"}
    assert dd.utt2labels["u2"] == ["Profanity", "Racist"]
    assert (tmp_path / "data" / "utt2labels").read_text() == "u1 No_Violation\nu2 Profanity Racist\n"
    assert dd.utt2dur == {"u1": 1.5, "u2": 2.0}


GOOD_ROW = ["u1", "a.wav", "0.2", "0.9", "en", "hello there", "Bullying"]


@pytest.mark.parametrize("rows,columns,match", [
    ([GOOD_ROW[:6]], COLUMNS[:6], r"m.tsv:1: missing column\(s\) labels"),
    ([GOOD_ROW, ["u2", "a.wav", "", "", "en", "hi", "Spam"]], COLUMNS, r"m.tsv:3: unknown label 'Spam'"),
    ([["u2", "a.wav", "", "", "en", "  ", "Other"]], COLUMNS, r"m.tsv:2: empty transcript"),
    ([["u2", "a.wav", "0.9", "0.9", "en", "hi", "Other"]], COLUMNS, r"m.tsv:2: end 0.9 <= start 0.9"),
    ([["u2", "a.wav", "0.1", "5.0", "en", "hi", "Other"]], COLUMNS, r"m.tsv:2: end 5 is past the end"),
    ([["u2", "a.wav", "0.1", "", "en", "hi", "Other"]], COLUMNS, r"m.tsv:2: give both start and end"),
    ([GOOD_ROW, ["u2", "missing.wav", "", "", "en", "hi", "Other"]], COLUMNS, r"m.tsv:3: audio file .*missing.wav"),
    ([["u2", "a.wav", "", "", "it", "ciao", "Other"]], COLUMNS, r"m.tsv:2: unknown language code 'it'"),
    ([["u2", "a.wav", "", "", "en", "hi", "Other;No_Violation"]], COLUMNS, r"m.tsv:2: No_Violation combined"),
    ([GOOD_ROW, GOOD_ROW], COLUMNS, r"m.tsv:3: duplicate utt_id u1"),
])
def test_bad_manifest(tmp_path, make_wav, rows, columns, match):
    make_wav(tmp_path / "a.wav", 1.0)
    manifest = write_manifest(tmp_path / "m.tsv", rows, columns)
    with pytest.raises(DataError, match=match):
        prepare(manifest, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_bad_jsonl_names_the_line(tmp_path, make_wav):
    make_wav(tmp_path / "a.wav", 1.0)
    good = {"utt_id": "u1", "audio": "a.wav", "language": "en", "transcript": "hi", "labels": ["Other"]}
    bad = {k: v for k, v in good.items() if k != "transcript"} | {"utt_id": "u2"}
    (tmp_path / "m.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError, match=r"m.jsonl:2: missing column\(s\) transcript"):
        prepare(tmp_path / "m.jsonl", tmp_path / "data")


def test_classes_option_restricts_labels(tmp_path, make_wav):
    make_wav(tmp_path / "a.wav", 1.0)
    manifest = write_manifest(tmp_path / "m.tsv", [GOOD_ROW])
    with pytest.raises(DataError, match="unknown label 'Bullying'"):
        prepare(manifest, tmp_path / "data", classes=["Profanity", "No_Violation"])


@pytest.mark.parametrize("suffix,line", [(".tsv", 3), (".jsonl", 2)])
def test_non_utf8_manifest_names_the_line(tmp_path, make_wav, suffix, line):
    make_wav(tmp_path / "a.wav", 1.0)
    if suffix == ".tsv":
        manifest = write_manifest(tmp_path / "m.tsv", [GOOD_ROW, ["u2", "a.wav", "", "", "fr", "caf\u00e9", "Other"]])
    else:
        rows = [{"utt_id": u, "audio": "a.wav", "language": "fr", "transcript": t, "labels": ["Other"]}
                for u, t in (("u1", "salut"), ("u2", "caf\u00e9"))]
        manifest = tmp_path / "m.jsonl"
        manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    manifest.write_bytes(manifest.read_bytes().replace("caf\u00e9".encode(), "caf\u00e9".encode("latin-1")))
    with pytest.raises(DataError, match=rf"m{suffix}:{line}: not valid UTF-8 \(byte 0xe9 at column \d+\)"):
        prepare(manifest, tmp_path / "data")
    assert not (tmp_path / "data").exists()
