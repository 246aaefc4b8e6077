"""Where the fixed cost of one batch-1 toxicity scoring call goes (issue 16 part 2).

``score_chunks`` (the code ``score_toxicity`` runs per batch: Whisper log-mel features, then the
15 s dynamic-padding encoder, projection, masked mean, classifier) is called at batch 1 on clips
of ``--lengths`` seconds, in fp32 and bf16 autocast, with a tiny encoder (d_model 64, 2 layers)
and a Whisper-base-sized one (d_model 512, 6 layers, 8 heads, ffn 2048, 80 mels; random weights:
the cost does not depend on them). The clip lengths are visited twice: the first pass meets
each input shape for the first time, the second repeats shapes already seen. Per call the
feature extraction and the forward pass are timed apart (``time.perf_counter``).

The split between first-time and repeated shapes measures what oneDNN's primitive creation
(kernel generation per new shape, JIT for AMX/AVX-512 in bf16) costs; the first call of all
adds the thread pool's and the allocator's start-up. ``--bucket_seconds`` rounds each clip's
length up to a multiple (zeros appended; the dynamic-padding model masks them out of
attention and pooling), so that shapes repeat. ``--torch_profile`` prints the top operators of
one first-time-shape call and one repeated-shape call.

Example::

    OMP_NUM_THREADS=1 nice -n 19 tools/venv/bin/python bench/profile_batch1.py --json /tmp/profile_batch1.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
from machine import cpu_name, load_average  # this folder is on sys.path when a script in it runs

SIZES = {"tiny": dict(d_model=64, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128),
         "base": dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048)}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"])
    parser.add_argument("--lengths", nargs="+", type=float,
                        default=[2.3, 4.1, 7.7, 3.2, 11.4, 5.6, 14.9, 1.4, 9.3, 6.8],
                        help="clip lengths (s), each visited twice")
    parser.add_argument("--bucket_seconds", type=float, default=0.0, help="round lengths up to a multiple (0: off)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--torch_profile", action="store_true")
    parser.add_argument("--json", default=None)
    return parser


def build(size: str):
    from transformers import WhisperConfig

    from voxrecipes.models.whisper_classifier import WhisperTextInjectionClassifier, build_encoder
    from voxrecipes.tasks.toxicity import TrainedClassifier

    torch.manual_seed(0)
    config = WhisperConfig(num_mel_bins=80, **SIZES[size])
    model = WhisperTextInjectionClassifier(build_encoder(config, 15), num_classes=6, proj_dim=256, text_dim=8,
                                           dynamic_padding=True).eval()
    return TrainedClassifier(model, ["Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation"],
                             15.0, 80, None)


def timed_call(trained, extractor, wave: np.ndarray, precision: str) -> tuple[float, float]:
    from voxrecipes.models.precision import autocast
    from voxrecipes.tasks.toxicity_scoring import chunk_features

    start = time.perf_counter()
    features, lengths = chunk_features(trained, extractor, [wave])
    mid = time.perf_counter()
    with torch.no_grad(), autocast(precision, "cpu"):
        trained.model(features, lengths)
    return mid - start, time.perf_counter() - mid


def main() -> None:
    from voxrecipes.models.whisper_classifier import make_feature_extractor

    args = get_parser().parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    lengths = [np.ceil(s / args.bucket_seconds) * args.bucket_seconds if args.bucket_seconds else s
               for s in args.lengths]
    waves = [(0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32) for s in lengths]
    extractor = make_feature_extractor(15.0, 80)
    report = {"command": " ".join(["python", "bench/profile_batch1.py"] + sys.argv[1:]), "cpu": cpu_name(),
              "torch": torch.__version__, "threads": args.threads, "load_at_start": load_average(), "results": {}}
    for size in args.sizes:
        trained = build(size)
        for precision in args.precisions:
            # a fresh process would be fairer; instead each (size, precision) pair gets its own model and the
            # shapes are new to it only if no earlier pair used them: so the tiny model goes first, and the
            # first pass of each pair is compared with its own second pass
            calls = [timed_call(trained, extractor, w, precision) for w in waves + waves]
            first, second = calls[:len(waves)], calls[len(waves):]
            row = {"first_call_features_s": first[0][0], "first_call_forward_s": first[0][1],
                   "new_shape_forward_median_s": float(np.median([c[1] for c in first[1:]])),
                   "repeat_shape_forward_median_s": float(np.median([c[1] for c in second])),
                   "features_median_s": float(np.median([c[0] for c in calls[1:]]))}
            row["new_over_repeat"] = row["new_shape_forward_median_s"] / row["repeat_shape_forward_median_s"]
            report["results"][f"{size} {precision}"] = row
            print(f"{size} {precision}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
            if args.torch_profile:
                from torch.profiler import ProfilerActivity, profile

                fresh = (0.1 * rng.standard_normal(int(16000 * 8.05))).astype(np.float32)  # a shape not seen yet
                for label, wave in (("new shape", fresh), ("repeated shape", fresh)):
                    with profile(activities=[ProfilerActivity.CPU]) as prof:
                        timed_call(trained, extractor, wave, precision)
                    print(f"--- {size} {precision}, {label}:")
                    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
    report["load_at_end"] = load_average()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main()
