"""The ASR stage on tiny models built from configs (random weights, no downloads).

The CTC model is a one-layer Wav2Vec2ForCTC whose output layer has zero weights and a
bias that makes one token win every frame: bias on ``a`` -> every hypothesis is ``a``;
bias on the blank (pad) token -> every hypothesis is empty. The Whisper model is a
one-layer WhisperForConditionalGeneration with a byte-level BPE tokenizer written here;
its generation config suppresses every token but ``a``, so greedy decoding writes ``a``
until the length limit.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.cli import run
from voxrecipes.data.datadir import DataDir, write_data_dir
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.models.asr import (
    DEFAULT_EMPTY_PLACEHOLDER,
    BatchedTranscriber,
    Segment,
    Transcriber,
    check_backend,
    check_placeholder,
    clean_hypothesis,
    make_hypothesis,
    read_segments,
    transcribe_data_dir,
    transcribe_data_dirs,
)
from voxrecipes.models.text_encoder import resolve_model_path

SR = 16000
CTC_VOCAB = {"<pad>": 0, "<unk>": 1, "|": 2, "a": 3, "b": 4, "c": 5}
WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|de|>", "<|translate|>", "<|transcribe|>",
                    "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]


# -- tiny models ------------------------------------------------------------------------------

def _save_ctc(out: Path, winner: str) -> Path:
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    out.mkdir(parents=True)
    vocab_file = out / "vocab.json"
    vocab_file.write_text(json.dumps(CTC_VOCAB))
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, padding_value=0.0, do_normalize=True,
                                         return_attention_mask=True)
    config = Wav2Vec2Config(vocab_size=len(CTC_VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=32, conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8),
                            num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2, pad_token_id=0,
                            feat_extract_norm="layer", do_stable_layer_norm=True)
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(config)
    with torch.no_grad():  # the output is known: one token wins every frame
        model.lm_head.weight.zero_()
        model.lm_head.bias.zero_()
        model.lm_head.bias[CTC_VOCAB[winner]] = 10.0
    model.save_pretrained(out)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)
    return out


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the base vocabulary of a byte-level BPE)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


def _save_whisper(out: Path) -> Path:
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    out.mkdir(parents=True)
    vocab = {char: i for i, char in enumerate(_bytes_to_unicode().values())}
    for token in WHISPER_SPECIALS:
        vocab[token] = len(vocab)
    (out / "src_vocab.json").write_text(json.dumps(vocab))
    (out / "src_merges.txt").write_text("#version: 0.2\n")
    eot = WHISPER_SPECIALS[0]
    tokenizer = WhisperTokenizer(str(out / "src_vocab.json"), str(out / "src_merges.txt"), unk_token=eot,
                                 bos_token=eot, eos_token=eot, pad_token=eot)
    tokenizer.add_special_tokens({"additional_special_tokens": WHISPER_SPECIALS[1:]})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in WHISPER_SPECIALS}
    extractor = WhisperFeatureExtractor(feature_size=8, sampling_rate=SR, hop_length=160, chunk_length=30, n_fft=400)
    config = WhisperConfig(vocab_size=len(tokenizer), num_mel_bins=8, d_model=16, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                           decoder_ffn_dim=32, max_source_positions=1500, max_target_positions=64,
                           pad_token_id=ids[eot], bos_token_id=ids[eot], eos_token_id=ids[eot],
                           decoder_start_token_id=ids["<|startoftranscript|>"])
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    keep = vocab["a"]
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids[eot], pad_token_id=ids[eot],
        bos_token_id=ids[eot], is_multilingual=True, lang_to_id={"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], max_length=8, begin_suppress_tokens=[],
        suppress_tokens=[i for i in range(len(tokenizer)) if i != keep])  # only "a" can be generated
    model.save_pretrained(out)
    WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def ctc_a(tmp_path_factory) -> Path:
    return _save_ctc(tmp_path_factory.mktemp("asr") / "ctc_a", "a")


@pytest.fixture(scope="module")
def ctc_blank(tmp_path_factory) -> Path:
    return _save_ctc(tmp_path_factory.mktemp("asr") / "ctc_blank", "<pad>")


@pytest.fixture(scope="module")
def whisper(tmp_path_factory) -> Path:
    return _save_whisper(tmp_path_factory.mktemp("asr") / "whisper")


@pytest.fixture(scope="module")
def ctc_transcriber(ctc_a) -> Transcriber:
    return Transcriber(str(ctc_a), device="cpu")


# -- tiny data dirs ---------------------------------------------------------------------------

def _wav(path: Path, seconds: float, rate: int = SR, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), rng.uniform(-0.3, 0.3, int(round(seconds * rate))).astype(np.float32), rate,
             subtype="PCM_16")
    return path


def make_plain_dir(root: Path, name: str = "plain") -> tuple[Path, list[str]]:
    """Four utterances whose ids sort differently in C and in natural order; one is an 8 kHz pipe."""
    utts = {"spk1-utt10": 0.5, "spk1-utt2": 0.3, "spk2-Zed": 0.8, "spk2-alpha": 0.4}
    wav_scp = {u: str(_wav(root / "wav" / f"{u}.wav", dur, seed=i)) for i, (u, dur) in enumerate(utts.items())}
    slow = _wav(root / "wav" / "slow.wav", 0.6, rate=8000, seed=9)
    wav_scp["spk2-alpha"] = f"cat {slow} |"
    write_data_dir(root / "data" / name, wav_scp=wav_scp, utt2spk={u: u.split("-")[0] for u in utts})
    return root / "data" / name, sorted(utts, key=lambda u: u.encode())


def make_segments_dir(root: Path) -> tuple[Path, list[str]]:
    """Two recordings cut into three segments (recording ids are not utterance ids)."""
    rec1, rec2 = _wav(root / "wav" / "rec1.wav", 1.0, seed=1), _wav(root / "wav" / "rec2.wav", 0.8, seed=2)
    segments = {"r1-000": ("rec1", 0.0, 0.4), "r1-001": ("rec1", 0.5, 1.0), "r2-000": ("rec2", 0.1, 0.7)}
    write_data_dir(root / "data" / "seg", wav_scp={"rec1": str(rec1), "rec2": str(rec2)}, segments=segments,
                   utt2spk={"r1-000": "s1", "r1-001": "s1", "r2-000": "s2"})
    return root / "data" / "seg", sorted(segments)


def cli(argv: list[str]) -> None:
    from voxrecipes.bin import transcribe

    run(transcribe.main, transcribe.get_parser(), [*argv, "--no_progress"])


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# -- helpers ----------------------------------------------------------------------------------

def test_resolve_asr_model(tmp_path, ctc_a):
    """The shared resolver names the ASR model in its messages (what="ASR")."""
    assert resolve_model_path(str(ctc_a), what="ASR") == str(ctc_a.resolve())
    assert resolve_model_path("openai/whisper-large-v3", what="ASR") == "openai/whisper-large-v3"
    with pytest.raises(ConfigError, match="ASR model directory not found: /nonexistent/asr/model"):
        resolve_model_path("/nonexistent/asr/model", what="ASR")
    (tmp_path / "no_config").mkdir()
    with pytest.raises(ConfigError, match="ASR model directory .* has no config.json"):
        resolve_model_path(str(tmp_path / "no_config"), what="ASR")
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match="ASR model .* is a file"):
        resolve_model_path(str(tmp_path / "model.bin"), what="ASR")
    with pytest.raises(ConfigError, match="not installed"):
        resolve_model_path("package:no_such_asr_package_xyz", what="ASR")


def test_clean_hypothesis_and_placeholder():
    assert clean_hypothesis("  Hello,\n  world\t again ") == "Hello, world again"
    assert clean_hypothesis(" \n\t") == ""
    assert check_placeholder(" <sil> ") == "<sil>"
    assert check_placeholder(DEFAULT_EMPTY_PLACEHOLDER) == "<empty>"
    with pytest.raises(ConfigError, match="must not be empty"):
        check_placeholder("  ")


# -- CTC --------------------------------------------------------------------------------------

def test_ctc_transcriber_batches_in_order(ctc_transcriber, caplog):
    assert ctc_transcriber.kind == "ctc" and not ctc_transcriber.is_whisper
    assert ctc_transcriber.generate_kwargs == {}  # no generate options for a CTC model
    assert ctc_transcriber.sampling_rate == SR
    rng = np.random.default_rng(0)
    waves = [rng.uniform(-0.3, 0.3, n).astype(np.float32) for n in (8000, 3000, 12000, 5000, 4000)]
    assert ctc_transcriber.transcribe(waves, batch_size=2) == ["a"] * 5
    batches: list[int] = []
    items = list(ctc_transcriber.transcribe_items(((f"u{i}", w) for i, w in enumerate(waves)), batch_size=2,
                                                  on_batch=batches.append, languages={"u1": "de"}))
    assert [key for key, _ in items] == [f"u{i}" for i in range(5)] and batches == [2, 2, 1]
    # a CTC model has no language: utt2lang does not split its batches; one segment over each utterance
    assert [(hyp.text, hyp.language) for _, hyp in items] == [("a", None)] * 5
    assert [[(s.start, s.end, s.text) for s in hyp.segments] for _, hyp in items] == [
        [(0.0, len(w) / SR, "a")] for w in waves]
    with caplog.at_level(logging.WARNING, logger="voxrecipes.models.asr"):
        Transcriber(str(ctc_transcriber.model_path), language="en")
    assert "--language en ignored" in caplog.text


def test_cli_ctc_writes_sorted_text_for_every_set(ctc_a, tmp_path, capsys):
    plain, plain_utts = make_plain_dir(tmp_path)
    seg, seg_utts = make_segments_dir(tmp_path)
    out1, out2 = tmp_path / "asr" / "plain", tmp_path / "asr" / "seg"
    cli(["--model", str(ctc_a), "--data", str(plain), str(seg), "--out_dir", str(out1), str(out2),
         "--batch_size", "3"])
    assert plain_utts == ["spk1-utt10", "spk1-utt2", "spk2-Zed", "spk2-alpha"]  # C order
    assert read_lines(out1 / "text") == [f"{u} a" for u in plain_utts]
    assert read_lines(out2 / "text") == [f"{u} a" for u in seg_utts]  # segments, not recordings
    assert (out1 / "text").read_bytes().endswith(b" a\n")
    # no reference text: no wer.json; no temporary file left behind
    assert sorted(p.name for p in out1.iterdir()) == ["segments.jsonl", "text"]
    # segments.jsonl: one record per utterance in the order of text; a CTC model gives one segment over it
    durations = {"spk1-utt10": 0.5, "spk1-utt2": 0.3, "spk2-Zed": 0.8, "spk2-alpha": 0.6}
    assert [json.loads(line) for line in read_lines(out1 / "segments.jsonl")] == [
        {"utt": u, "language": None, "segments": [{"start": 0.0, "end": durations[u], "text": "a"}]}
        for u in plain_utts]
    assert [json.loads(line)["segments"][0]["end"] for line in read_lines(out2 / "segments.jsonl")] == [0.4, 0.5, 0.6]
    log = capsys.readouterr().err
    assert f"ASR model {ctc_a}" in log
    assert f"transcribing 4 utterances of {plain} with {ctc_a}" in log
    assert f"transcribing 3 utterances of {seg} with {ctc_a}" in log
    # the written text is a valid transcript file of the data directory
    from voxrecipes.data.datadir import DataDir

    (plain / "text").write_text((out1 / "text").read_text())
    assert DataDir.load(plain).text == {u: "a" for u in plain_utts}


def test_empty_hypothesis_gets_placeholder(ctc_blank, tmp_path, caplog):
    data, utts = make_plain_dir(tmp_path)
    transcriber = Transcriber(str(ctc_blank))
    assert transcriber.transcribe([np.zeros(4000, np.float32)]) == [""]
    with caplog.at_level(logging.WARNING, logger="voxrecipes.models.asr"):
        count = transcribe_data_dir(transcriber, data, tmp_path / "out", batch_size=2, progress=False)
    assert count == 4
    assert read_lines(tmp_path / "out" / "text") == [f"{u} <empty>" for u in utts]
    assert "4 of 4 utterances" in caplog.text and "'<empty>'" in caplog.text
    transcribe_data_dir(transcriber, data, tmp_path / "out2", empty_placeholder="  <no  speech> ", progress=False)
    assert read_lines(tmp_path / "out2" / "text") == [f"{u} <no speech>" for u in utts]
    with pytest.raises(ConfigError, match="must not be empty"):
        transcribe_data_dir(transcriber, data, tmp_path / "out3", empty_placeholder="", progress=False)
    assert not (tmp_path / "out3").exists()


# -- Whisper ----------------------------------------------------------------------------------

def test_whisper_generate_options_and_cli(whisper, tmp_path, capsys, caplog):
    with caplog.at_level(logging.WARNING, logger="voxrecipes.models.asr"):
        transcriber = Transcriber(str(whisper), language="en", max_new_tokens=3)
    assert transcriber.is_whisper and transcriber.multilingual and transcriber.languages == ["de", "en"]
    # the tiny tokenizer has no <|0.00|>: timestamps are turned off, with a warning
    assert not transcriber.timestamps and "no Whisper timestamp tokens" in caplog.text
    assert transcriber.generate_kwargs == {"num_beams": 1, "do_sample": False, "max_new_tokens": 3,
                                           "task": "transcribe", "language": "en",
                                           "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),  # Whisper's fallback
                                           "compression_ratio_threshold": 1.35, "logprob_threshold": -1.0}
    plain = Transcriber(str(whisper), language="en", fallback=False)  # greedy only
    assert plain.generate_kwargs == {"num_beams": 1, "do_sample": False, "task": "transcribe", "language": "en"}
    rng = np.random.default_rng(1)
    waves = [rng.uniform(-0.3, 0.3, n).astype(np.float32) for n in (6000, 2000, 9000)]
    assert transcriber.transcribe(waves, batch_size=2) == ["aaa"] * 3
    # an input over Whisper's 30 s window goes through long-form generation in a batch of its own
    waves.insert(1, rng.uniform(-0.3, 0.3, 31 * SR).astype(np.float32))
    batches: list[int] = []
    hyps = list(transcriber.transcribe_items(enumerate(waves), batch_size=4, on_batch=batches.append))
    assert batches == [1, 3] and [i for i, _ in hyps] == [0, 1, 2, 3]
    assert all(hyp.text for _, hyp in hyps) and [hyp.text for _, hyp in hyps][2:] == ["aaa", "aaa"]
    # per-utterance languages: a batch holds one language; each hypothesis says what it was decoded as
    batches = []
    hyps = list(transcriber.transcribe_items(enumerate(waves[2:]), batch_size=4, on_batch=batches.append,
                                             languages={1: "de"}))
    assert batches == [1, 1] and [hyp.language for _, hyp in hyps] == ["en", "de"]
    with pytest.raises(ConfigError, match="language 'fr' is not one of"):
        transcriber.transcribe(waves[:1], languages=["fr"])
    auto = Transcriber(str(whisper))  # no language: Whisper detects it
    assert "language" not in auto.generate_kwargs and auto.generate_kwargs["task"] == "transcribe"

    data, utts = make_plain_dir(tmp_path)
    cli(["--model", str(whisper), "--data", str(data), "--out_dir", str(tmp_path / "out"), "--language", "de",
         "--batch_size", "2"])
    lines = read_lines(tmp_path / "out" / "text")
    assert [line.split(" ", 1)[0] for line in lines] == utts
    assert all(re.fullmatch(r"\S+ a+", line) for line in lines), lines
    assert "num_beams=1" in capsys.readouterr().err


# -- what the backends share: languages, segments.jsonl, wer.json -----------------------------

class ScriptedTranscriber(BatchedTranscriber):
    """A backend without a model: the hypothesis of a wave is scripted by its duration; batches are recorded."""

    backend = "scripted"
    model_spec = "scripted"
    sampling_rate = SR

    def __init__(self, script: dict[float, list[Segment]], language: str = "", multilingual: bool = True) -> None:
        super().__init__()
        self.script, self.language, self.multilingual = script, language, multilingual
        self.batches: list[tuple[list[float], str]] = []

    def known_language(self, language: str) -> bool:
        return language in ("en", "de", "es")

    def describe(self) -> str:
        return "scripted"

    def transcribe_batch(self, waves, language):
        durations = [round(len(w) / SR, 3) for w in waves]
        self.batches.append((durations, language))
        return [make_hypothesis(self.script[d], d, language or None) for d in durations]


# the plain dir's durations: spk1-utt10 0.5, spk1-utt2 0.3, spk2-Zed 0.8, spk2-alpha 0.6 (8 kHz pipe)
SCRIPT = {0.5: [Segment(0.0, 0.24, " Guten  Tag"), Segment(0.3, None, "zusammen.")],  # end unknown: 0.5
          0.3: [Segment(0.0, 0.3, "  ")],                                         # nothing: the placeholder
          0.8: [Segment(0.1, 0.5, "Hallo,"), Segment(0.5, 1.7, "Welt!")],          # end clipped to 0.8
          0.6: [Segment(0.02, 0.61, "Hola amigos")]}
REFERENCE = {"spk1-utt10": "Guten Tag, zusammen!", "spk1-utt2": "Ja.", "spk2-Zed": "Hallo schöne Welt.",
             "spk2-alpha": "Hola, amigo."}


def test_languages_segments_and_wer_of_a_data_dir(tmp_path, caplog):
    data, utts = make_plain_dir(tmp_path)
    (data / "utt2lang").write_text("spk1-utt10 de\nspk1-utt2 en\nspk2-Zed de\nspk2-alpha es\n")
    (data / "text").write_text("".join(f"{u} {REFERENCE[u]}\n" for u in utts))
    transcriber = ScriptedTranscriber(SCRIPT, language="en")
    with caplog.at_level(logging.WARNING, logger="voxrecipes.models.asr"):
        assert transcribe_data_dir(transcriber, data, tmp_path / "out", batch_size=4, progress=False) == 4
    # utt2lang wins over the default: one language per batch, longest first within it
    assert transcriber.batches == [([0.8, 0.5], "de"), ([0.3], "en"), ([0.6], "es")]
    assert read_lines(tmp_path / "out" / "text") == [
        "spk1-utt10 Guten Tag zusammen.", "spk1-utt2 <empty>", "spk2-Zed Hallo, Welt!", "spk2-alpha Hola amigos"]
    assert "1 of 4 utterances" in caplog.text
    assert read_lines(tmp_path / "out" / "segments.jsonl") == [
        '{"utt": "spk1-utt10", "language": "de", "segments": [{"start": 0.0, "end": 0.24, "text": "Guten Tag"}, '
        '{"start": 0.3, "end": 0.5, "text": "zusammen."}]}',
        '{"utt": "spk1-utt2", "language": "en", "segments": []}',
        '{"utt": "spk2-Zed", "language": "de", "segments": [{"start": 0.1, "end": 0.5, "text": "Hallo,"}, '
        '{"start": 0.5, "end": 0.8, "text": "Welt!"}]}',
        '{"utt": "spk2-alpha", "language": "es", "segments": [{"start": 0.02, "end": 0.6, "text": "Hola amigos"}]}']
    assert set(read_segments(tmp_path / "out" / "segments.jsonl")) == set(utts)
    # by hand: guten tag zusammen (3 hits) | ja vs nothing (1 deletion) | hallo schöne welt vs hallo welt
    # (2 hits, 1 deletion) | hola amigo vs hola amigos (1 hit, 1 substitution): 4 errors in 9 words
    report = json.loads((tmp_path / "out" / "wer.json").read_text())
    assert {k: report[k] for k in ("substitutions", "deletions", "insertions", "hits", "ref_words", "utts",
                                   "empty_hypotheses")} == {"substitutions": 1, "deletions": 2, "insertions": 0,
                                                            "hits": 6, "ref_words": 9, "utts": 4,
                                                            "empty_hypotheses": 1}
    assert report["wer"] == pytest.approx(3 / 9)
    assert (report["set"], report["model"], report["backend"]) == ("plain", "scripted", "scripted")
    # without utt2lang the default language holds; with no default, "" asks the model to detect it
    (data / "utt2lang").unlink()
    (data / "text").unlink()
    transcriber = ScriptedTranscriber(SCRIPT)
    transcribe_data_dir(transcriber, data, tmp_path / "out", batch_size=3, progress=False)
    assert transcriber.batches == [([0.8, 0.6, 0.5], ""), ([0.3], "")]
    assert not (tmp_path / "out" / "wer.json").exists()  # no reference now: the old WER is gone
    assert json.loads(read_lines(tmp_path / "out" / "segments.jsonl")[0])["language"] is None


def test_a_directory_inside_another_is_not_decoded_again(tmp_path, caplog):
    """Dev_bal inside Dev_filt: the subset's outputs come from the superset's decode, equal to its own."""
    data, utts = make_plain_dir(tmp_path)
    full = DataDir.load(data)
    full.text = dict(REFERENCE)
    full.write()
    pair = ["spk1-utt10", "spk2-Zed"]
    subset = full.select(pair).write(tmp_path / "data" / "subset")
    relabelled = full.select(pair)
    relabelled.utt2lang = {"spk1-utt10": "de", "spk2-Zed": "de"}  # same audio, another language: decoded
    relabelled = relabelled.write(tmp_path / "data" / "relabelled")
    out = tmp_path / "out"
    transcriber = ScriptedTranscriber(SCRIPT)
    with caplog.at_level(logging.INFO, logger="voxrecipes.models.asr"):
        transcribe_data_dirs(transcriber, [subset, data, relabelled], [out / "subset", out / "full", out / "rel"],
                             batch_size=8, progress=False)
    # the full directory first, batched as if alone; the subset decodes nothing; the relabelled one decodes both
    assert transcriber.batches == [([0.8, 0.6, 0.5, 0.3], ""), ([0.8, 0.5], "de")]
    assert f"{subset}: all 2 utterances were transcribed earlier in this run" in caplog.text
    alone = tmp_path / "alone"
    transcribe_data_dir(ScriptedTranscriber(SCRIPT), subset, alone, batch_size=8, progress=False)
    for name in ("text", "segments.jsonl", "wer.json"):
        assert (out / "subset" / name).read_bytes() == (alone / name).read_bytes(), name
    assert read_lines(out / "subset" / "text") == ["spk1-utt10 Guten Tag zusammen.", "spk2-Zed Hallo, Welt!"]
    assert json.loads((out / "subset" / "wer.json").read_text())["utts"] == 2
    with pytest.raises(ConfigError, match="3 data directories but 2 output directories"):
        transcribe_data_dirs(transcriber, [subset, data, relabelled], [out / "a", out / "b"], progress=False)


def test_english_only_model_and_unknown_languages(tmp_path, caplog):
    data, utts = make_plain_dir(tmp_path)
    (data / "utt2lang").write_text("spk1-utt10 de\nspk1-utt2 en\nspk2-Zed de\nspk2-alpha es\n")
    english = ScriptedTranscriber(SCRIPT, multilingual=False)
    with caplog.at_level(logging.WARNING, logger="voxrecipes.models.asr"):
        transcribe_data_dir(english, data, tmp_path / "out", batch_size=4, progress=False)
    assert english.batches == [([0.8, 0.6, 0.5, 0.3], "en")]
    assert caplog.text.count("English-only") == 2  # once for de, once for es
    (data / "utt2lang").write_text("spk1-utt10 de\nspk1-utt2 en\nspk2-Zed xx\nspk2-alpha es\n")
    with pytest.raises(DataError) as info:
        transcribe_data_dir(ScriptedTranscriber(SCRIPT), data, tmp_path / "out2", progress=False)
    assert (info.value.path, info.value.line) == (str(data / "utt2lang"), 3)
    assert "language 'xx' is not one of scripted's languages" in str(info.value)
    assert not (tmp_path / "out2").exists()


def test_read_segments_rejects_bad_lines(tmp_path):
    path = tmp_path / "segments.jsonl"
    path.write_text('{"utt": "a", "language": null, "segments": []}\n'
                    '{"utt": "b", "language": "en", "segments": [{"start": 1.0, "end": 0.5, "text": "x"}]}\n')
    with pytest.raises(DataError, match=r"segments.jsonl:2: not a segments.jsonl record"):
        read_segments(path)
    path.write_text('{"utt": "a", "language": null, "segments": []}\n{"utt": "a", "segments": []}\n')
    with pytest.raises(DataError, match=r"segments.jsonl:2: utterance 'a' appears twice"):
        read_segments(path)


def test_backend_names():
    assert check_backend("faster_whisper") == "faster_whisper"
    with pytest.raises(ConfigError, match="unknown ASR backend 'whisper_cpp': choose one of transformers, "
                                          "faster_whisper"):
        check_backend("whisper_cpp")


def test_cli_unknown_backend_is_a_usage_error(ctc_a, tmp_path, capsys):
    data, _ = make_plain_dir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli(["--model", str(ctc_a), "--asr_backend", "whisper_cpp", "--data", str(data), "--out_dir",
             str(tmp_path / "o")])
    assert info.value.code == 2 and "invalid choice: 'whisper_cpp'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# -- bad input --------------------------------------------------------------------------------

def test_unequal_data_and_out_dirs(ctc_a, tmp_path, error_line):
    data, _ = make_plain_dir(tmp_path)
    error = error_line.run(cli, ["--model", str(ctc_a), "--data", str(data), str(data),
                                 "--out_dir", str(tmp_path / "o")])
    assert "2 --data directories but 1 --out_dir" in error
    assert not (tmp_path / "o").exists()


def test_missing_model_is_named(tmp_path, error_line):
    data, _ = make_plain_dir(tmp_path)
    missing = tmp_path / "no" / "such" / "model"
    error = error_line.run(cli, ["--model", str(missing), "--data", str(data), "--out_dir", str(tmp_path / "o")])
    assert f"ASR model directory not found: {missing}" in error
    assert not (tmp_path / "o").exists()


def test_float16_on_cpu_is_refused(ctc_a):
    with pytest.raises(ConfigError, match="float16 needs a GPU"):
        Transcriber(str(ctc_a), dtype="float16")


@pytest.mark.parametrize("bad, reason", [
    ("corrupt", "cannot read audio file"),
    ("missing", "audio file not found"),
    ("pipe", "failed with exit status"),
])
def test_bad_audio_names_wav_scp_line_and_writes_nothing(ctc_a, tmp_path, error_line, bad, reason):
    data, utts = make_plain_dir(tmp_path)
    wav_scp = dict(line.split(" ", 1) for line in read_lines(data / "wav.scp"))
    victim = utts[2]  # line 3: some utterances are transcribed before the failure (batch_size 1)
    if bad == "corrupt":
        Path(wav_scp[victim]).write_bytes(b"RIFF\x00\x00not really a wav file")
    elif bad == "missing":
        Path(wav_scp[victim]).unlink()
    else:
        wav_scp[victim] = "false |"
    (data / "wav.scp").write_text("".join(f"{u} {wav_scp[u]}\n" for u in utts))
    out = tmp_path / "asr"
    error = error_line.run(cli, ["--model", str(ctc_a), "--data", str(data), "--out_dir", str(out),
                                 "--batch_size", "1"])
    assert f"{data / 'wav.scp'}:3:" in error and reason in error
    assert not (out / "text").exists()
    assert not out.exists() or list(out.iterdir()) == []  # no temporary file either


def test_failed_rerun_keeps_the_previous_text(ctc_a, tmp_path, error_line):
    data, utts = make_plain_dir(tmp_path)
    out = tmp_path / "asr"
    cli(["--model", str(ctc_a), "--data", str(data), "--out_dir", str(out)])
    before = (out / "text").read_text()
    wav_scp = dict(line.split(" ", 1) for line in read_lines(data / "wav.scp"))
    Path(wav_scp[utts[-1]].split()[1]).unlink()  # the 8 kHz pipe's source: `cat` fails
    error = error_line.run(cli, ["--model", str(ctc_a), "--data", str(data), "--out_dir", str(out)])
    assert f"{data / 'wav.scp'}:4:" in error
    assert (out / "text").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["segments.jsonl", "text"]


def test_bad_data_dir_fails_before_the_model_loads(tmp_path, error_line, monkeypatch):
    from voxrecipes.models import asr

    data, _ = make_plain_dir(tmp_path)
    (data / "utt2spk").write_text("spk2-Zed spk2\nspk1-utt10 spk1\n")
    monkeypatch.setattr(asr, "Transcriber", lambda *a, **k: pytest.fail("model loaded before data was checked"))
    error = error_line.run(cli, ["--model", "openai/whisper-tiny", "--data", str(data),
                                 "--out_dir", str(tmp_path / "o")])
    assert f"{data / 'utt2spk'}:2:" in error


def test_data_error_type(ctc_transcriber, tmp_path):
    data, _ = make_plain_dir(tmp_path)
    (data / "wav.scp").write_text((data / "wav.scp").read_text().replace("cat ", "cat /nonexistent/"))
    with pytest.raises(DataError) as info:
        transcribe_data_dir(ctc_transcriber, data, tmp_path / "out", progress=False)
    assert info.value.path == str(data / "wav.scp") and info.value.line == 4
    assert not (tmp_path / "out" / "text").exists()
