"""The mini MuTox generator writes the release layout, and the preparer reads it with the expected drops."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from voxrecipes.corpora import mini_mutox
from voxrecipes.corpora.mutox import prepare
from voxrecipes.data.datadir import DataDir


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> tuple[Path, dict]:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed")
    out = tmp_path_factory.mktemp("mutox") / "mini_mutox"
    stats = mini_mutox.generate(out, seed=5, num_utts=30, nj=2, undecided_share=0.1, missing_share=0.1,
                                no_transcript_share=0.05)
    return out, stats


def test_release_layout(mini):
    out, stats = mini
    with open(out / "mutox.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert list(rows[0]) == mini_mutox.COLUMNS
    assert len(rows) == 30 == stats["rows"]
    assert {r["partition"] for r in rows} == {"train", "dev", "devtest"}
    for r in rows:
        # label is 1 exactly when contains_toxicity says yes (the release's rule)
        assert r["label"] == ("1" if r["contains_toxicity"].lower() == "yes" else "0")
        url, start, end = r["public_url_segment"].split()
        assert url == f"{mini_mutox.URL_PREFIX}/{r['lang']}/{r['id']}.wav" and start == "0"
        audio = out / "audio" / f"{r['id']}.wav"
        if audio.exists():
            import soundfile

            seconds = soundfile.info(str(audio)).duration
            unit = 1000 if r["lang"] in ("eng", "spa") else 16000
            assert abs(int(end) / unit - seconds) < 1e-3
    assert sum(r["contains_toxicity"].lower() == "cannot say" for r in rows) == stats["undecided"] == 3
    assert sum(not (out / "audio" / f"{r['id']}.wav").exists() for r in rows) == stats["without_audio"] == 3
    assert sum(not r["audio_file_transcript"] for r in rows) == stats["without_transcript"] == 2


def test_preparer_reads_it(mini, tmp_path):
    out, stats = mini
    counts = prepare(out / "mutox.tsv", out / "audio", tmp_path / "all")
    assert counts["dropped_undecided_label"] == stats["undecided"]
    assert counts["dropped_missing_audio"] == stats["without_audio"]
    assert counts["dropped_empty_transcript"] == stats["without_transcript"]
    assert counts["utterances"] == stats["rows"] - 8
    assert len((tmp_path / "all" / "missing_audio.txt").read_text().splitlines()) == 3
    dd = DataDir.load(tmp_path / "all")
    assert set(dd.utt2lang.values()) <= {"en", "es", "fr", "de", "pt"}
    assert set(label for labels in dd.utt2labels.values() for label in labels) <= {"Toxic", "No_Violation"}
