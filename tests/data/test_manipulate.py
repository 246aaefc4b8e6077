"""fix / subset / split / combine."""

from __future__ import annotations

import os
import time

import pytest

from voxrecipes.data.datadir import DataDir, write_data_dir
from voxrecipes.data.manipulate import combine_data_dirs, fix_data_dir, read_id_list, split_data_dir, subset_data_dir
from voxrecipes.data.validate import validate_data_dir
from voxrecipes.errors import ConfigError, DataError


def make_dir(root, n_spk=3, per_spk=(4, 2, 1), prefix=""):
    utts = {f"{prefix}s{s}_u{i}": f"{prefix}s{s}" for s in range(n_spk) for i in range(per_spk[s])}
    write_data_dir(root, wav_scp={u: f"/w/{u}.wav" for u in utts}, utt2spk=utts,
                   text={u: f"words of {u}" for u in utts}, utt2lang={u: "en" for u in utts})
    return root


def test_fix_sorts_drops_and_regenerates_spk2utt(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    (root / "wav.scp").write_text("u3 /c\nu1 /a\nu2 /b\nu4 /d\n")
    (root / "utt2spk").write_text("u2 s1\nu1 s1\nu3 s2\nu4 s2\nu5 s2\n")
    (root / "text").write_text("u1 one\nu3 three\nu2 two\nu5 five\n")
    (root / "spk2utt").write_text("garbage line that is ignored\n")
    (root / "feats.scp").write_text("stays\n")
    with pytest.raises(DataError):
        validate_data_dir(root)
    result = fix_data_dir(root)
    assert (result.kept, result.dropped) == (3, 2)  # u4: no text, u5: no wav
    assert (root / "wav.scp").read_text() == "u1 /a\nu2 /b\nu3 /c\n"
    assert (root / "text").read_text() == "u1 one\nu2 two\nu3 three\n"
    assert (root / "spk2utt").read_text() == "s1 u1 u2\ns2 u3\n"
    assert (root / "feats.scp").read_text() == "stays\n"
    validate_data_dir(root)


def test_fix_to_other_dir_and_all_dropped(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    (root / "wav.scp").write_text("u1 /a\n")
    (root / "utt2spk").write_text("u1 s\n")
    (root / "text").write_text("u1 hi\n")
    assert fix_data_dir(root, tmp_path / "out") == (1, 0)
    assert (tmp_path / "out" / "spk2utt").read_text() == "s u1\n"
    assert not (root / "spk2utt").exists()
    (root / "text").write_text("u9 hi\n")
    with pytest.raises(DataError, match="no utterance is in every file"):
        fix_data_dir(root)


def test_subset_selectors(tmp_path):
    src = make_dir(tmp_path / "src")
    ulist = tmp_path / "list"
    ulist.write_text("s0_u3\ns2_u0 extra-column\nnot_there\n")
    sub = subset_data_dir(src, tmp_path / "a", utts=["s0_u3", "s2_u0", "not_there"])
    assert sub.utts == ["s0_u3", "s2_u0"]
    assert (tmp_path / "a" / "spk2utt").read_text() == "s0 s0_u3\ns2 s2_u0\n"
    assert (tmp_path / "a" / "wav.scp").read_text() == "s0_u3 /w/s0_u3.wav\ns2_u0 /w/s2_u0.wav\n"
    assert subset_data_dir(src, tmp_path / "b", speakers=["s1"]).utts == ["s1_u0", "s1_u1"]
    assert subset_data_dir(src, tmp_path / "c", first=3).utts == ["s0_u0", "s0_u1", "s0_u2"]
    r1 = subset_data_dir(src, tmp_path / "r1", random=4, seed=5).utts
    r2 = subset_data_dir(src, tmp_path / "r2", random=4, seed=5).utts
    assert r1 == r2 and len(set(r1)) == 4
    assert subset_data_dir(src, tmp_path / "r3", random=7).utts == DataDir.load(src).utts
    for d in "abc":
        validate_data_dir(tmp_path / d, require=("text", "utt2lang"))
    with pytest.raises(ConfigError, match="only 7"):
        subset_data_dir(src, tmp_path / "x", first=8)
    with pytest.raises(ConfigError, match="exactly one"):
        subset_data_dir(src, tmp_path / "x", first=1, speakers=["s0"])
    with pytest.raises(DataError, match="selection is empty"):
        subset_data_dir(src, tmp_path / "x", utts=["nope"])


def test_subset_with_segments_prunes_wav_scp(seg_dir, tmp_path):
    sub = subset_data_dir(seg_dir[0], tmp_path / "s", utts=["rec2-001"])
    assert (tmp_path / "s" / "wav.scp").read_text().split()[0] == "rec2"
    assert sub.segments == {"rec2-001": ("rec2", 0.35, 0.9)}


def test_split_balanced_and_reused(tmp_path):
    src = make_dir(tmp_path / "src")  # 7 utterances
    parts = split_data_dir(src, 3)
    assert parts == [src / "split3" / str(i) for i in (1, 2, 3)]
    sizes = [len(DataDir.load(p).utt2spk) for p in parts]
    assert sizes == [3, 2, 2]
    all_utts = [u for p in parts for u in DataDir.load(p).utts]
    assert all_utts == DataDir.load(src).utts
    assert (parts[0] / "text").is_file()
    stamp = (parts[0] / "utt2spk").stat().st_mtime_ns
    assert split_data_dir(src, 3) == parts
    assert (parts[0] / "utt2spk").stat().st_mtime_ns == stamp  # reused
    time.sleep(0.01)
    future = time.time() + 5
    os.utime(src / "utt2spk", (future, future))
    split_data_dir(src, 3)
    assert (parts[0] / "utt2spk").stat().st_mtime_ns == stamp  # a touched but unchanged source: still reused


def _old_mtime(path, seconds=1_000_000_000):
    os.utime(path, (seconds, seconds))


def test_split_redone_when_content_changes_with_an_old_mtime(tmp_path):
    """rsync -a / cp -p keep old mtimes: a changed or removed source file must still make a new split."""
    src = make_dir(tmp_path / "src")
    parts = split_data_dir(src, 2)
    assert DataDir.load(parts[0]).text["s0_u0"] == "words of s0_u0"
    new_text = (src / "text").read_text().replace("words of s0_u0", "other words")
    (src / "text").write_text(new_text)
    _old_mtime(src / "text")  # as cp -p of an older file would leave it
    split_data_dir(src, 2)
    assert DataDir.load(parts[0]).text["s0_u0"] == "other words"
    (src / "utt2lang").unlink()
    split_data_dir(src, 2)
    assert not (parts[0] / "utt2lang").exists() and not (parts[1] / "utt2lang").exists()
    validate_data_dir(parts[0])


def test_split_redone_when_a_part_was_damaged(tmp_path):
    src = make_dir(tmp_path / "src")
    parts = split_data_dir(src, 2)
    (parts[1] / "text").unlink()
    split_data_dir(src, 2)
    assert (parts[1] / "text").is_file()
    (parts[0] / "utt2spk").write_text("s0_u0 s0\n")  # a hand edit of a part
    split_data_dir(src, 2)
    assert len(DataDir.load(parts[0]).utt2spk) == 4


def test_fix_keeps_every_utterance_of_files_with_a_bom(tmp_path):
    root = make_dir(tmp_path / "d")
    for name in ("text", "utt2spk"):
        (root / name).write_bytes(b"\xef\xbb\xbf" + (root / name).read_bytes())
    validate_data_dir(root)  # no "keys not sorted" for the first key
    assert fix_data_dir(root) == (7, 0)
    assert (root / "text").read_bytes().startswith(b"s0_u0 words of s0_u0\n")
    assert (root / "utt2spk").read_bytes().startswith(b"s0_u0 s0\n")


def test_fix_refuses_a_bom_inside_a_file_rather_than_dropping_its_utterance(tmp_path):
    root = make_dir(tmp_path / "d")
    lines = (root / "text").read_bytes().split(b"\n")
    lines[2] = b"\xef\xbb\xbf" + lines[2]  # as `cat a b > text` leaves it when b starts with a BOM
    (root / "text").write_bytes(b"\n".join(lines))
    before = {name: (root / name).read_bytes() for name in ("text", "utt2spk", "wav.scp")}
    for call in (validate_data_dir, fix_data_dir):
        with pytest.raises(DataError, match=r"text:3: byte-order mark \(U\+FEFF\) inside the file"):
            call(root)
    assert {name: (root / name).read_bytes() for name in before} == before


def test_id_list_with_bom_and_non_utf8(tmp_path):
    src = make_dir(tmp_path / "src")
    ulist = tmp_path / "list"
    ulist.write_bytes(b"\xef\xbb\xbfs0_u3\ns2_u0\n")
    assert read_id_list(ulist) == ["s0_u3", "s2_u0"]
    sub = subset_data_dir(src, tmp_path / "a", utts=read_id_list(ulist))
    assert sub.utts == ["s0_u3", "s2_u0"]
    ulist.write_bytes(b"s0_u3\ns2_\xe40\n")
    with pytest.raises(DataError, match=r"list:2: not valid UTF-8 \(byte 0xe4 at column 4\)"):
        read_id_list(ulist)


def test_split_per_speaker(tmp_path):
    src = make_dir(tmp_path / "src")  # speakers with 4, 2, 1 utterances
    parts = split_data_dir(src, 2, per_speaker=True)
    spk_sets = [set(DataDir.load(p).spk2utt) for p in parts]
    assert spk_sets == [{"s0"}, {"s1", "s2"}]
    by_spk = split_data_dir(src, 3, per_speaker=True)
    assert [len(DataDir.load(p).utt2spk) for p in by_spk] == [4, 2, 1]
    # a split made per speaker is not reused when asked per utterance (and back)
    assert [len(DataDir.load(p).utt2spk) for p in split_data_dir(src, 3)] == [3, 2, 2]
    assert [len(DataDir.load(p).utt2spk) for p in split_data_dir(src, 3, per_speaker=True)] == [4, 2, 1]
    with pytest.raises(DataError, match="cannot split 3 speakers into 4 parts"):
        split_data_dir(src, 4, per_speaker=True)
    with pytest.raises(DataError, match="cannot split 7 utterances into 8 parts"):
        split_data_dir(src, 8)
    assert not (src / "split8").exists()


def test_combine(tmp_path, seg_dir):
    a = make_dir(tmp_path / "a", prefix="a")
    b = make_dir(tmp_path / "b", prefix="b")
    (b / "utt2lang").unlink()
    combined = combine_data_dirs(tmp_path / "ab", [a, b])
    assert len(combined.utt2spk) == 14
    assert combined.utt2lang is None and len(combined.text) == 14
    assert not (tmp_path / "ab" / "utt2lang").exists()
    validate_data_dir(tmp_path / "ab", require=("text",))
    assert (tmp_path / "ab" / "utt2spk").read_text().splitlines()[0] == "as0_u0 as0"
    with pytest.raises(DataError) as err:
        combine_data_dirs(tmp_path / "dup", [a, tmp_path / "ab"])
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'ab' / 'utt2spk'}:1: ") and str(a) in msg and "as0_u0" in msg
    assert not (tmp_path / "dup").exists()


def test_combine_segments_with_whole_recordings(tmp_path, seg_dir):
    plain = make_dir(tmp_path / "p", n_spk=1, per_spk=(2,), prefix="p")
    with pytest.raises(DataError, match="needs segments or utt2dur"):
        combine_data_dirs(tmp_path / "c", [seg_dir[0], plain])
    dd = DataDir.load(plain)
    dd.utt2dur = {"ps0_u0": 1.25, "ps0_u1": 2.0}
    dd.write()
    combined = combine_data_dirs(tmp_path / "c", [seg_dir[0], plain])
    assert combined.segments["ps0_u1"] == ("ps0_u1", 0.0, 2.0)
    assert len(combined.segments) == 6 and combined.utt2dur is None
    validate_data_dir(tmp_path / "c")
