"""The mini MSP-Podcast generator writes the real release layout with learnable, seeded labels."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile

from voxrecipes.corpora import mini_podcast
from voxrecipes.corpora.mini_podcast import CSV_HEADER, plan_corpus

needs_tts = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                               reason="espeak-ng and sox are needed to generate the mini corpora")

HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"


def _rows(root):
    with open(root / "Labels" / "labels_consensus.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@needs_tts
def test_layout_header_and_splits(tiny_podcast):
    lines = (tiny_podcast / "Labels" / "labels_consensus.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER == ",".join(CSV_HEADER)
    rows = _rows(tiny_podcast)
    assert len(rows) == 30
    assert {r["Split_Set"] for r in rows} == {"Train", "Development", "Test1", "Test2", "Test3"}
    assert [r["FileName"] for r in rows] == sorted(r["FileName"] for r in rows)
    for r in rows:
        assert r["FileName"].startswith("MSP-PODCAST_") and r["FileName"].endswith(".wav")
        assert r["Gender"] in ("Male", "Female")
        assert (tiny_podcast / "Audios" / r["FileName"]).is_file()
        transcript = (tiny_podcast / "Transcripts" / (r["FileName"][:-4] + ".txt")).read_text(encoding="utf-8")
        assert transcript.strip() and transcript.count("\n") == 1


@needs_tts
def test_test3_unlabelled_and_labels_valid(tiny_podcast):
    for r in _rows(tiny_podcast):
        values = [r["EmoClass"], r["EmoAct"], r["EmoVal"], r["EmoDom"]]
        if r["Split_Set"] == "Test3":
            assert values == ["", "", "", ""]
        else:
            assert r["EmoClass"] in "ASHUFDCNOX" and len(r["EmoClass"]) == 1
            for v in values[1:]:
                assert 1.0 <= float(v) <= 7.0
        if r["Split_Set"] == "Test2":
            assert r["SpkrID"] == "Unknown"
        else:
            assert r["SpkrID"].isdigit()


@needs_tts
def test_speaker_disjoint_splits(tiny_podcast):
    rows = _rows(tiny_podcast)
    split_of_id: dict[str, set] = {}
    for r in rows:
        if r["SpkrID"] != "Unknown":
            split_of_id.setdefault(r["SpkrID"], set()).add(r["Split_Set"])
    assert all(len(s) == 1 for s in split_of_id.values())
    info = json.loads((tiny_podcast / "mini_corpus.json").read_text())
    voices = [s["voice"] for s in info["speakers"]]
    assert len(voices) == len(set(voices)) == 5
    assert {s["split"] for s in info["speakers"]} == set(mini_podcast.SPLITS)


@needs_tts
def test_audio_format_and_durations(tiny_podcast):
    for wav in sorted((tiny_podcast / "Audios").glob("*.wav")):
        info = soundfile.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 1.5 - 1e-3 <= info.frames / info.samplerate <= 6.0 + 1e-3


@needs_tts
def test_same_seed_same_bytes(tiny_podcast, tmp_path):
    again = tmp_path / "again"
    mini_podcast.generate(again, seed=3, num_speakers=5, utts_per_speaker=6, nj=1)
    name = "Labels/labels_consensus.csv"
    assert (again / name).read_bytes() == (tiny_podcast / name).read_bytes()
    for path in sorted((tiny_podcast / "Transcripts").iterdir()):
        assert (again / "Transcripts" / path.name).read_bytes() == path.read_bytes()
    first = sorted((tiny_podcast / "Audios").iterdir())[0]
    assert (again / "Audios" / first.name).read_bytes() == first.read_bytes()


def test_plan_is_seeded_without_synthesis():
    a = mini_podcast.csv_text(plan_corpus(7, 6, 5))
    assert a == mini_podcast.csv_text(plan_corpus(7, 6, 5))
    assert a != mini_podcast.csv_text(plan_corpus(8, 6, 5))


def test_default_class_distribution_and_cues():
    utts = plan_corpus(0, 16, 56)
    labelled = [u for u in utts if u.speaker.split != "Test3"]
    counts = {c: sum(u.emo_class == c for u in labelled) for c in mini_podcast.EMO_CODES}
    assert max(counts, key=counts.get) == "N"
    assert all(counts[c] > 0 for c in counts)
    assert counts["O"] + counts["X"] < 0.15 * len(labelled)
    test3 = [u.emo_class for u in utts if u.speaker.split == "Test3"]
    assert set(test3) == set(mini_podcast.PRIMARY_CODES)  # balanced challenge-style set
    # Arousal follows prosody (speed, loudness); valence follows the words.
    speed = np.array([u.prosody.speed + u.prosody.amplitude for u in labelled], dtype=float)
    arousal = np.array([u.arousal for u in labelled])
    assert np.corrcoef(speed, arousal)[0, 1] > 0.6
    positive = set(mini_podcast.POSITIVE_WORDS)
    negative = set(mini_podcast.NEGATIVE_WORDS)
    polarity = np.array([sum(w.strip(".,") in positive for w in u.text.split())
                         - sum(w.strip(".,") in negative for w in u.text.split()) for u in labelled], dtype=float)
    valence = np.array([u.valence for u in labelled])
    assert np.corrcoef(polarity, valence)[0, 1] > 0.6


def test_too_few_speakers_is_a_config_error():
    from voxrecipes.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 5"):
        plan_corpus(0, 4, 3)
