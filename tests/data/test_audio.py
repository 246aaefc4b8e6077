"""Audio loading: paths and pipes, segments, mono, resampling, errors; utt2dur."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.data import audio as audio_module
from voxrecipes.data.audio import SAMPLE_RATE, iter_audio, load_audio, read_wav_scp_entry
from voxrecipes.data.datadir import DataDir, write_data_dir
from voxrecipes.data.utt2dur import compute_utt2dur
from voxrecipes.errors import DataError


def test_plain_path_and_sox_pipe_agree(wav_factory):
    path, samples = wav_factory("a.wav", 0.3)
    direct, sr = read_wav_scp_entry(str(path), path_for_errors="wav.scp", lineno=1)
    piped, sr2 = read_wav_scp_entry(f"sox {path} -t wav - |", path_for_errors="wav.scp", lineno=1)
    assert sr == sr2 == 16000 and direct.dtype == np.float32
    np.testing.assert_array_equal(direct, samples[:, 0])
    np.testing.assert_array_equal(piped, direct)


def test_failing_pipe_names_file_line_and_stderr():
    with pytest.raises(DataError) as err:
        read_wav_scp_entry("echo 'no such corpus file' >&2; exit 3 |", path_for_errors="data/x/wav.scp", lineno=7)
    msg = str(err.value)
    assert msg.startswith("data/x/wav.scp:7: ") and "exit status 3" in msg and "no such corpus file" in msg


def test_pipe_failing_mid_pipeline_is_caught(wav_factory):
    path, _ = wav_factory("a.wav", 0.1)
    with pytest.raises(DataError, match="exit status"):
        read_wav_scp_entry(f"sox /nonexistent.wav -t wav - | cat {path} |", path_for_errors="w", lineno=2)


def test_pipe_with_garbage_output():
    with pytest.raises(DataError) as err:
        read_wav_scp_entry("echo hello |", path_for_errors="wav.scp", lineno=3)
    assert str(err.value).startswith("wav.scp:3: ") and "did not write readable audio" in str(err.value)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match=r"^wav.scp:2: audio file not found"):
        read_wav_scp_entry(str(tmp_path / "nope.wav"), path_for_errors="wav.scp", lineno=2)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio" * 10)
    with pytest.raises(DataError, match=r"^wav.scp:5: cannot read audio file"):
        read_wav_scp_entry(str(bad), path_for_errors="wav.scp", lineno=5)


def test_load_audio_from_data_dir_errors_name_wav_scp_line(data_dir):
    dd = DataDir.load(data_dir)
    (data_dir.parent.parent / "wav" / "spkB_u1.wav").unlink()
    np.testing.assert_equal(len(load_audio(dd, "spkA_u2")), 4000)
    with pytest.raises(DataError) as err:
        load_audio(dd, "spkB_u1")
    assert str(err.value).startswith(f"{data_dir}/wav.scp:3: audio file not found")


def test_segments_match_direct_slice(seg_dir):
    out, recs = seg_dir
    dd = DataDir.load(out)
    for utt, (rec, start, end) in dd.segments.items():
        expected = recs[rec][int(round(start * 16000)):int(round(end * 16000))]
        np.testing.assert_array_equal(load_audio(dd, utt), expected)
    assert len(load_audio(dd, "rec2-000")) == 4000


def test_iter_audio_reads_each_recording_once(seg_dir, monkeypatch):
    out, recs = seg_dir
    calls = []
    real = audio_module.read_wav_scp_entry

    def counting(value, **kwargs):
        calls.append(value)
        return real(value, **kwargs)

    monkeypatch.setattr(audio_module, "read_wav_scp_entry", counting)
    got = list(iter_audio(out))
    assert [u for u, _ in got] == ["rec1-000", "rec1-001", "rec2-000", "rec2-001"]
    assert len(calls) == 2
    np.testing.assert_array_equal(got[1][1], recs["rec1"][8000:16000])


def test_multichannel_is_averaged_and_resampled(tmp_path, wav_factory):
    path, stereo = wav_factory("st.wav", 1.0, sample_rate=22050, channels=2)
    write_data_dir(tmp_path / "d", wav_scp={"u": str(path)}, utt2spk={"u": "s"})
    dd = DataDir.load(tmp_path / "d")
    native = load_audio(dd, "u", sample_rate=22050)
    np.testing.assert_allclose(native, stereo.mean(axis=1), atol=1e-7)
    out = load_audio(dd, "u")
    assert out.dtype == np.float32 and len(out) == SAMPLE_RATE  # 22050 samples at 22.05 kHz -> 1 s at 16 kHz


def test_resample_length_for_odd_duration(tmp_path, wav_factory):
    path, _ = wav_factory("r.wav", 0.5, sample_rate=22050)  # 11025 samples
    out, _ = read_wav_scp_entry(str(path), path_for_errors="w", lineno=1)
    assert len(audio_module.resample(out, 22050, 16000)) == int(np.ceil(11025 * 16000 / 22050)) == 8000


def test_zero_length_segment(tmp_path, wav_factory):
    path, _ = wav_factory("r.wav", 0.5)
    write_data_dir(tmp_path / "d", wav_scp={"r": str(path)}, segments={"u1": ("r", 0.0, 0.2), "u2": ("r", 0.6, 0.9)},
                   utt2spk={"u1": "s", "u2": "s"})
    dd = DataDir.load(tmp_path / "d")
    with pytest.raises(DataError) as err:
        load_audio(dd, "u2")
    assert str(err.value).startswith(f"{tmp_path / 'd' / 'segments'}:2: segment 'u2'") and "is empty" in str(err.value)


def test_compute_utt2dur_from_headers_pipes_and_segments(tmp_path, wav_factory, seg_dir):
    a, _ = wav_factory("a.wav", 0.5)
    b, _ = wav_factory("b.wav", 0.25, sample_rate=8000)
    write_data_dir(tmp_path / "d", wav_scp={"a": str(a), "b": f"sox {b} -t wav - |"}, utt2spk={"a": "s", "b": "s"})
    assert compute_utt2dur(tmp_path / "d") == {"a": 0.5, "b": 0.25}
    assert (tmp_path / "d" / "utt2dur").read_text() == "a 0.5\nb 0.25\n"
    assert DataDir.load(tmp_path / "d").utt2dur == {"a": 0.5, "b": 0.25}
    durs = compute_utt2dur(seg_dir[0])
    assert durs == {"rec1-000": 0.4, "rec1-001": 0.5, "rec2-000": 0.25, "rec2-001": 0.55}


def test_compute_utt2dur_missing_audio(tmp_path):
    write_data_dir(tmp_path / "d", wav_scp={"a": str(tmp_path / "gone.wav")}, utt2spk={"a": "s"})
    with pytest.raises(DataError, match=r"wav.scp:1: audio file not found"):
        compute_utt2dur(tmp_path / "d")
    assert not (tmp_path / "d" / "utt2dur").exists()


def _float_wav(path, bad_value, bad_at=100, frames=1600, rate=16000):
    """A float32 wav whose sample ``bad_at`` is ``bad_value`` (NaN or inf); soundfile stores it as written."""
    data = np.linspace(-0.5, 0.5, frames, dtype=np.float32)
    data[bad_at] = bad_value
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, rate, subtype="FLOAT")
    assert not np.isfinite(sf.read(str(path), dtype="float32")[0][bad_at])  # the value survived the round trip
    return path


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_rejected_for_paths_and_pipes(tmp_path, bad_value):
    path = _float_wav(tmp_path / "bad.wav", bad_value, bad_at=123)
    for value in (str(path), f"cat {path} |"):
        with pytest.raises(DataError) as err:
            read_wav_scp_entry(value, path_for_errors="data/x/wav.scp", lineno=4)
        msg = str(err.value)
        assert msg.startswith("data/x/wav.scp:4: ") and "non-finite" in msg and "sample 123" in msg, msg


def test_non_finite_samples_in_segments_and_utt2dur(tmp_path, wav_factory):
    good, _ = wav_factory("good.wav", 0.5)
    bad = _float_wav(tmp_path / "wav" / "bad.wav", np.nan, bad_at=16000 * 3 // 4, frames=16000)
    write_data_dir(tmp_path / "s", wav_scp={"a": str(good), "b": str(bad)},
                   segments={"a-0": ("a", 0.0, 0.3), "b-0": ("b", 0.0, 0.5), "b-1": ("b", 0.5, 1.0)},
                   utt2spk={"a-0": "s", "b-0": "s", "b-1": "s"})
    with pytest.raises(DataError) as err:
        list(iter_audio(tmp_path / "s"))
    assert str(err.value).startswith(f"{tmp_path / 's' / 'wav.scp'}:2: ") and "non-finite" in str(err.value)
    write_data_dir(tmp_path / "d", wav_scp={"a": str(good), "b": f"cat {bad} |"}, utt2spk={"a": "s", "b": "s"})
    with pytest.raises(DataError, match=r"wav.scp:2: .*non-finite"):
        compute_utt2dur(tmp_path / "d")  # a pipe is decoded for its duration, so it is checked too
