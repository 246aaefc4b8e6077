"""The pipeline's text labeller: multi-label training (BCE), thresholds tuned and saved with the model
(round trip), pseudo-labelled and truth-labelled manifests in the format prepare_toxicity_manifest reads."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from voxrecipes.cli import run
from voxrecipes.errors import DataError
from voxrecipes.tasks.toxicity_labeller import apply_thresholds, load_thresholds, tune_thresholds

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CLASSES = ["Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation"]


def _helpers():
    path = Path(__file__).resolve().parents[1] / "models" / "test_text_classifier.py"
    spec = importlib.util.spec_from_file_location("_text_classifier_test_helpers_tox", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


H = _helpers()
#: each toxic class is carried by the keywords of one of the helper tokenizer's emotion classes
KEYS = {"Profanity": H.KEYWORDS["A"], "Bullying": H.KEYWORDS["S"], "Dating_Sexting": H.KEYWORDS["H"],
        "Racist": H.KEYWORDS["D"], "Other": H.KEYWORDS["F"]}


def multilabel_corpus(n: int, seed: int) -> dict[str, tuple[str, list[str]]]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        k = int(rng.choice([0, 1, 1, 2]))
        labels = sorted((str(c) for c in rng.choice(list(KEYS), size=k, replace=False)), key=CLASSES.index)
        words = list(rng.choice(H.FILLER, size=int(rng.integers(2, 6))))
        for c in labels:
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(KEYS[c])))
        out[f"u{seed}-{i:04d}"] = (" ".join(words), labels or ["No_Violation"])
    return out


def write_split(root: Path, corpus: dict) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    utts = sorted(corpus)
    (root / "text").write_text("".join(f"{u} {corpus[u][0]}\n" for u in utts))
    (root / "utt2labels").write_text("".join(f"{u} {' '.join(corpus[u][1])}\n" for u in utts))
    return root


@pytest.fixture(scope="module")
def labeller(tmp_path_factory):
    """A tiny LLaMA multi-label labeller trained with the stage CLI, thresholds tuned with the CLI."""
    from voxrecipes.bin import train_text_classifier, tune_text_thresholds

    root = tmp_path_factory.mktemp("labeller")
    tok = H.make_word_tokenizer(root / "tok")
    train = write_split(root / "train", multilabel_corpus(160, 1))
    dev = write_split(root / "dev", multilabel_corpus(60, 2))
    cfg = H.tiny_config(tok, task="multilabel", classes=CLASSES, use_lora=False, lora={}).to_dict()
    cfg["training_args"].update(num_train_epochs=6, per_device_train_batch_size=16, learning_rate=0.003)
    cfg["training_args"].pop("logging_strategy", None)
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = root / "exp"
    run(train_text_classifier.main, train_text_classifier.get_parser(),
        ["--config", str(root / "cfg.yaml"), "--train_text", str(train / "text"), "--train_labels",
         str(train / "utt2labels"), "--valid_text", str(dev / "text"), "--valid_labels", str(dev / "utt2labels"),
         "--out_dir", str(out), "--no_progress"])
    run(tune_text_thresholds.main, tune_text_thresholds.get_parser(),
        ["--model_dir", str(out / "model"), "--text", str(dev / "text"), "--labels", str(dev / "utt2labels")])
    return root, out / "model", dev


def test_tune_thresholds_matches_sklearn_f1_on_the_grid():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    targets = rng.random((200, 3)) < 0.3
    probs = np.clip(targets * 0.3 + rng.random((200, 3)) * 0.7, 0, 1)
    thresholds, scores = tune_thresholds(probs, targets, ["a", "b", "c"], step=0.05)
    grid = np.round(np.arange(0.05, 1.0 - 1e-9, 0.05), 6)
    for c, name in enumerate("abc"):
        ref = [f1_score(targets[:, c], probs[:, c] >= t, zero_division=0) for t in grid]
        assert scores[name] == pytest.approx(max(ref), abs=1e-12)
        assert thresholds[name] == pytest.approx(grid[int(np.argmax(ref))])


def test_apply_thresholds_rule():
    probs = np.array([[0.9, 0.1, 0.0, 0.0, 0.0, 0.2], [0.1, 0.1, 0.0, 0.0, 0.0, 0.99], [0.5, 0.6, 0, 0, 0, 0.9]])
    th = dict.fromkeys(CLASSES, 0.5)
    assert apply_thresholds(probs, CLASSES, th) == [["Profanity"], ["No_Violation"], ["Profanity", "Bullying"]]


def test_training_learned_and_thresholds_round_trip(labeller):
    from voxrecipes.models.text_classifier import load_text_classifier
    from voxrecipes.tasks.text_classification import predict_texts, read_multilabel_labels, read_transcripts

    _, model_dir, dev = labeller
    meta = json.loads((model_dir / "text_classifier.json").read_text())
    assert meta["task"] == "multilabel" and meta["output_names"] == CLASSES
    saved = json.loads((model_dir / "thresholds.json").read_text())
    loaded = load_thresholds(model_dir, CLASSES)
    assert loaded == saved["thresholds"] and list(loaded) == CLASSES
    # the reloaded export gives the probabilities the thresholds were tuned on: tuning again gives the same values
    clf = load_text_classifier(model_dir)
    texts, labels = read_transcripts(dev / "text"), read_multilabel_labels(dev / "utt2labels", CLASSES)
    probs = predict_texts(clf, [texts[u] for u in labels])
    assert np.all((probs >= 0) & (probs <= 1)) and not np.allclose(probs.sum(axis=1), 1.0)  # sigmoid, not softmax
    again, f1 = tune_thresholds(probs, np.asarray(list(labels.values())), CLASSES)
    assert again == loaded
    assert {c: round(f1[c], 6) for c in CLASSES} == saved["dev_f1"]
    assert np.mean([f1[c] for c in KEYS]) > 0.6  # the keywords were learned (chance F1 is about 0.3)


def test_thresholds_errors(labeller, tmp_path):
    _, model_dir, _ = labeller
    with pytest.raises(DataError, match="file not found: tune the thresholds first"):
        load_thresholds(tmp_path, CLASSES)
    with pytest.raises(DataError, match="but the model outputs"):
        load_thresholds(model_dir, CLASSES[::-1])
    record = json.loads((model_dir / "thresholds.json").read_text())
    record["thresholds"]["Racist"] = 1.5
    (tmp_path / "thresholds.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"threshold of Racist must be a number in \[0, 1\], got 1.5"):
        load_thresholds(tmp_path, CLASSES)


def test_unknown_label_in_utt2labels_names_file_and_line(tmp_path):
    from voxrecipes.tasks.text_classification import read_multilabel_labels

    (tmp_path / "utt2labels").write_text("a Profanity\nb Insult\n")
    with pytest.raises(DataError, match=r"utt2labels:2: label 'Insult' of 'b' is not one of the classes"):
        read_multilabel_labels(tmp_path / "utt2labels", CLASSES)


def _sentences(tmp_path: Path, texts: dict[str, str]) -> Path:
    """A sentence data dir over one 20 s recording 'sess1', one sentence per 3 s."""
    from voxrecipes.data.datadir import write_data_dir

    sf.write(str(tmp_path / "sess1.wav"), np.zeros(16000 * 20, dtype=np.int16), 16000, subtype="PCM_16")
    segments = {u: ("sess1", 3.0 * i, 3.0 * i + 2.0) for i, u in enumerate(sorted(texts))}
    write_data_dir(tmp_path / "sent", wav_scp={"sess1": str(tmp_path / "sess1.wav")},
                   utt2spk=dict.fromkeys(texts, "sess1"), segments=segments, text=texts,
                   utt2lang=dict.fromkeys(texts, "en"))
    return tmp_path / "sent"


def test_pseudo_manifest_reads_back_with_the_labellers_labels(labeller, tmp_path):
    from voxrecipes.bin import write_pseudo_manifest
    from voxrecipes.corpora.toxicity_manifest import read_manifest
    from voxrecipes.models.text_classifier import load_text_classifier
    from voxrecipes.tasks.text_classification import predict_texts

    _, model_dir, _ = labeller
    corpus = multilabel_corpus(5, 7)
    texts = {f"s-{i}": corpus[u][0] for i, u in enumerate(sorted(corpus))}
    data = _sentences(tmp_path, texts)
    manifest = tmp_path / "train.tsv"
    run(write_pseudo_manifest.main, write_pseudo_manifest.get_parser(),
        ["--data", str(data), "--model_dir", str(model_dir), "--manifest", str(manifest), "--min_toxic", "0"])
    assert manifest.read_text().splitlines()[0] == "utt_id\taudio\tstart\tend\tlanguage\ttranscript\tlabels\tspeaker"
    records = read_manifest(manifest)
    probs = predict_texts(load_text_classifier(model_dir), [texts[u] for u in sorted(texts)])
    expected = apply_thresholds(probs, CLASSES, load_thresholds(model_dir, CLASSES))
    assert [r.labels for r in records] == expected
    assert [(r.utt_id, r.start, r.end, r.transcript, r.speaker) for r in records] == [
        (u, 3.0 * i, 3.0 * i + 2.0, texts[u], "sess1") for i, u in enumerate(sorted(texts))]
    assert all(r.audio == (tmp_path / "sess1.wav").resolve() for r in records)


def test_pseudo_manifest_without_toxic_sentence_fails_and_writes_nothing(labeller, tmp_path, capsys):
    import shutil

    from voxrecipes.bin import write_pseudo_manifest

    _, trained, _ = labeller
    model_dir = tmp_path / "model"
    shutil.copytree(trained, model_dir)
    record = json.loads((model_dir / "thresholds.json").read_text())
    record["thresholds"] = dict.fromkeys(CLASSES, 1.0)  # a sigmoid output never reaches 1: nothing is toxic
    (model_dir / "thresholds.json").write_text(json.dumps(record))
    data = _sentences(tmp_path, {"s-0": "the day was so", "s-1": "and then we found it"})
    manifest = tmp_path / "train.tsv"
    with pytest.raises(SystemExit):
        run(write_pseudo_manifest.main, write_pseudo_manifest.get_parser(),
            ["--data", str(data), "--model_dir", str(model_dir), "--manifest", str(manifest)])
    assert "0 toxic segments of 2 (at least 1 needed)" in capsys.readouterr().err
    assert not manifest.exists() and not Path(str(manifest) + ".probs").exists()


TRUTH = ("session\tsplit\tlanguage\tspeaker\tstart\tend\tlabels\ttext\n"
         "sess1\ttest\ten\tspk\t0.500\t2.000\tNo_Violation\tnice shot\n"
         "sess1\ttest\ten\tspk\t2.100\t3.000\tBullying\tyou are so stupid\n"
         "sess1\ttest\ten\tspk\t6.000\t8.000\tProfanity\tdamn it\n"
         "sess1\ttest\ten\tspk\t8.200\t9.000\tRacist\tnot one of us\n")


def test_truth_manifest_labels_by_overlap(tmp_path):
    from voxrecipes.bin import write_truth_manifest
    from voxrecipes.corpora.toxicity_manifest import read_manifest
    from voxrecipes.data.datadir import write_data_dir

    sf.write(str(tmp_path / "sess1.wav"), np.zeros(16000 * 12, dtype=np.int16), 16000, subtype="PCM_16")
    (tmp_path / "truth.tsv").write_text(TRUTH)
    # chunk a holds the first two sentences; chunk b holds 'damn it' and only 0.2 s of the 0.8 s Racist sentence
    segments = {"sess1-a": ("sess1", 0.4, 3.3), "sess1-b": ("sess1", 5.9, 8.4), "sess1-c": ("sess1", 10.0, 11.5)}
    write_data_dir(tmp_path / "chunks", wav_scp={"sess1": str(tmp_path / "sess1.wav")},
                   utt2spk=dict.fromkeys(segments, "sess1"), segments=segments)
    manifest = tmp_path / "test.tsv"
    run(write_truth_manifest.main, write_truth_manifest.get_parser(),
        ["--data", str(tmp_path / "chunks"), "--truth", str(tmp_path / "truth.tsv"), "--manifest", str(manifest)])
    records = read_manifest(manifest)
    assert [(r.utt_id, r.labels, r.transcript) for r in records] == [
        ("sess1-a", ["Bullying"], "nice shot you are so stupid"), ("sess1-b", ["Profanity"], "damn it")]
    # with a looser overlap rule the Racist sentence counts too (its labels ordered as the class list)
    run(write_truth_manifest.main, write_truth_manifest.get_parser(),
        ["--data", str(tmp_path / "chunks"), "--truth", str(tmp_path / "truth.tsv"), "--manifest", str(manifest),
         "--min_overlap", "0.2"])
    assert read_manifest(manifest)[1].labels == ["Profanity", "Racist"]
