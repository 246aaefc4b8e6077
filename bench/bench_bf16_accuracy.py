"""Accuracy (and speed) of bf16 autocast against fp32 inference, on trained models, in one run.

Issue 16 asks for bf16 inference on capable CPUs with its accuracy difference reported.
This script fits heads on the pretrained Whisper-base encoder (``package:whisper_base``,
frozen: bf16's rounding acts on real pretrained weights and activations) for a small
synthetic task, then runs the real inference code
(``voxrecipes.tasks.toxicity_scoring.score_data_dir`` and
``voxrecipes.tasks.emotion_inference.infer_data_dir``) on held-out data directories with
``precision="fp32"`` and ``precision="bf16"``, and reports:

- toxicity (multi-label, 15 s chunks, max over chunks): mAP over the four AP classes,
  the difference bf16 - fp32, and the max |score difference| over all clips and classes;
- emotion (one class per clip, whole utterances): macro-F1, its difference, the max
  |posterior difference|, the share of clips whose decision changes, and the minimum
  cosine between the fp32 and bf16 embeddings (what the LDA/PLDA backends read);
- the time of each pass (median of ``--rounds``, fp32 and bf16 alternating) and the
  ratio fp32 / bf16.

The task: a clip carries its classes as spoken keywords (espeak-ng, neutral stand-in
words such as "banana", one per class, in a carrier sentence; a "none" / No_Violation clip
is a neutral sentence) placed at a random point in 1-20 s of noise for toxicity (so that
long clips are chunked and the keyword lies in one chunk) or 1-6 s for emotion. The
toxicity head is fitted in closed form: the projection is the identity and the classifier
is a logistic regression per class (scikit-learn) on the fp32 mean-pooled encoder outputs
of the training clips (mean pooling and a linear layer commute, so this is exactly the
model's head). The emotion head (attentive pooling, dense, BatchNorm, output) is trained
with Adam on the fp32 encoder outputs of one 2-4 s crop per training clip, computed once.
The mini recipes' real models are a later check (the lead's run).

Example::

    OMP_NUM_THREADS=2 tools/venv/bin/python bench/bench_bf16_accuracy.py --out /tmp/bf16_accuracy.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from machine import cpu_name, load_average

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voxrecipes.data.datadir import write_data_dir  # noqa: E402
from voxrecipes.models.precision import cpu_bf16_support  # noqa: E402
from voxrecipes.models.whisper_classifier import (  # noqa: E402
    WhisperTextInjectionClassifier,
    build_encoder,
    extract_features,
    make_feature_extractor,
)
from voxrecipes.tasks.toxicity import AP_CLASSES, CLASSES, TrainedClassifier  # noqa: E402

SR = 16000
#: one keyword per toxic class, spoken in a carrier sentence (neutral stand-ins); No_Violation clips have none
KEYWORDS = {"Profanity": "banana", "Bullying": "bicycle", "Dating_Sexting": "thunder", "Racist": "umbrella",
            "Other": "volcano"}
CARRIERS = ("I think the {} is over there", "did you see the {} today", "we could use the {} next round")
NEUTRAL = ("let us meet by the gate", "that was a good round", "wait for the timer")
VOICES = ("en", "en+f3", "en-us", "en+m3", "en+f4")
#: emotion classes of the synthetic task: a keyword each, and "none"
EMOTION_CLASSES = ("Profanity", "Bullying", "Dating_Sexting", "Racist", "none")
MAX_SECONDS = 15.0  # paper: 15 s inputs and chunks
NOISE = 0.01


def speak(text: str, voice: str, speed: int, tmp: Path) -> np.ndarray:
    from scipy.signal import resample_poly

    path = tmp / "say.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    wave, rate = sf.read(path, dtype="float32")
    return resample_poly(wave, SR, rate).astype(np.float32)


def make_clip(rng: np.random.Generator, classes: list[str], seconds: float, tmp: Path) -> np.ndarray:
    """The classes' keywords (or a neutral sentence) spoken at a random place in ``seconds`` of noise."""
    words = [KEYWORDS[c] for c in classes if c in KEYWORDS]
    text = (CARRIERS[rng.integers(len(CARRIERS))].format(" and the ".join(words)) if words
            else NEUTRAL[rng.integers(len(NEUTRAL))])
    speech = 0.3 * speak(text, VOICES[rng.integers(len(VOICES))], int(rng.integers(130, 190)), tmp)
    wave = NOISE * rng.standard_normal(max(int(seconds * SR), len(speech)))
    start = rng.integers(0, len(wave) - len(speech) + 1)
    wave[start:start + len(speech)] += speech
    return wave.astype(np.float32)


def toxicity_set(rng: np.random.Generator, n: int, durations: tuple[float, float], tmp: Path
                 ) -> list[tuple[list[str], np.ndarray]]:
    out = []
    for i in range(n):
        k = i % 6
        chosen = [CLASSES[k]] if k < 5 else ["No_Violation"]
        if k < 5 and rng.random() < 0.2:
            chosen.append(CLASSES[(k + 2) % 5])
        out.append((sorted(set(chosen)), make_clip(rng, chosen, rng.uniform(*durations), tmp)))
    return out


def emotion_set(rng: np.random.Generator, n: int, durations: tuple[float, float], tmp: Path
                ) -> list[tuple[str, np.ndarray]]:
    return [(EMOTION_CLASSES[i % len(EMOTION_CLASSES)],
             make_clip(rng, [EMOTION_CLASSES[i % len(EMOTION_CLASSES)]], rng.uniform(*durations), tmp))
            for i in range(n)]


def write_set(root: Path, clips: list[np.ndarray]) -> tuple[Path, list[str]]:
    """Write clips as wavs and a data directory; returns it and the utterance ids in clip order."""
    (root / "wav").mkdir(parents=True)
    wav_scp, utt2spk, utts = {}, {}, []
    for i, wave in enumerate(clips):
        utt = f"spk{i % 4}-utt{i:04d}"
        sf.write(root / "wav" / f"{utt}.wav", wave, SR, subtype="FLOAT")
        wav_scp[utt], utt2spk[utt] = str(root / "wav" / f"{utt}.wav"), f"spk{i % 4}"
        utts.append(utt)
    write_data_dir(root / "data", wav_scp=wav_scp, utt2spk=utt2spk)
    return root / "data", utts


def fit_toxicity(args, whisper_path: str, train: list[tuple[list[str], np.ndarray]]) -> TrainedClassifier:
    """The classifier on the frozen encoder with an identity projection and per-class logistic regressions."""
    from sklearn.linear_model import LogisticRegression

    from voxrecipes.models.pooling import masked_mean

    torch.manual_seed(args.seed)
    encoder = build_encoder(whisper_path, MAX_SECONDS)
    d_model = encoder.config.d_model
    model = WhisperTextInjectionClassifier(encoder, num_classes=len(CLASSES), proj_dim=d_model, text_dim=8,
                                           dynamic_padding=True).eval()
    extractor = make_feature_extractor(MAX_SECONDS, 80)
    order = sorted(range(len(train)), key=lambda i: len(train[i][1]))
    pooled = np.zeros((len(train), d_model))
    with torch.no_grad():
        for start in range(0, len(order), args.batch_size):
            picked = order[start:start + args.batch_size]
            features, lengths = extract_features(extractor, [train[i][1] for i in picked])
            hidden, valid = model.encode(features, lengths)
            pooled[picked] = masked_mean(hidden[-1], lengths=valid).numpy()
        model.projector.weight.copy_(torch.eye(d_model))
        model.projector.bias.zero_()
        for k, name in enumerate(CLASSES):
            target = np.array([1 if name in names else 0 for names, _ in train])
            fit = LogisticRegression(C=args.C, max_iter=2000).fit(pooled, target)
            model.classifier.weight[k] = torch.from_numpy(fit.coef_[0]).float()
            model.classifier.bias[k] = float(fit.intercept_[0])
    return TrainedClassifier(model, list(CLASSES), MAX_SECONDS, 80, Path("none"))


def train_emotion(args, whisper_path: str, train: list[tuple[str, np.ndarray]]):
    """A Whisper emotion model on the frozen encoder, its head trained on encoder outputs computed once."""
    from voxrecipes.models.whisper_emotion import WhisperEmotionModel
    from voxrecipes.tasks.emotion_inference import EmotionInference

    torch.manual_seed(args.seed)
    model = WhisperEmotionModel(whisper_path, num_outputs=len(EMOTION_CLASSES), task="category", use_lora=False,
                                embedding_dim=64, attention_dim=32, max_seconds=MAX_SECONDS)
    frontend = model.frontend()
    rng = np.random.default_rng(args.seed + 1)
    crops = []
    for _, wave in train:  # paper: random 2-4 s crops; here one per clip, so that the encoder runs once
        crop = int(rng.uniform(2.0, 4.0) * SR)
        start = rng.integers(0, max(1, len(wave) - crop + 1))
        crops.append(wave[start:start + crop])
    hidden, masks = [], []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(crops), args.batch_size):
            features, mask = frontend(crops[start:start + args.batch_size])
            h, m = model.encode(features, mask)
            for i in range(h.shape[0]):  # per clip, trimmed to its frames
                n = int(m[i].sum())
                hidden.append(h[i, :n])
                masks.append(n)
    targets = torch.tensor([EMOTION_CLASSES.index(name) for name, _ in train])
    head = [model.pooling, model.dense, model.batchnorm, model.output]
    optimizer = torch.optim.Adam([p for module in head for p in module.parameters()], lr=args.lr)
    for module in head:
        module.train()
    for _ in range(args.train_steps):
        picked = rng.choice(len(train), size=args.batch_size, replace=False)
        width = max(masks[i] for i in picked)
        batch = torch.zeros(len(picked), width, hidden[0].shape[1])
        mask = torch.zeros(len(picked), width, dtype=torch.long)
        for row, i in enumerate(picked):
            batch[row, :masks[i]] = hidden[i]
            mask[row, :masks[i]] = 1
        embedding = model.batchnorm(model.relu(model.dense(model.pooling(batch, mask))))
        loss = F.cross_entropy(model.output(embedding), targets[torch.as_tensor(picked)])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return EmotionInference(model, list(EMOTION_CLASSES))


def timed(function, rounds: int) -> tuple[dict, object]:
    """Run ``function(precision)`` for fp32 and bf16 alternately ``rounds`` times: (median seconds, last results)."""
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    results = {}
    for r in range(rounds):
        for precision in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
            start = time.perf_counter()
            results[precision] = function(precision)
            times[precision].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--whisper", default="package:whisper_base", help="pretrained Whisper (frozen encoder)")
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the toxicity regressions")
    parser.add_argument("--train_steps", type=int, default=300, help="training steps of the emotion head")
    parser.add_argument("--batch_size", type=int, default=8, help="training batch")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate of the emotion head")
    parser.add_argument("--train_clips", type=int, default=90, help="training clips of each task")
    parser.add_argument("--test_clips", type=int, default=60, help="test clips of each task")
    parser.add_argument("--score_batch", type=int, default=8, help="chunks/utterances per inference batch")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of fp32 and bf16 inference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    from sklearn.metrics import average_precision_score, f1_score

    from voxrecipes.models.model_paths import resolve_model_path
    from voxrecipes.tasks.emotion_inference import infer_data_dir
    from voxrecipes.tasks.toxicity_scoring import score_data_dir

    rng = np.random.default_rng(args.seed)
    report = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "command": " ".join(sys.argv), "cpu": cpu_name(), "cpu_bf16": cpu_bf16_support().reason,
              "torch_threads": torch.get_num_threads(), "load_start": load_average(), "whisper": args.whisper,
              "train_clips": args.train_clips, "test_clips": args.test_clips, "emotion_train_steps": args.train_steps}
    whisper_path = resolve_model_path(args.whisper, what="speech encoder")
    with tempfile.TemporaryDirectory() as tmp:
        # -- toxicity: multi-label, chunked scoring, mAP
        tox_train = toxicity_set(rng, args.train_clips, (1.0, 8.0), Path(tmp))
        tox_test = toxicity_set(rng, args.test_clips, (1.0, 20.0), Path(tmp))
        data, tox_utts = write_set(Path(tmp) / "tox", [w for _, w in tox_test])
        start = time.perf_counter()
        trained = fit_toxicity(args, whisper_path, tox_train)
        report["toxicity_train_s"] = round(time.perf_counter() - start, 1)
        seconds, scores = timed(lambda p: score_data_dir(trained, data, batch_size=args.score_batch, precision=p,
                                                         progress=False), args.rounds)
        # scores come back in the data directory's (sorted) utterance order, not clip order
        clip_of = {utt: i for i, utt in enumerate(tox_utts)}
        rows = [clip_of[u] for u in scores["fp32"].utts]
        truth = np.array([[1 if c in tox_test[i][0] else 0 for c in CLASSES] for i in rows])
        ap_cols = [CLASSES.index(c) for c in AP_CLASSES]
        tox = {}
        for precision, post in scores.items():
            aps = [average_precision_score(truth[:, k], post.matrix[:, k]) for k in ap_cols]
            tox[precision] = {"mAP": float(np.mean(aps)), "AP": dict(zip(AP_CLASSES, map(float, aps))),
                              "seconds": round(seconds[precision], 3)}
        tox["mAP_bf16_minus_fp32"] = tox["bf16"]["mAP"] - tox["fp32"]["mAP"]
        tox["max_abs_score_diff"] = float(np.abs(scores["bf16"].matrix - scores["fp32"].matrix).max())
        tox["speedup_bf16_over_fp32"] = round(seconds["fp32"] / seconds["bf16"], 3)
        report["toxicity"] = tox
        print(json.dumps({"toxicity": tox}, indent=1), flush=True)

        # -- emotion: one class, whole utterances, macro-F1, embeddings
        emo_train = emotion_set(rng, args.train_clips, (1.0, 6.0), Path(tmp))
        emo_test = emotion_set(rng, args.test_clips, (1.0, 6.0), Path(tmp))
        data, emo_utts = write_set(Path(tmp) / "emo", [w for _, w in emo_test])
        start = time.perf_counter()
        inference = train_emotion(args, whisper_path, emo_train)
        report["emotion_train_s"] = round(time.perf_counter() - start, 1)
        seconds, results = timed(lambda p: infer_data_dir(inference, data, batch_size=args.score_batch, precision=p,
                                                          progress=False), args.rounds)
        clip_of = {utt: i for i, utt in enumerate(emo_utts)}
        labels = np.array([EMOTION_CLASSES.index(emo_test[clip_of[u]][0]) for u in results["fp32"][0]])
        emo = {}
        for precision, (_, outputs, _) in results.items():
            emo[precision] = {"macro_F1": float(f1_score(labels, outputs.argmax(1), average="macro")),
                              "seconds": round(seconds[precision], 3)}
        (_, out32, emb32), (_, out16, emb16) = results["fp32"], results["bf16"]
        emo["macro_F1_bf16_minus_fp32"] = emo["bf16"]["macro_F1"] - emo["fp32"]["macro_F1"]
        emo["max_abs_posterior_diff"] = float(np.abs(out16 - out32).max())
        emo["decisions_changed"] = float(np.mean(out16.argmax(1) != out32.argmax(1)))
        cosine = (emb16 * emb32).sum(1) / np.linalg.norm(emb16, axis=1) / np.linalg.norm(emb32, axis=1)
        emo["min_embedding_cosine"] = float(cosine.min())
        emo["speedup_bf16_over_fp32"] = round(seconds["fp32"] / seconds["bf16"], 3)
        report["emotion"] = emo
        print(json.dumps({"emotion": emo}, indent=1), flush=True)
    report["load_end"] = load_average()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
