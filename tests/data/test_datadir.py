"""DataDir load/write round trips, exact bytes and C-locale order, write-time validation."""

from __future__ import annotations

import pytest

from voxrecipes.data.datadir import PER_UTT_FILES, DataDir, write_data_dir
from voxrecipes.errors import DataError


def test_per_utt_files_names():
    assert PER_UTT_FILES == ("utt2spk", "text", "utt2lang", "utt2dur", "utt2labels", "utt2category", "utt2attrs",
                             "segments")


def test_write_exact_bytes_and_c_locale_order(tmp_path):
    out = tmp_path / "d"
    utts = ["utt2", "utt10", "a_1", "A_1"]
    write_data_dir(out, wav_scp={u: f"/x/{u}.wav" for u in utts},
                   utt2spk={"utt2": "s2", "utt10": "s1", "a_1": "s1", "A_1": "s0"},
                   text={u: f"say  {u}" for u in utts},
                   utt2labels={u: ["Racist", "Other"] for u in utts},
                   utt2attrs={u: (1, 2.25, 7.0) for u in utts},
                   utt2dur={u: 1.5 for u in utts})
    assert (out / "utt2spk").read_bytes() == b"A_1 s0\na_1 s1\nutt10 s1\nutt2 s2\n"
    assert (out / "spk2utt").read_bytes() == b"s0 A_1\ns1 a_1 utt10\ns2 utt2\n"
    assert (out / "text").read_bytes() == b"A_1 say  A_1\na_1 say  a_1\nutt10 say  utt10\nutt2 say  utt2\n"
    assert (out / "utt2attrs").read_text().splitlines()[0] == "A_1 1 2.25 7"
    assert (out / "utt2labels").read_text().splitlines()[0] == "A_1 Racist Other"
    assert (out / "utt2dur").read_text().splitlines()[0] == "A_1 1.5"
    assert sorted(p.name for p in out.iterdir()) == ["spk2utt", "text", "utt2attrs", "utt2dur", "utt2labels",
                                                     "utt2spk", "wav.scp"]
    assert not (tmp_path / "d.tmp").exists()


def test_load_round_trip(data_dir, tmp_path):
    dd = DataDir.load(data_dir)
    assert dd.utts == ["spkA_u1", "spkA_u2", "spkB_u1", "spkB_u2"]
    assert dd.spk2utt == {"spkA": ["spkA_u1", "spkA_u2"], "spkB": ["spkB_u1", "spkB_u2"]}
    assert dd.utt2labels["spkA_u1"] == ["Profanity", "Bullying"]
    assert dd.utt2attrs["spkA_u2"] == (1.0, 7.0, 5.5)
    assert dd.utt2category["spkB_u1"] == "N"
    assert dd.segments is None and dd.utt2dur is None
    copy = tmp_path / "copy"
    dd.write(copy)
    for name in ("wav.scp", "utt2spk", "spk2utt", "text", "utt2lang", "utt2labels", "utt2category", "utt2attrs"):
        assert (copy / name).read_bytes() == (data_dir / name).read_bytes(), name
    again = DataDir.load(copy)
    assert again.utt2attrs == dd.utt2attrs and again.text == dd.text


def test_segments_round_trip(seg_dir):
    out, _ = seg_dir
    assert (out / "segments").read_text().splitlines()[1] == "rec1-001 rec1 0.5 1"
    dd = DataDir.load(out)
    assert dd.segments["rec2-000"] == ("rec2", 0.1, 0.35)
    assert dd.recording_of("rec1-001") == ("rec1", 0.5, 1.0)


def test_write_data_dir_validates_before_writing(tmp_path):
    out = tmp_path / "bad"
    with pytest.raises(DataError) as err:
        write_data_dir(out, wav_scp={"u1": "/a.wav", "u2": "/b.wav"}, utt2spk={"u1": "s", "u2": "s"},
                       utt2attrs={"u1": (4, 4, 4), "u2": (4, 9.5, 4)})
    assert str(err.value).startswith(f"{out}/utt2attrs:2: ")
    assert "arousal 9.5 outside the 1-7 scale" in str(err.value)
    assert not out.exists() and not (tmp_path / "bad.tmp").exists()


def test_write_data_dir_rejects_missing_label_and_keeps_old_dir(tmp_path):
    out = tmp_path / "d"
    write_data_dir(out, wav_scp={"u1": "/a.wav"}, utt2spk={"u1": "s"})
    with pytest.raises(DataError, match=r"/d/text: utterance 'u2' of utt2spk \(line 2\) is missing"):
        write_data_dir(out, wav_scp={"u1": "/a.wav", "u2": "/b.wav"}, utt2spk={"u1": "s", "u2": "s"},
                       text={"u1": "x"})
    assert (out / "utt2spk").read_text() == "u1 s\n"


def test_write_data_dir_rejects_bad_key(tmp_path):
    with pytest.raises(DataError, match="invalid key 'u 1'"):
        write_data_dir(tmp_path / "d", wav_scp={"u 1": "/a.wav"}, utt2spk={"u 1": "s"})


def test_write_into_existing_dir_keeps_other_files_and_drops_stale(data_dir):
    (data_dir / "feats.scp").write_text("keep me\n")
    dd = DataDir.load(data_dir)
    dd.utt2attrs = None
    dd.write()
    assert (data_dir / "feats.scp").read_text() == "keep me\n"
    assert not (data_dir / "utt2attrs").exists()
    assert not (data_dir.parent / "train.tmp").exists()
    assert DataDir.load(data_dir).utt2attrs is None


def test_write_replace_removes_other_files(data_dir, tmp_path):
    (data_dir / "feats.scp").write_text("x\n")
    DataDir.load(data_dir).write(data_dir, replace=True)
    assert not (data_dir / "feats.scp").exists()


def test_check_in_memory_names_written_line():
    dd = DataDir(path="data/x", wav_scp={"b": "/b.wav", "a": "/a.wav"}, utt2spk={"b": "s", "a": "s"},
                 utt2dur={"b": -1.0, "a": 1.0})
    with pytest.raises(DataError, match=r"^data/x/utt2dur:2: duration must be positive"):
        dd.check()
    dd.utt2dur["b"] = 2.0
    dd.check()
