"""The long-session generator (truth spans against the audio, determinism, config errors) and the
labeller's text-only set (disjoint from the sessions' phrases, label format)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.corpora.mini_sessions import SessionConfig, generate, plan_sessions, read_truth
from voxrecipes.errors import ConfigError, DataError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                  reason="espeak-ng and sox are needed")
SMALL = SessionConfig(sessions_per_split={"train": 1, "test": 1}, min_session_seconds=15, max_session_seconds=18,
                      snr_db=30.0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("s") / "corpus"
    stats = generate(out, SMALL, seed=5, nj=2)
    return out, stats


@needs_espeak
def test_truth_spans_are_where_the_speech_is(corpus):
    out, stats = corpus
    truth = read_truth(out / "truth" / "sentences.tsv")
    assert stats["sessions"] == 2 and stats["sentences"] == len(truth)
    assert {t.split for t in truth} == {"train", "test"} and {t.language for t in truth} == {"en", "es"}
    for split in ("train", "test"):
        wav = next((out / "audio" / split).glob("*.wav"))
        audio, rate = sf.read(str(wav), dtype="float64")
        assert rate == 16000 and audio.ndim == 1
        spans = [t for t in truth if t.session == wav.stem]
        inside = np.zeros(len(audio), dtype=bool)
        for t in spans:
            inside[int(t.start * rate):int(t.end * rate)] = True
        speech_rms = np.sqrt(np.mean(audio[inside] ** 2))
        noise_rms = np.sqrt(np.mean(audio[~inside] ** 2))
        # outside the spans only the background noise, snr_db below the speech (a rounding margin of 1 dB)
        assert 20 * np.log10(speech_rms / noise_rms) == pytest.approx(SMALL.snr_db, abs=1.0)
        assert spans[0].start >= SMALL.lead_silence[0] - 1e-3
        assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
        assert len(audio) / rate == pytest.approx(spans[-1].end + SMALL.tail_silence, abs=1e-3)


@needs_espeak
def test_same_seed_same_bytes(corpus, tmp_path):
    out, _ = corpus
    generate(tmp_path / "again", SMALL, seed=5, nj=1)
    for rel in ["truth/sentences.tsv", "truth/sessions.tsv"]:
        assert (tmp_path / "again" / rel).read_bytes() == (out / rel).read_bytes()
    for wav in (out / "audio").rglob("*.wav"):
        assert (tmp_path / "again" / wav.relative_to(out)).read_bytes() == wav.read_bytes()


def test_plan_has_turns_toxic_sentences_and_short_inner_gaps():
    sessions = plan_sessions(SessionConfig(sessions_per_split={"train": 5}), seed=0)
    sentences = [s for session in sessions for s in session.sentences]
    assert [s.language for s in sessions] == ["en", "es", "fr", "de", "pt"]
    toxic = [s for s in sentences if s.labels != ["No_Violation"]]
    assert 0.15 < len(toxic) / len(sentences) < 0.45
    assert all(len(session.sentences) >= 10 and len({s.speaker for s in session.sentences}) >= 2
               for session in sessions)


def test_bad_config_is_an_error():
    with pytest.raises(ConfigError, match="toxic_share"):
        plan_sessions(SessionConfig(toxic_share=1.5), seed=0)
    with pytest.raises(ConfigError, match="min_session_seconds"):
        plan_sessions(SessionConfig(min_session_seconds=90, max_session_seconds=60), seed=0)


def test_truth_reader_names_bad_lines(tmp_path):
    path = tmp_path / "sentences.tsv"
    path.write_text("session\tsplit\tlanguage\tspeaker\tstart\tend\tlabels\ttext\ns\ttrain\ten\tx\t2.0\t1.0\tNo_Violation\thi\n")
    with pytest.raises(DataError, match=r"sentences.tsv:2: need end > start"):
        read_truth(path)


def test_text_set_is_written_apart_from_the_session_phrases(tmp_path):
    from voxrecipes.corpora.mini_toxicity import PHRASES
    from voxrecipes.corpora.toxic_text_set import TEXTS, write_text_set
    from voxrecipes.data.table import read_table

    for lang, classes in TEXTS.items():
        spoken = {p.lower() for phrases in PHRASES[lang].values() for p in phrases}
        assert not spoken & {t.lower() for texts in classes.values() for t in texts}, lang
    counts = write_text_set(tmp_path / "set", {"train": 50, "dev": 20}, seed=0)
    assert counts == {"train": 50, "dev": 20}
    labels = read_table(tmp_path / "set" / "train" / "utt2labels")
    texts = read_table(tmp_path / "set" / "train" / "text")
    assert list(labels) == list(texts) and len(labels) == 50
    for value in labels.values():
        names = value.split()
        assert names == ["No_Violation"] or (names and "No_Violation" not in names)
