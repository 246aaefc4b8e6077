"""Chunk scoring cost: full 15 s padding against dynamic padding, and where the time goes, in one run.

Issue 16 part 4: "a 3 s clip should not cost a 15 s forward". Three ways to score the
same length-sorted batches of chunks with a Whisper-base-sized toxicity classifier
(random weights: the cost does not depend on them):

- ``padded``: a model without dynamic padding, features padded to 15 s, every frame
  through the encoder (the paper's setting, and what such a model needs);
- ``dynamic, 15 s features``: a dynamic-padding model (the encoder runs on the batch's
  longest chunk) fed Whisper features computed on the waveform padded to 15 s (scoring
  before this change);
- ``dynamic``: the same model with features computed only up to the batch's longest
  chunk (``toxicity_scoring.chunk_features``; scoring now).

Each batch is timed in two parts, feature extraction and model forward, so that the
profile shows where the time goes. Variants are timed round-robin per batch (order
rotating) so that load from other processes hits them alike; figures are sums over the
batches of the median of ``--rounds`` rounds. Scores of the two dynamic variants are
compared (max |difference|).

Clip lengths follow the mini toxicity corpus (mostly short: 1-8 s, some up to 20 s,
chunked at 15 s), drawn with a fixed seed.

Example::

    OMP_NUM_THREADS=2 tools/venv/bin/python bench/bench_chunk_scoring.py --out /tmp/chunk_scoring.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from machine import cpu_name, load_average

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voxrecipes.data.chunking import chunk_bounds  # noqa: E402
from voxrecipes.models.whisper_classifier import (  # noqa: E402
    WhisperTextInjectionClassifier,
    build_encoder,
    extract_features,
    make_feature_extractor,
)
from voxrecipes.tasks.toxicity import CLASSES, TrainedClassifier  # noqa: E402
from voxrecipes.tasks.toxicity_scoring import chunk_features  # noqa: E402

SR = 16000
MAX_SECONDS = 15.0  # paper: 15 s chunks
#: Whisper-base's encoder dimensions
BASE = dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048, num_mel_bins=80)


def clip_seconds(rng: np.random.Generator, n: int) -> list[float]:
    """Mostly 1-8 s, one in ten 8-20 s (the mini toxicity corpus: mean about 5.7 s, 5% over 15 s)."""
    return [float(rng.uniform(8, 20) if rng.random() < 0.1 else rng.uniform(1, 8)) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=64, help="clips to score")
    parser.add_argument("--batch_size", type=int, default=8, help="chunks per forward pass")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per batch (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    from transformers import WhisperConfig

    rng = np.random.default_rng(args.seed)
    seconds = clip_seconds(rng, args.clips)
    chunks = []
    for s in seconds:
        wave = (0.1 * rng.standard_normal(int(s * SR))).astype(np.float32)
        chunks += [wave[a:b] for a, b in chunk_bounds(len(wave), SR, MAX_SECONDS, MAX_SECONDS)]
    chunks.sort(key=len)  # scoring sorts chunks by length within windows
    batches = [chunks[i:i + args.batch_size] for i in range(0, len(chunks), args.batch_size)]

    torch.manual_seed(args.seed)
    encoder = build_encoder(WhisperConfig(**BASE), MAX_SECONDS)
    dynamic = WhisperTextInjectionClassifier(encoder, num_classes=len(CLASSES), proj_dim=256, text_dim=8,
                                             dynamic_padding=True).eval()
    padded = WhisperTextInjectionClassifier(encoder, num_classes=len(CLASSES), proj_dim=256, text_dim=8,
                                            dynamic_padding=False).eval()
    padded.load_state_dict(dynamic.state_dict())
    trained_dynamic = TrainedClassifier(dynamic, list(CLASSES), MAX_SECONDS, 80, Path("none"))
    extractor = make_feature_extractor(MAX_SECONDS, 80)

    variants = {
        "padded": (padded, lambda waves: extract_features(extractor, waves)),
        "dynamic_15s_features": (dynamic, lambda waves: extract_features(extractor, waves)),
        "dynamic": (dynamic, lambda waves: chunk_features(trained_dynamic, extractor, waves)),
    }
    totals = {name: {"features_s": 0.0, "forward_s": 0.0} for name in variants}
    scores: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    start_all = time.perf_counter()
    report = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "command": " ".join(sys.argv), "cpu": cpu_name(), "torch_threads": torch.get_num_threads(),
              "load_start": load_average(), "clips": len(seconds), "chunks": len(chunks),
              "audio_s": round(sum(seconds), 1), "batches": len(batches), "batch_size": args.batch_size}
    names = list(variants)
    with torch.no_grad():
        for b, waves in enumerate(batches):
            samples: dict[str, dict[str, list[float]]] = {n: {"features_s": [], "forward_s": []} for n in names}
            for r in range(args.rounds):
                shift = (b + r) % len(names)
                for name in names[shift:] + names[:shift]:
                    model, features_of = variants[name]
                    t0 = time.perf_counter()
                    features, lengths = features_of(waves)
                    t1 = time.perf_counter()
                    logits, _ = model(features, lengths)
                    t2 = time.perf_counter()
                    samples[name]["features_s"].append(t1 - t0)
                    samples[name]["forward_s"].append(t2 - t1)
                    if r == 0:
                        scores[name].append(torch.sigmoid(logits).numpy())
            for name in names:
                for part in ("features_s", "forward_s"):
                    totals[name][part] += statistics.median(samples[name][part])
    for name in names:
        totals[name] = {k: round(v, 3) for k, v in totals[name].items()}
        totals[name]["total_s"] = round(totals[name]["features_s"] + totals[name]["forward_s"], 3)
    report["variants"] = totals
    report["speedup_dynamic_over_padded"] = round(totals["padded"]["total_s"] / totals["dynamic"]["total_s"], 2)
    report["speedup_dynamic_over_dynamic_15s_features"] = round(
        totals["dynamic_15s_features"]["total_s"] / totals["dynamic"]["total_s"], 2)
    report["features_speedup"] = round(totals["dynamic_15s_features"]["features_s"]
                                       / totals["dynamic"]["features_s"], 2)
    report["max_abs_score_diff_dynamic_vs_15s_features"] = float(np.abs(
        np.concatenate(scores["dynamic"]) - np.concatenate(scores["dynamic_15s_features"])).max())
    report["wall_s"] = round(time.perf_counter() - start_all, 1)
    report["load_end"] = load_average()
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
