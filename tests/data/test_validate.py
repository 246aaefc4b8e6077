"""Every validation rule: the error names the file, the line and the reason."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.data.datadir import DataDir
from voxrecipes.data.validate import validate_data_dir
from voxrecipes.errors import DataError

BASE = {
    "wav.scp": "u1 /x/u1.wav\nu2 /x/u2.wav\nu3 /x/u3.wav\n",
    "utt2spk": "u1 s1\nu2 s1\nu3 s2\n",
    "spk2utt": "s1 u1 u2\ns2 u3\n",
}
SEG_BASE = {
    "wav.scp": "r1 /x/r1.wav\nr2 /x/r2.wav\n",
    "segments": "u1 r1 0 1.5\nu2 r1 1.5 3\nu3 r2 0.2 0.9\n",
    "utt2spk": BASE["utt2spk"],
    "spk2utt": BASE["spk2utt"],
}


def write_dir(root, files, base=BASE):
    root.mkdir(parents=True, exist_ok=True)
    for name, content in {**base, **files}.items():
        if content is not None:
            (root / name).write_text(content)
    return root


def assert_error(err, path, line, reason):
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(err.value).startswith(where), str(err.value)
    assert reason in str(err.value), str(err.value)


def test_valid_dirs_pass(tmp_path, data_dir, seg_dir):
    validate_data_dir(write_dir(tmp_path / "d", {"text": "u1 a b\nu2 c\nu3 d\n"}))
    validate_data_dir(write_dir(tmp_path / "s", {}, SEG_BASE))
    validate_data_dir(data_dir, check_audio=True, require=("text", "utt2labels"),
                      classes=["Profanity", "Bullying", "Racist", "No-Violation", "A", "H", "N", "S"])
    validate_data_dir(seg_dir[0], check_audio=True)


@pytest.mark.parametrize("files,bad,line,reason", [
    ({"wav.scp": None}, "wav.scp", None, "file not found"),
    ({"utt2spk": None}, "utt2spk", None, "file not found"),
    ({"spk2utt": None}, "spk2utt", None, "file not found"),
    ({"utt2spk": "u2 s1\nu1 s1\nu3 s2\n"}, "utt2spk", 2, "not sorted"),
    ({"wav.scp": "u1 /a\nu1 /b\nu3 /c\n"}, "wav.scp", 2, "duplicate key 'u1'"),
    ({"utt2spk": "u1 s1 extra\nu2 s1\nu3 s2\n"}, "utt2spk", 1, "expected one speaker id"),
    ({"spk2utt": "s1 u1 u2\ns2 u2 u3\n"}, "spk2utt", 2, "utterance 'u2' listed for speaker 's2' but utt2spk gives "
                                                        "speaker 's1'"),
    ({"spk2utt": "s1 u1\ns2 u3\n"}, "spk2utt", 1, "utterance 'u2' of speaker 's1' in utt2spk (line 2) is missing"),
    ({"spk2utt": "s1 u2 u1\ns2 u3\n"}, "spk2utt", 1, "utterance ids not sorted"),
    ({"spk2utt": "s1 u1 u2\n"}, "spk2utt", None, "speaker 's2' of utt2spk (line 3) has no line"),
    ({"spk2utt": "s1 u1 u2\ns2 u3\ns3 u4\n"}, "spk2utt", 3, "speaker 's3' has no utterance in utt2spk"),
    ({"text": "u1 a\nu2 b\nu3 c\nu4 d\n"}, "text", 4, "utterance 'u4' is not in utt2spk"),
    ({"text": "u1 a\nu3 c\n"}, "text", None, "utterance 'u2' of utt2spk (line 2) is missing here"),
    ({"utt2lang": "u1 en\nu3 de\n"}, "utt2lang", None, "utterance 'u2'"),
    ({"text": "u1 a\nu2\nu3 c\n"}, "text", 2, "empty transcript"),
    ({"utt2labels": "u1 Racist\nu2\nu3 Other\n"}, "utt2labels", 2, "no labels"),
    ({"utt2labels": "u1 Racist Racist\nu2 A\nu3 B\n"}, "utt2labels", 1, "label 'Racist' repeated"),
    ({"utt2category": "u1 A\nu2 A B\nu3 C\n"}, "utt2category", 2, "expected one class name"),
    ({"utt2attrs": "u1 1 2 3\nu2 1 2\nu3 1 2 3\n"}, "utt2attrs", 2, "expected 3 numbers"),
    ({"utt2attrs": "u1 1 2 3\nu2 1 2 3\nu3 1 nan 3\n"}, "utt2attrs", 3, "arousal is not finite"),
    ({"utt2attrs": "u1 0.5 2 3\nu2 1 2 3\nu3 1 2 3\n"}, "utt2attrs", 1, "valence 0.5 outside the 1-7 scale"),
    ({"utt2attrs": "u1 1 2 7.01\nu2 1 2 3\nu3 1 2 3\n"}, "utt2attrs", 1, "dominance 7.01 outside"),
    ({"utt2attrs": "u1 1 2 3\nu2 x 2 3\nu3 1 2 3\n"}, "utt2attrs", 2, "valence is not a number: 'x'"),
    ({"utt2dur": "u1 1.0\nu2 0\nu3 2\n"}, "utt2dur", 2, "duration must be positive"),
    ({"utt2dur": "u1 1.0\nu2 2\nu3 inf\n"}, "utt2dur", 3, "duration is not finite"),
    ({"wav.scp": "u1 /a\nu2 /b\n"}, "wav.scp", None, "utterance 'u3' of utt2spk (line 3) has no wav.scp entry"),
    ({"wav.scp": "u1 /a\nu2 /b\nu3 /c\nu9 /d\n"}, "wav.scp", 4, "recording 'u9' has no utterance in utt2spk"),
])
def test_errors(tmp_path, files, bad, line, reason):
    root = write_dir(tmp_path / "d", files)
    with pytest.raises(DataError) as err:
        validate_data_dir(root)
    assert_error(err, root / bad, line, reason)


@pytest.mark.parametrize("segments,line,reason", [
    ("u1 r1 0 1.5\nu2 r1 3 3\nu3 r2 0.2 0.9\n", 2, "segment end 3 is not after its start 3"),
    ("u1 r1 -0.1 1.5\nu2 r1 1.5 3\nu3 r2 0.2 0.9\n", 1, "segment start -0.1 is negative"),
    ("u1 r1 0 1.5\nu2 r1 1.5 3\nu3 r2 a 0.9\n", 3, "segment start is not a number: 'a'"),
    ("u1 r1 0 1.5\nu2 r1 1.5\nu3 r2 0.2 0.9\n", 2, "expected '<utt> <recording> <start> <end>'"),
    ("u1 r1 0 1.5\nu2 r3 1.5 3\nu3 r2 0.2 0.9\n", 2, "recording 'r3' of utterance 'u2' is not in wav.scp"),
    ("u1 r1 0 1.5\nu3 r2 0.2 0.9\n", None, "utterance 'u2' of utt2spk (line 2) is missing"),
])
def test_segment_errors(tmp_path, segments, line, reason):
    root = write_dir(tmp_path / "s", {"segments": segments}, SEG_BASE)
    with pytest.raises(DataError) as err:
        validate_data_dir(root)
    assert_error(err, root / "segments", line, reason)


def test_unused_recording_is_fine_with_segments(tmp_path):
    validate_data_dir(write_dir(tmp_path / "s", {"wav.scp": "r1 /a\nr2 /b\nr3 /c\n"}, SEG_BASE))


def test_unknown_label(tmp_path):
    root = write_dir(tmp_path / "d", {"utt2labels": "u1 Racist\nu2 Racist Spam\nu3 Other\n"})
    with pytest.raises(DataError) as err:
        validate_data_dir(root, classes=["Racist", "Other"])
    assert_error(err, root / "utt2labels", 2, "unknown label 'Spam'")
    validate_data_dir(root)  # without a class list the names are not checked
    root2 = write_dir(tmp_path / "c", {"utt2category": "u1 A\nu2 A\nu3 Q\n"})
    with pytest.raises(DataError) as err:
        validate_data_dir(root2, classes=list("ASHUFDCNOX"))
    assert_error(err, root2 / "utt2category", 3, "unknown label 'Q'")


def test_require(tmp_path):
    root = write_dir(tmp_path / "d", {})
    with pytest.raises(DataError) as err:
        validate_data_dir(root, require=("text",))
    assert_error(err, root / "text", None, "file not found")


def test_check_audio_missing_corrupt_and_empty(tmp_path, wav_factory):
    good, _ = wav_factory("good.wav", 0.1)
    corrupt = tmp_path / "wav" / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 4)
    empty = tmp_path / "wav" / "empty.wav"
    sf.write(str(empty), np.zeros(0, dtype=np.float32), 16000)
    cases = [(str(tmp_path / "nope.wav"), "audio file of 'u2' not found"),
             (str(corrupt), "cannot read audio file of 'u2'"),
             (str(empty), "has zero length")]
    for value, reason in cases:
        root = write_dir(tmp_path / "d", {"wav.scp": f"u1 {good}\nu2 {value}\nu3 {good}\n"})
        validate_data_dir(root)  # without check_audio the audio is not opened
        with pytest.raises(DataError) as err:
            validate_data_dir(root, check_audio=True)
        assert_error(err, root / "wav.scp", 2, reason)


def test_check_audio_segment_after_end(tmp_path, wav_factory):
    rec, _ = wav_factory("r.wav", 1.0)
    root = write_dir(tmp_path / "s", {"wav.scp": f"r1 {rec}\nr2 {rec}\n",
                                      "segments": "u1 r1 0 0.5\nu2 r1 1.2 1.5\nu3 r2 0.2 0.9\n"}, SEG_BASE)
    with pytest.raises(DataError) as err:
        validate_data_dir(root, check_audio=True)
    assert_error(err, root / "segments", 2, "starts at 1.2 s, after the end of recording 'r1'")


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_check_audio_non_finite_samples(tmp_path, wav_factory, subtype):
    good, _ = wav_factory("good.wav", 0.1)
    data = np.zeros(5000, dtype=np.float64)
    data[4321] = np.nan  # beyond the first block a cheap header check would read
    bad = tmp_path / "wav" / "nan.wav"
    sf.write(str(bad), data, 16000, subtype=subtype)
    root = write_dir(tmp_path / "d", {"wav.scp": f"u1 {good}\nu2 {good}\nu3 {bad}\n"})
    with pytest.raises(DataError) as err:
        validate_data_dir(root, check_audio=True)
    assert_error(err, root / "wav.scp", 3, "non-finite sample (NaN or inf) at sample 4321")


@pytest.mark.parametrize("name", ["text", "utt2spk", "wav.scp"])
def test_utf8_bom_is_accepted(tmp_path, name, caplog):
    files = {"text": "u1 a b\nu2 c\nu3 d\n"}
    content = {**BASE, **files}[name]
    root = write_dir(tmp_path / "d", files)
    (root / name).write_bytes(b"\xef\xbb\xbf" + content.encode())
    validate_data_dir(root)
    dd = DataDir.load(root)
    assert dd.utts == ["u1", "u2", "u3"] and dd.text["u1"] == "a b"
    assert any("byte-order mark" in r.getMessage() and name in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name,content,line,reason", [
    ("text", b"u1 a b\nu2 caf\xe9\nu3 d\n", 2, "not valid UTF-8 (byte 0xe9 at column 7)"),
    ("utt2spk", b"u1 s1\nu2 s1\nu3 s\xff2\n", 3, "not valid UTF-8 (byte 0xff at column 5)"),
])
def test_non_utf8_bytes_name_file_and_line(tmp_path, name, content, line, reason):
    root = write_dir(tmp_path / "d", {"text": "u1 a b\nu2 c\nu3 d\n"})
    (root / name).write_bytes(content)
    with pytest.raises(DataError) as err:
        validate_data_dir(root)
    assert_error(err, root / name, line, reason)


def test_carriage_return_inside_a_line(tmp_path):
    root = write_dir(tmp_path / "d", {"text": "u1 a\rb\nu2 c\r\nu3 d\n"})
    with pytest.raises(DataError) as err:
        validate_data_dir(root)
    assert_error(err, root / "text", 1, "carriage return inside the line")
