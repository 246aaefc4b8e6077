"""Opus DTX chunking: the rule on packet sizes, boundaries against a generated session's truth, bad input."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.data.dtx import DtxConfig, chunk_frames, segment_recording, speech_mask
from voxrecipes.errors import DataError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                  reason="espeak-ng and sox are needed to generate a session")

#: tolerances of the boundary test (seconds): the onset of a chunk is the speech onset within 2 frames; its
#: end lies after the speech end by the encoder's VAD hangover (about 0.2-0.4 s), at most END_SLACK
ONSET_TOLERANCE = 0.06
END_SLACK = 0.6


def test_speech_mask_keepalive_packets_are_silence():
    sizes = np.array([1, 1, 40, 1, 1, 40, 40, 1, 1, 0, 60])
    mask = speech_mask(sizes, DtxConfig(max_dtx_bytes=2, keepalive_frames=1))
    # the lone 40 inside DTX is a comfort-noise refresh; two in a row are speech; a run at the edge is kept
    assert mask.tolist() == [False, False, False, False, False, True, True, False, False, False, True]


def test_chunk_frames_cuts_at_gaps_and_drops_short_chunks():
    speech = np.zeros(400, dtype=bool)
    speech[10:100] = True    # 1.8 s
    speech[110:150] = True   # gap of 10 frames (0.2 s) < min_gap: same chunk
    speech[200:240] = True   # gap of 50 frames (1 s): new chunk, 0.8 s long
    speech[300:310] = True   # gap 60: 0.2 s, too short
    chunks, dropped = chunk_frames(speech, DtxConfig(min_gap=0.5, min_chunk=0.5, max_chunk=60))
    assert chunks == [(10, 150), (200, 240)]
    assert dropped == 1


def test_long_chunks_split_at_longest_inner_silence():
    speech = np.ones(500, dtype=bool)  # 10 s
    speech[100:105] = False   # 0.1 s silence
    speech[300:320] = False   # 0.4 s silence: the longest, split here first
    chunks, _ = chunk_frames(speech, DtxConfig(min_gap=0.5, min_chunk=0.0, max_chunk=6.0))
    assert chunks == [(0, 300), (320, 500)]
    chunks, _ = chunk_frames(np.ones(500, dtype=bool), DtxConfig(min_gap=0.5, min_chunk=0.0, max_chunk=4.0))
    assert chunks == [(0, 167), (167, 333), (333, 500)]  # no silence: equal parts of at most 4 s


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from voxrecipes.corpora.mini_sessions import SessionConfig, generate, read_truth

    out = tmp_path_factory.mktemp("sessions") / "corpus"
    cfg = SessionConfig(sessions_per_split={"test": 1}, min_session_seconds=40, max_session_seconds=45,
                        turn_gap=(0.3, 2.0))
    generate(out, cfg, seed=3, nj=2)
    wav = next((out / "audio" / "test").glob("*.wav"))
    return wav, read_truth(out / "truth" / "sentences.tsv")


@needs_espeak
def test_dtx_boundaries_match_the_generated_truth(session):
    wav, truth = session
    cfg = DtxConfig(min_gap=0.5, min_chunk=0.0, max_chunk=60.0)
    chunks = segment_recording(wav, cfg).chunks
    gaps = [(a.end, b.start) for a, b in zip(truth, truth[1:])]
    assert any(b - a < 0.3 for a, b in gaps) and sum(b - a > 1.0 for a, b in gaps) >= 3  # the test means something
    for end, start in gaps:
        inside = [c for c in chunks if c[0] < end and c[1] > start]  # a chunk holding both sides of the gap
        if start - end >= cfg.min_gap + END_SLACK:
            assert not inside, f"no cut in the {start - end:.2f} s pause at {end:.2f}"
        elif start - end < cfg.min_gap:
            assert inside, f"a cut in the {start - end:.2f} s pause inside a turn at {end:.2f}"
    # every sentence lies inside one chunk; each chunk starts at a sentence's onset and ends after its last one
    for sentence in truth:
        assert any(c[0] - ONSET_TOLERANCE <= sentence.start and sentence.end <= c[1] for c in chunks), sentence
    for k, (start, end) in enumerate(chunks):
        members = [s for s in truth if s.start >= start - ONSET_TOLERANCE and s.end <= end]
        assert members, (start, end)
        if k > 0:  # libopus learns the noise floor during the first seconds: the first chunk may start early
            assert abs(start - members[0].start) <= ONSET_TOLERANCE
        assert 0.0 <= end - members[-1].end <= END_SLACK


def _write(path, samples, rate=16000):
    sf.write(str(path), samples, rate, subtype="PCM_16")
    return path


def test_bad_recordings_are_named(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match=r"8000 Hz.*16000"):
        segment_recording(_write(tmp_path / "a.wav", rng.uniform(-0.1, 0.1, 16000), 8000), DtxConfig())
    with pytest.raises(DataError, match="2 channels"):
        segment_recording(_write(tmp_path / "b.wav", rng.uniform(-0.1, 0.1, (16000, 2))), DtxConfig())
    with pytest.raises(DataError, match=r"c\.wav: 0\.50 s of audio, shorter"):
        segment_recording(_write(tmp_path / "c.wav", rng.uniform(-0.1, 0.1, 8000)), DtxConfig())
    (tmp_path / "d.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(DataError, match="cannot read audio"):
        segment_recording(tmp_path / "d.wav", DtxConfig())


def test_cli_silent_recording_fails_without_output(tmp_path, capsys):
    from voxrecipes.bin import dtx_segment
    from voxrecipes.cli import run

    audio = tmp_path / "audio"
    audio.mkdir()
    _write(audio / "quiet.wav", np.zeros(16000 * 5))
    out = tmp_path / "chunks"
    with pytest.raises(SystemExit) as err:
        run(dtx_segment.main, dtx_segment.get_parser(), ["--audio_dir", str(audio), "--out_dir", str(out)])
    assert err.value.code == 1
    assert "quiet.wav: no chunk of at least 1.0 s" in capsys.readouterr().err
    assert not out.exists()


def _voiced(seconds: float, bursts: list[tuple[float, float]], rate: int = 16000) -> np.ndarray:
    """Silence with amplitude-modulated 220 Hz tone bursts (libopus's VAD calls them active) over weak noise."""
    rng = np.random.default_rng(1)
    samples = np.zeros(int(seconds * rate))
    for start, end in bursts:
        t = np.arange(int((end - start) * rate)) / rate
        burst = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        samples[int(start * rate):int(start * rate) + len(t)] = burst + 0.05 * rng.standard_normal(len(t))
    return samples


@pytest.mark.parametrize("bad,message", [
    ("rate", r"b_bad\.wav: sample rate 8000 Hz; the Opus DTX segmenter needs 16000"),
    ("stereo", r"b_bad\.wav: 2 channels; the segmenter needs mono"),
    ("short", r"b_bad\.wav: 0\.50 s of audio, shorter than the shortest chunk"),
    ("silent", r"b_bad\.wav: no chunk of at least 1\.0 s"),
])
def test_cli_bad_recording_after_a_good_one_names_it_and_writes_nothing(tmp_path, capsys, bad, message):
    """A directory whose second recording is bad: exit 1, the message names that file, and neither a new nor a
    previously written data dir is touched (no partial output)."""
    from voxrecipes.bin import dtx_segment
    from voxrecipes.cli import run

    audio = tmp_path / "audio"
    audio.mkdir()
    _write(audio / "a_good.wav", _voiced(8.0, [(1.0, 3.0), (5.0, 7.0)]))
    out = tmp_path / "chunks"
    run(dtx_segment.main, dtx_segment.get_parser(), ["--audio_dir", str(audio), "--out_dir", str(out)])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len((out / "segments").read_text().splitlines()) == 2  # the good recording alone: its two bursts
    rng = np.random.default_rng(2)
    samples = {"rate": (rng.uniform(-0.1, 0.1, 8000 * 3), 8000),
               "stereo": (rng.uniform(-0.1, 0.1, (16000 * 3, 2)), 16000),
               "short": (_voiced(0.5, [(0.0, 0.5)]), 16000), "silent": (np.zeros(16000 * 5), 16000)}[bad]
    _write(audio / "b_bad.wav", *samples)
    for target in (out, tmp_path / "fresh"):
        with pytest.raises(SystemExit) as err:
            run(dtx_segment.main, dtx_segment.get_parser(), ["--audio_dir", str(audio), "--out_dir", str(target)])
        assert err.value.code == 1
        assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "fresh").exists() and not (tmp_path / "fresh.tmp").exists()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
