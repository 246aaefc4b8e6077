"""The ASR stage with real pretrained Whispers on espeak-ng speech, offline.

faster-whisper runs Whisper tiny.en (``package:whisper_tiny_en``, int8, one thread) on a
few English sentences; the multilingual Whisper-base (``package:whisper_base``) checks
that ``utt2lang`` reaches the decoder per utterance; the transformers backend runs the
converted tiny.en with timestamps. Every Whisper pads its input to 30 s, so each
utterance costs a full encoder pass: the sets here are a handful of utterances.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.cli import run
from voxrecipes.data.datadir import write_data_dir
from voxrecipes.errors import ConfigError
from voxrecipes.metrics.wer import word_error_rate

SENTENCES = {"spk1-a": "She went to the market to buy some bread.",
             "spk1-b": "I would like a cup of coffee, please."}
#: one utterance of two sentences with 1.5 s of silence between them: Whisper gives two segments
FIRST, SECOND, GAP = "Good morning everyone.", "Thank you very much for coming.", 1.5
TINY_EN = "package:whisper_tiny_en"


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict:
    """The sentences and the two-sentence utterance as 16 kHz wavs, with the second sentence's span."""
    from voxrecipes.corpora.synth import Prosody, check_tools, concatenate, synthesize

    check_tools()
    root = tmp_path_factory.mktemp("speech")
    wavs = {}
    for utt, text in SENTENCES.items():
        synthesize(text, "en-us", Prosody(), root / f"{utt}.wav")
        wavs[utt] = root / f"{utt}.wav"
    synthesize(FIRST, "en-us", Prosody(), root / "first.wav")
    synthesize(SECOND, "en-us", Prosody(), root / "second.wav")
    spans = concatenate([root / "first.wav", root / "second.wav"], root / "spk2-c.wav", gaps=[0.2, GAP])
    wavs["spk2-c"] = root / "spk2-c.wav"
    synthesize("Buenos días, me llamo Juan y vivo en Madrid.", "es", Prosody(), root / "spk3-es.wav")
    wavs["spk3-es"] = root / "spk3-es.wav"
    return {"root": root, "wavs": wavs, "second_span": spans[1]}


@pytest.fixture(scope="module")
def tiny_en():
    from voxrecipes.models.asr_faster_whisper import FasterWhisperTranscriber

    return FasterWhisperTranscriber(TINY_EN, cpu_threads=1)


def wave(speech, utt) -> np.ndarray:
    samples, rate = sf.read(str(speech["wavs"][utt]), dtype="float32")
    assert rate == 16000
    return samples


def cli(argv: list[str]) -> None:
    from voxrecipes.bin import transcribe

    run(transcribe.main, transcribe.get_parser(), [*argv, "--no_progress"])


def test_tiny_en_batched_equals_one_by_one(tiny_en, speech):
    assert tiny_en.backend == "faster_whisper" and not tiny_en.multilingual
    assert tiny_en.compute_type == "int8" and tiny_en.num_beams == 1  # int8 on CPU, greedy: the defaults
    waves = [wave(speech, u) for u in SENTENCES]
    batched = tiny_en.transcribe_batch(waves, "en")
    alone = [tiny_en.transcribe_batch([w], "en")[0] for w in waves]
    assert [h.text for h in batched] == [h.text for h in alone]  # no audio of one clip reaches another
    report = word_error_rate(SENTENCES, dict(zip(SENTENCES, (h.text for h in batched))))
    assert report["wer"] <= 0.25, (report, [h.text for h in batched])


def test_segments_are_relative_to_their_utterance(tiny_en, speech):
    """The two-sentence utterance decoded second in a batch: its segments start from its own 0."""
    short, long = wave(speech, "spk1-a"), wave(speech, "spk2-c")
    hyp = tiny_en.transcribe_batch([short, long], "en")[1]
    duration = len(long) / 16000
    assert len(hyp.segments) == 2, hyp
    first, second = hyp.segments
    assert 0.0 <= first.start < 0.5 and first.end <= second.start <= second.end <= duration
    start, _ = speech["second_span"]
    assert abs(second.start - start) < 0.6, (second, start)  # Whisper's boundary, near where the sentence starts
    assert "morning" in first.text.lower() and "thank" in second.text.lower()
    assert hyp.text == f"{first.text} {second.text}" and hyp.language == "en"


def test_cli_faster_whisper_writes_text_segments_and_wer(speech, tmp_path, capsys):
    utts = ["spk1-a", "spk1-b", "spk2-c"]
    refs = {**SENTENCES, "spk2-c": f"{FIRST} {SECOND}"}
    data = tmp_path / "data" / "set1"
    write_data_dir(data, wav_scp={u: str(speech["wavs"][u]) for u in utts},
                   utt2spk={u: u.split("-")[0] for u in utts}, text=refs,
                   utt2lang={"spk1-a": "en", "spk1-b": "de", "spk2-c": "en"})
    out = tmp_path / "asr" / "set1"
    cli(["--asr_backend", "faster_whisper", "--model", TINY_EN, "--cpu_threads", "1", "--batch_size", "2",
         "--data", str(data), "--out_dir", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["segments.jsonl", "text", "wer.json"]
    hyps = dict(line.split(" ", 1) for line in (out / "text").read_text().splitlines())
    assert list(hyps) == utts
    records = [json.loads(line) for line in (out / "segments.jsonl").read_text().splitlines()]
    assert [r["utt"] for r in records] == utts and [r["language"] for r in records] == ["en"] * 3
    for record in records:
        assert list(record) == ["utt", "language", "segments"]
        assert " ".join(s["text"] for s in record["segments"]) == hyps[record["utt"]]
        assert all(list(s) == ["start", "end", "text"] for s in record["segments"])
    assert len(records[2]["segments"]) == 2
    # the WER file equals an independent scoring of the written text against the reference
    report = json.loads((out / "wer.json").read_text())
    expected = word_error_rate(refs, hyps, empty_placeholder="<empty>")
    assert {k: report[k] for k in expected} == expected
    assert (report["set"], report["model"], report["backend"]) == ("set1", TINY_EN, "faster_whisper")
    assert report["wer"] <= 0.25
    log = capsys.readouterr().err
    assert "in int8" in log and "WER of" in log and "s CPU" in log
    assert "English-only: utterances in 'de' are decoded as English" in log


def test_whisper_base_decodes_each_utterance_in_its_utt2lang(speech, tmp_path, monkeypatch):
    """Spanish and English utterances of one set: two batches, each decoded in its own language."""
    from faster_whisper import BatchedInferencePipeline

    from voxrecipes.models.asr import transcribe_data_dir
    from voxrecipes.models.asr_faster_whisper import FasterWhisperTranscriber

    calls = []
    original = BatchedInferencePipeline.transcribe

    def spy(self, audio, **kwargs):
        calls.append((kwargs["language"], kwargs["multilingual"], kwargs["batch_size"]))
        return original(self, audio, **kwargs)

    monkeypatch.setattr(BatchedInferencePipeline, "transcribe", spy)
    utts = ["spk1-a", "spk3-es"]
    data = tmp_path / "data" / "mixed"
    write_data_dir(data, wav_scp={u: str(speech["wavs"][u]) for u in utts}, utt2spk={u: u[:4] for u in utts},
                   utt2lang={"spk1-a": "en", "spk3-es": "es"})
    transcriber = FasterWhisperTranscriber("package:whisper_base", cpu_threads=1)
    assert transcriber.multilingual
    transcribe_data_dir(transcriber, data, tmp_path / "out", batch_size=8, progress=False)
    assert sorted(calls) == [("en", False, 1), ("es", False, 1)]
    hyps = dict(line.split(" ", 1) for line in (tmp_path / "out" / "text").read_text().splitlines())
    assert "buenos" in hyps["spk3-es"].lower() and "market" in hyps["spk1-a"].lower(), hyps
    languages = [json.loads(line)["language"] for line in (tmp_path / "out" / "segments.jsonl").read_text()
                 .splitlines()]
    assert languages == ["en", "es"]
    # without a language the model detects it per utterance, inside the batch
    calls.clear()
    (data / "utt2lang").unlink()
    hyps = transcriber.transcribe([wave(speech, "spk3-es")], batch_size=8)
    assert calls == [(None, True, 1)] and "buenos" in hyps[0].lower(), hyps


def test_repetition_loop_is_decoded_again_with_fallback(tiny_en, speech, monkeypatch):
    """A hypothesis that fails Whisper's compression test is decoded again alone, with temperature fallback."""
    from types import SimpleNamespace

    loop = " that was the only thing" * 40
    fake = [SimpleNamespace(seek=0, start=0.0, end=2.0, text=loop)]
    monkeypatch.setattr(tiny_en.pipeline, "transcribe", lambda audio, **kwargs: (iter(fake), None))
    before = tiny_en.fallbacks
    hyp = tiny_en.transcribe_batch([wave(speech, "spk1-a")], "en")[0]
    assert tiny_en.fallbacks == before + 1
    assert "market" in hyp.text.lower() and "only thing" not in hyp.text, hyp
    tiny_en.fallback = False
    try:
        assert tiny_en.transcribe_batch([wave(speech, "spk1-a")], "en")[0].text == " ".join(loop.split())
    finally:
        tiny_en.fallback = True


def test_packed_utterances_get_their_own_words(tiny_en, speech, monkeypatch):
    """--pack_seconds: three utterances in one window, decoded once; each gets back its own words and segments."""
    utts = ["spk1-a", "spk1-b", "spk2-c"]
    refs = {**SENTENCES, "spk2-c": f"{FIRST} {SECOND}"}
    waves = [wave(speech, u) for u in utts]
    calls = []
    real = tiny_en.pipeline.transcribe

    def counting(audio, **kwargs):
        calls.append(len(kwargs["clip_timestamps"]))
        return real(audio, **kwargs)

    monkeypatch.setattr(tiny_en.pipeline, "transcribe", counting)
    monkeypatch.setattr(tiny_en, "pack_seconds", 28.0)
    before = tiny_en.unpacked
    hyps = tiny_en.transcribe_batch(waves, "en")
    assert calls == [1] and tiny_en.unpacked == before  # one window, one call, nothing decoded again
    texts = {u: h.text for u, h in zip(utts, hyps, strict=True)}
    assert word_error_rate(refs, texts)["wer"] <= 0.25, texts
    # no word of one utterance lands on another
    assert "market" in texts["spk1-a"].lower() and "coffee" not in texts["spk1-a"].lower()
    assert "coffee" in texts["spk1-b"].lower() and not {"market", "morning"} & set(texts["spk1-b"].lower().split())
    assert "morning" in texts["spk2-c"].lower() and "coffee" not in texts["spk2-c"].lower()
    for hyp, w in zip(hyps, waves, strict=True):
        assert hyp.segments and hyp.text == " ".join(s.text for s in hyp.segments) and hyp.language == "en"
        assert all(0.0 <= s.start <= s.end <= len(w) / 16000 for s in hyp.segments)
    # the two sentences of spk2-c keep their own segments, the second starting near where it was spoken
    second = next(s for s in hyps[2].segments if "thank" in s.text.lower())
    assert abs(second.start - speech["second_span"][0]) < 0.6, (hyps[2].segments, speech["second_span"])


def test_packed_window_that_loops_is_decoded_again_one_per_clip(tiny_en, speech, monkeypatch):
    """A packed window whose text fails the repetition test: its utterances are decoded again, one per clip."""
    from types import SimpleNamespace

    waves = [wave(speech, u) for u in SENTENCES]
    words = [SimpleNamespace(start=0.1 * k, end=0.1 * k + 0.1, word=" miss me,") for k in range(60)]
    loop = [SimpleNamespace(seek=0, start=0.0, end=6.0, text=" miss me," * 60, words=words)]
    real = tiny_en.pipeline.transcribe
    monkeypatch.setattr(tiny_en.pipeline, "transcribe",
                        lambda audio, **kw: (iter(loop), None) if kw.get("word_timestamps") else real(audio, **kw))
    monkeypatch.setattr(tiny_en, "pack_seconds", 28.0)
    before = tiny_en.unpacked
    hyps = tiny_en.transcribe_batch(waves, "en")
    assert tiny_en.unpacked == before + 2
    assert "market" in hyps[0].text.lower() and "coffee" in hyps[1].text.lower(), hyps
    assert not any("miss me" in h.text for h in hyps)


def test_packing_options_are_checked(tmp_path, error_line):
    from voxrecipes.models.asr_faster_whisper import FasterWhisperTranscriber

    with pytest.raises(ConfigError, match="pack_seconds must be between 0"):
        FasterWhisperTranscriber(TINY_EN, cpu_threads=1, pack_seconds=31.0)
    with pytest.raises(ConfigError, match="pack_gap_seconds must be >= 0"):
        FasterWhisperTranscriber(TINY_EN, cpu_threads=1, pack_seconds=20.0, pack_gap_seconds=-1.0)
    error = error_line.run(cli, ["--asr_backend", "transformers", "--model", TINY_EN, "--pack_seconds", "20",
                                 "--data", str(tmp_path / "none"), "--out_dir", str(tmp_path / "o")])
    assert "--pack_seconds and --pack_gap_seconds are options of --asr_backend faster_whisper" in error
    assert not (tmp_path / "o").exists()


def test_transformers_backend_segments_with_english_only_whisper(speech, one_thread):
    """The converted tiny.en through the pipeline: no task/language for an English-only model, timestamps on."""
    from voxrecipes.models.asr import Transcriber

    transcriber = Transcriber(TINY_EN, language="en")
    assert transcriber.timestamps and not transcriber.multilingual
    assert "task" not in transcriber.generate_kwargs and "language" not in transcriber.generate_kwargs
    short, long = wave(speech, "spk1-a"), wave(speech, "spk2-c")
    hyps = transcriber.transcribe_batch([short, long], "en")
    assert "market" in hyps[0].text.lower() and len(hyps[0].segments) == 1
    first, second = hyps[1].segments
    start, _ = speech["second_span"]
    assert first.start < 0.5 and abs(second.start - start) < 0.6 and second.end <= len(long) / 16000
    assert "morning" in first.text.lower() and "thank" in second.text.lower()
    assert transcriber.decoding_language("de") == "en"  # English-only: everything decodes as English
    with pytest.raises(ConfigError, match="language 'xx'"):
        transcriber.decoding_language("xx")


# -- bad input --------------------------------------------------------------------------------


def test_missing_or_incomplete_ct2_dir_fails_before_reading_data(tmp_path, error_line):
    data = tmp_path / "data" / "none"  # not even a data dir: the model is checked first
    missing = tmp_path / "no" / "ct2"
    error = error_line.run(cli, ["--asr_backend", "faster_whisper", "--model", str(missing), "--data", str(data),
                               "--out_dir", str(tmp_path / "o")])
    assert str(missing) in error and "CTranslate2 Whisper model not found" in error
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    error = error_line.run(cli, ["--asr_backend", "faster_whisper", "--model", str(partial), "--data", str(data),
                               "--out_dir", str(tmp_path / "o")])
    assert str(partial) in error and "model.bin" in error
    assert not (tmp_path / "o").exists()


def test_bad_options_are_config_errors(tiny_en):
    from voxrecipes.models.asr_faster_whisper import FasterWhisperTranscriber, split_device

    with pytest.raises(ConfigError, match="language 'xx' is not one of package:whisper_tiny_en's languages"):
        tiny_en.decoding_language("xx")
    with pytest.raises(ConfigError, match="device 'gpu' is not one of cpu, cuda, cuda:N, auto"):
        split_device("gpu")
    assert split_device("cpu") == ("cpu", 0)
    with pytest.raises(ConfigError, match="cannot load ASR model 'package:whisper_tiny_en'.*compute_type int3"):
        FasterWhisperTranscriber(TINY_EN, compute_type="int3")
    with pytest.raises(ConfigError, match="language 'xx'"):
        FasterWhisperTranscriber(TINY_EN, language="xx")


def test_long_input_goes_through_long_form_decoding(tiny_en, speech):
    """Over the 30 s window: sequential long-form decoding, segments beyond 30 s, times from the utterance."""
    pieces = [wave(speech, u) for u in ("spk1-a", "spk1-b", "spk2-c")]
    silence = np.zeros(16000 * 11, np.float32)
    long = np.concatenate([pieces[0], silence, pieces[1], silence, pieces[2]])
    assert len(long) > tiny_en.long_form_samples
    hyp = tiny_en.transcribe_batch([long], "en")[0]
    assert hyp.segments[-1].end > 30.0 and hyp.segments[-1].end <= len(long) / 16000
    assert "market" in hyp.text.lower() and "thank" in hyp.text.lower(), hyp
