"""Hugging Face export of the voice-toxicity model: round trip through plain transformers, config, errors, CLI."""

from __future__ import annotations

import json
import re
import sys
import types

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoFeatureExtractor, WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

from voxrecipes.bin import export_toxicity_hf
from voxrecipes.cli import run
from voxrecipes.errors import ConfigError
from voxrecipes.labels import TOXICITY_CLASSES
from voxrecipes.models.export_hf import (
    PROBLEM_TYPE,
    export_hf,
    map_state_dict,
    measure_agreement,
    probe_waveforms,
    score_plain_hf,
    score_with_hf,
)
from voxrecipes.models.whisper_classifier import (
    WhisperTextInjectionClassifier,
    build_encoder,
    extract_features,
    make_feature_extractor,
)

CLASSES = list(TOXICITY_CLASSES)
RATE = 16000


def tiny_config() -> WhisperConfig:
    return WhisperConfig(d_model=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=128,
                         num_mel_bins=80, max_source_positions=750, decoder_layers=1, decoder_attention_heads=4,
                         decoder_ffn_dim=128, vocab_size=100, max_target_positions=32, dropout=0.0, pad_token_id=0,
                         bos_token_id=1, eos_token_id=2, decoder_start_token_id=3, begin_suppress_tokens=None,
                         suppress_tokens=None)


def tiny_model(seed: int = 0) -> WhisperTextInjectionClassifier:
    torch.manual_seed(seed)
    model = WhisperTextInjectionClassifier(build_encoder(tiny_config(), 15), num_classes=6, proj_dim=32, text_dim=24)
    with torch.no_grad():  # "trained" weights: a learned position table and non-zero biases must survive the export
        model.encoder.embed_positions.weight.normal_()
        model.classifier.bias.normal_()
        model.projector.bias.normal_()
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.set_num_threads(2)
    model = tiny_model()
    out = export_hf(model, CLASSES, tmp_path_factory.mktemp("export") / "hf")
    hf, info = WhisperForAudioClassification.from_pretrained(out, output_loading_info=True)
    extractor = AutoFeatureExtractor.from_pretrained(out)
    return model, out, hf.eval(), extractor, info


def ours(model, waveforms):
    feats, lengths = extract_features(make_feature_extractor(15), waveforms)
    with torch.no_grad():
        return torch.sigmoid(model(feats, lengths)[0])


def test_reload_is_strict_and_extractor_is_15s(exported):
    _, _, hf, extractor, info = exported
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert isinstance(extractor, WhisperFeatureExtractor)
    assert extractor.chunk_length == 15 and extractor.nb_max_frames == 1500 and extractor.feature_size == 80
    assert hf.encoder.config.max_source_positions == 750 and hf.encoder.embed_positions.weight.shape == (750, 64)


def test_round_trip_scores(exported):
    model, _, hf, extractor, _ = exported
    seconds = [15.0, 3.0, 9.7, 20.0]
    waves = probe_waveforms(seconds, seed=1)
    mine = ours(model, waves)
    # score_with_hf (valid frames only) agrees with our inference on every length, batched or one by one
    torch.testing.assert_close(score_with_hf(hf, extractor, waves), mine, atol=1e-5, rtol=0)
    for i, wave in enumerate(waves):
        single = score_with_hf(hf, extractor, wave)
        assert single.shape == (6,)
        torch.testing.assert_close(single, mine[i], atol=1e-5, rtol=0)
    # the plain HF call agrees for clips with no padding (15 s, and 20 s truncated to 15 s) ...
    plain = score_plain_hf(hf, extractor, waves)
    torch.testing.assert_close(plain[[0, 3]], mine[[0, 3]], atol=1e-5, rtol=0)
    # ... and not for shorter ones: HF averages the padding frames in (documented mismatch)
    for i in (1, 2):
        assert (plain[i] - mine[i]).abs().max() > 1e-3
    # independent check of what HF computes: the plain mean over all 750 frames of our own encoder output
    feats, _ = extract_features(make_feature_extractor(15), waves)
    with torch.no_grad():
        all_frames = torch.sigmoid(model.classifier(model.projector(model.encoder(feats).last_hidden_state).mean(1)))
    torch.testing.assert_close(plain, all_frames, atol=1e-5, rtol=0)
    rows = measure_agreement(model, hf, extractor, waves)
    assert [round(r["seconds"], 2) for r in rows] == seconds
    assert all(r["score_with_hf_max_abs_diff"] < 1e-5 for r in rows)
    assert rows[1]["plain_hf_max_abs_diff"] > 1e-3 and rows[0]["plain_hf_max_abs_diff"] < 1e-5


def test_config_json_is_multilabel(exported):
    _, out, hf, _, _ = exported
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["WhisperForAudioClassification"]
    assert config["problem_type"] == PROBLEM_TYPE == "multi_label_classification"
    assert config["id2label"] == {str(i): name for i, name in enumerate(CLASSES)}
    assert config["label2id"] == {name: i for i, name in enumerate(CLASSES)}
    assert config["classifier_proj_size"] == 32 and config["max_source_positions"] == 750
    assert config["use_weighted_layer_sum"] is False and config["num_mel_bins"] == 80
    assert "valid" in config["voxrecipes_pooling"]
    assert hf.config.num_labels == 6 and hf.config.id2label[2] == "Dating_Sexting"
    pre = json.loads((out / "preprocessor_config.json").read_text())
    assert pre["feature_extractor_type"] == "WhisperFeatureExtractor"
    assert pre["chunk_length"] == 15 and pre["n_samples"] == 15 * RATE


def test_weights_mapped_and_text_head_dropped(exported):
    model, out, _, _, _ = exported
    saved = load_file(out / "model.safetensors")
    assert not any(k.startswith("text_proj") for k in saved)
    ours_state = {k: v for k, v in model.state_dict().items() if not k.startswith("text_proj.")}
    assert set(saved) == set(ours_state)
    for key, value in ours_state.items():
        assert torch.equal(saved[key], value), key
    assert set(map_state_dict(model)) == set(ours_state)


def test_only_safetensors_and_json_written(exported):
    _, out, _, _, _ = exported
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["config.json", "model.safetensors", "preprocessor_config.json"]
    assert not (out.parent / "hf.tmp").exists()


def test_wrong_class_count_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="6 outputs but 5 class names"):
        export_hf(tiny_model(), CLASSES[:5], tmp_path / "hf")
    with pytest.raises(ConfigError, match="unique"):
        export_hf(tiny_model(), CLASSES[:5] + ["Racist"], tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_non_whisper_structure_is_config_error(tmp_path):
    model = tiny_model()
    model.encoder = torch.nn.Sequential(torch.nn.Conv1d(80, 64, 3))
    with pytest.raises(ConfigError, match="WhisperEncoder"):
        export_hf(model, CLASSES, tmp_path / "hf")
    with pytest.raises(ConfigError, match="WhisperTextInjectionClassifier"):
        export_hf(torch.nn.Linear(4, 6), CLASSES, tmp_path / "hf")
    extra = tiny_model()
    extra.adapter = torch.nn.Linear(2, 2)  # a weight the HF architecture has no place for
    with pytest.raises(ConfigError, match="adapter"):
        export_hf(extra, CLASSES, tmp_path / "hf")
    with pytest.raises(ConfigError, match="1500"):  # a 30 s front end for a 15 s encoder
        export_hf(tiny_model(), CLASSES, tmp_path / "hf", feature_extractor=make_feature_extractor(30))
    assert not (tmp_path / "hf").exists()


@pytest.mark.parametrize("returns", ["object", "pair"])
def test_cli_exports_through_task_loader(tmp_path, monkeypatch, capsys, returns):
    model = tiny_model(seed=4)
    calls = []

    def load_classifier(model_dir, checkpoint="best.pth"):
        calls.append((model_dir, checkpoint))
        if returns == "object":  # like voxrecipes.tasks.toxicity.TrainedClassifier
            return types.SimpleNamespace(model=model, classes=list(CLASSES), max_seconds=15.0)
        return model, tuple(CLASSES)

    fake = types.ModuleType("voxrecipes.tasks.toxicity")
    fake.load_classifier = load_classifier
    monkeypatch.setitem(sys.modules, "voxrecipes.tasks.toxicity", fake)
    argv = ["--model_dir", str(tmp_path / "exp"), "--out_dir", str(tmp_path / "hf"), "--probe_seconds", "3"]
    run(export_toxicity_hf.main, export_toxicity_hf.get_parser(), argv + ["--checkpoint", "ep3.pth"])
    log = capsys.readouterr().err  # the CLI logs to stderr (voxrecipes.cli.setup_logging)
    assert calls == [(str(tmp_path / "exp"), "ep3.pth")]
    hf = WhisperForAudioClassification.from_pretrained(tmp_path / "hf").eval()
    assert hf.config.id2label[5] == "No_Violation"
    waves = [np.asarray(w) for w in probe_waveforms([4.2], seed=2)]
    torch.testing.assert_close(score_with_hf(hf, make_feature_extractor(15), waves), ours(model, waves),
                               atol=1e-5, rtol=0)
    found = re.search(r"probe of 3\.00 s: .* = (\S+) with the plain HF call, (\S+) with score_with_hf", log)
    assert found, log
    assert float(found.group(1)) > 1e-3 and float(found.group(2)) < 1e-5


def test_cli_without_task_module_is_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "voxrecipes.tasks.toxicity", None)  # import fails as if not written yet
    with pytest.raises(SystemExit) as exc:
        run(export_toxicity_hf.main, export_toxicity_hf.get_parser(),
            ["--model_dir", str(tmp_path / "exp"), "--out_dir", str(tmp_path / "hf")])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "ERROR:" in err and "load_classifier is not available" in err
    assert not (tmp_path / "hf").exists()
