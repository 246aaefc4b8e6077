"""Benchmark the MSP-Podcast emotion model's training step: LoRA vs whole backbone, and on-the-fly augmentation.

Both comparisons are measured in one run, on the same random 16 kHz batches (``--batch_size``
crops of ``--seconds`` s, cut by the task's ``EmotionCrop`` from random utterances):

(a) LoRA vs whole backbone. The category model (``W2VBertEmotionModel`` inside the task's
    ``EmotionESPnetModel``: attentive pooling, FC + ReLU + BatchNorm, 10 outputs, cross-entropy)
    with LoRA adapters (r 32, alpha 32, dropout 0.05 on linear_q/k/v/out; backbone frozen)
    against ``use_lora=False`` (every backbone weight trained). Step = forward + CE + backward
    + gradient-norm clipping at 5 (ESPnet's default ``--grad_clip``) + Adam (lr 1e-4, weight
    decay 0.001, the recipe's) on the trainable parameters. The features of every batch are
    computed once before timing, so only the model differs. Both models start from the same
    backbone weights.
(b) on-the-fly augmentation. ``EmotionCollate`` (padding, ``WaveformAugmenter``, the
    Wav2Vec2-BERT log-mel features) followed by a LoRA step, without augmentation against
    the recipe's augmentation (noise 0.5, RIR 0.5 per utterance, speed 90/110 % on half of
    the batches, SNR 0-15 dB) and against noise and RIR on every utterance (speed as before).
    Noises and RIRs are the generated stand-ins of ``voxrecipes.corpora.synth_augment``
    (8 of each, in a temporary folder, listed by ``make_audio_csv``). The augmenters are
    seeded, so every run draws the same augmentations. One LoRA model serves all variants.
    The collate function alone is also timed ``--collate_reps`` times per variant.

Variants are timed round-robin (one step of each per round, order alternating) so that load
from other processes hits them alike; the first ``--warmup`` rounds are not timed. Figures are
medians over the timed steps, except in (b) where means are given too: a speed-perturbed batch
is 10 % longer or shorter and costs more to augment, so the expected cost per batch is the mean.
Ratios are steps per second of one variant over the other. Weights are random (built from a
config), which does not change the cost of a step; SpecAugment masking and layer drop are off
so that every step does the same work. On CUDA, ``--bf16`` runs forward and loss under bf16
autocast, steps are synchronised before the clock stops, and each model variant's peak memory
is what ``torch.cuda.max_memory_allocated`` rose by from just before it was built to the end
of its first step (weights, gradients, Adam state and activations); on CPU no memory is given.
In training the collate function runs in data-loader workers, in parallel with the step, so
(b) is the cost when it is not hidden (``num_workers 0``, or workers that cannot keep up).

Example::

    tools/venv/bin/python bench/bench_emotion_training.py                      # tiny, CPU smoke run
    tools/venv/bin/python bench/bench_emotion_training.py --size base --steps 4 --json /tmp/emo_base.json
    tools/venv/bin/python bench/bench_emotion_training.py --size large --device cuda --bf16 --steps 20 --warmup 3
"""

from __future__ import annotations

import argparse
import contextlib
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

# The machine description is the toxicity benchmark's (this folder is on sys.path when a script in it runs).
from machine import cpu_name, load_average

#: backbone sizes (random weights): "tiny" is the mini recipe's, "base" a mid-size one that runs on CPU in a few
#: minutes, "large" the shape of facebook/w2v-bert-2.0 (Wav2Vec2BertConfig's defaults; for a GPU)
SIZES = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                 output_hidden_size=64, conv_depthwise_kernel_size=15),
    "base": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                 output_hidden_size=256, conv_depthwise_kernel_size=31),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                  output_hidden_size=1024, conv_depthwise_kernel_size=31),
}
#: the same work every step: no SpecAugment masking, no layer drop
FIXED = dict(mask_time_prob=0.0, layerdrop=0.0)
#: the paper's LoRA and head (egs/msp_podcast/emo1/conf/train_emotion_category.yaml)
LORA = dict(lora_r=32, lora_alpha=32, lora_dropout=0.05)
HEAD = dict(embedding_dim=256, attention_dim=128)
#: the recipe's optimiser and ESPnet's default gradient clipping
LR, WEIGHT_DECAY, GRAD_CLIP = 1e-4, 0.001, 5.0
#: augmentation variants of (b): None = no augmentation; the rest are WaveformAugmenter options
AUGMENTATIONS = {
    "none": None,
    "recipe": dict(noise_prob=0.5, rir_prob=0.5, snr_low=0.0, snr_high=15.0, speed_prob=0.5, speeds=[90, 110]),
    "all": dict(noise_prob=1.0, rir_prob=1.0, snr_low=0.0, snr_high=15.0, speed_prob=0.5, speeds=[90, 110]),
}
SAMPLING_RATE = 16000
NUM_BATCHES = 4  # distinct batches, cycled through by round


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(SIZES), default="tiny",
                        help="backbone size: tiny (hidden 64, 2 layers; default, CPU smoke run), base (hidden 256, "
                             "4 layers; a few minutes on CPU) or large (w2v-bert-2.0: hidden 1024, 24 layers, "
                             "16 heads, intermediate 4096; for a GPU)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for forward and loss (meant for CUDA)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds before timing")
    parser.add_argument("--batch_size", type=int, default=8, help="crops per batch")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of every crop")
    parser.add_argument("--collate_reps", type=int, default=20,
                        help="(b): extra timings of the collate function alone per variant (0: none)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--parts", nargs="+", choices=("a", "b"), default=["a", "b"], help="comparisons to run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", "--out", dest="json", default=None, help="write the results as JSON here")
    return parser


# ------------------------------------------------------------------------------------------------------- data

def make_batches(args, rng: np.random.Generator) -> list[list[tuple[str, dict[str, np.ndarray]]]]:
    """``NUM_BATCHES`` batches of ``(utt, {speech, category})``: random utterances cut by the task's training crop."""
    from voxrecipes.tasks.emotion import CLASSES, EmotionCrop

    crop = EmotionCrop(args.seconds, args.seconds, train=True)
    np.random.seed(args.seed)  # EmotionCrop draws from np.random, as under ESPnet
    batches = []
    for b in range(NUM_BATCHES):
        batch = []
        for i in range(args.batch_size):
            samples = int(rng.uniform(args.seconds, 2 * args.seconds) * SAMPLING_RATE)
            speech = (0.1 * rng.standard_normal(samples)).astype(np.float32)
            data = crop(f"utt{b}_{i}", {"speech": speech, "category": np.array(rng.integers(len(CLASSES)))})
            batch.append((f"utt{b}_{i}", data))
        batches.append(batch)
    return batches


def make_augment_csvs(folder: Path, seed: int) -> tuple[str, str]:
    """Generated noises and RIRs under ``folder`` and their speechbrain CSVs."""
    from voxrecipes.corpora.synth_augment import generate
    from voxrecipes.data.augment import make_audio_csv

    made = generate(folder, num_noises=8, num_rirs=8, seed=seed)
    noise_csv, rir_csv = folder / "noise.csv", folder / "rir.csv"
    make_audio_csv(made["noise_dir"], noise_csv, what="noise")
    make_audio_csv(made["rir_dir"], rir_csv, what="RIR")
    return str(noise_csv), str(rir_csv)


# ------------------------------------------------------------------------------------------------------ model

def build_model(args, use_lora: bool, device: torch.device):
    """The task's category model (random weights of ``--size``) and Adam over its trainable parameters."""
    from transformers import Wav2Vec2BertConfig

    from voxrecipes.models.w2vbert_classifier import W2VBertEmotionModel
    from voxrecipes.tasks.emotion import CLASSES, F1_CLASSES
    from voxrecipes.tasks.emotion_model import EmotionESPnetModel

    torch.manual_seed(args.seed)  # the same backbone weights for both variants
    config = Wav2Vec2BertConfig(**SIZES[args.size], **FIXED)
    core = W2VBertEmotionModel(config, num_outputs=len(CLASSES), task="category", use_lora=use_lora,
                               **LORA, **HEAD)
    model = EmotionESPnetModel(core, CLASSES, F1_CLASSES).to(device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=LR, weight_decay=WEIGHT_DECAY)
    return model, optimizer, trainable


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    return {"total": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(model, optimizer, trainable, batch: dict[str, torch.Tensor], bf16: bool) -> float:
    """Forward + CE (under bf16 autocast if asked), backward, clipping, Adam step; return the loss."""
    device = batch["input_features"].device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        loss, _, _ = model(**batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, GRAD_CLIP)
    optimizer.step()
    return float(loss.detach())


def first_step_memory(build: Callable[[], tuple], step: Callable[[tuple], None], device: torch.device):
    """Build a variant and run one (untimed) step; on CUDA also the peak memory that this took, in MiB."""
    if device.type != "cuda":
        run = build()
        step(run)
        return run, None
    sync(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run = build()
    step(run)
    sync(device)
    return run, (torch.cuda.max_memory_allocated(device) - before) / 2**20


# ----------------------------------------------------------------------------------------------------- timing

def time_round_robin(variants: dict[str, Callable[[int], dict[str, float]]], steps: int,
                     warmup: int) -> dict[str, list[dict[str, float]]]:
    """Run ``warmup + steps`` rounds of one step per variant (order alternating); keep the last ``steps``.

    Each variant returns its own timings (at least ``"total"``) for the round.
    """
    names = list(variants)
    times: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for round_ in range(warmup + steps):
        parts = {}
        for name in names if round_ % 2 == 0 else names[::-1]:
            parts[name] = variants[name](round_)
            if round_ >= warmup:
                times[name].append(parts[name])
        label = "(warm-up)" if round_ < warmup else ""
        print(f"  round {round_ + 1}/{warmup + steps} {label}: " + ", ".join(
            f"{n} {parts[n]['total']:.3f} s" for n in names), file=sys.stderr, flush=True)
    return times


def stats(values: list[float]) -> dict:
    return {"median_s": statistics.median(values), "mean_s": statistics.fmean(values), "best_s": min(values),
            "values_s": values}


def timed(fn: Callable[[], object], device: torch.device) -> tuple[object, float]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


# ------------------------------------------------------------------------------------------------------ parts

def bench_lora(args, batches, device: torch.device) -> dict:
    from voxrecipes.tasks.emotion import EmotionCollate

    collate = EmotionCollate(None)
    feats = [to_device(collate(batch)[1], device) for batch in batches]  # precomputed: only the model differs
    runs, memory, counts = {}, {}, {}
    for name, use_lora in (("full", False), ("lora", True)):
        runs[name], memory[name] = first_step_memory(
            lambda use_lora=use_lora: build_model(args, use_lora, device),
            lambda run: train_step(*run, feats[0], args.bf16), device)
        counts[name] = parameter_counts(runs[name][0])

    def step(name: str, round_: int) -> dict[str, float]:
        _, elapsed = timed(lambda: train_step(*runs[name], feats[round_ % len(feats)], args.bf16), device)
        return {"total": elapsed}

    times = time_round_robin({name: (lambda r, name=name: step(name, r)) for name in runs}, args.steps, args.warmup)
    out: dict = {}
    for name in runs:
        s = stats([t["total"] for t in times[name]])
        out[name] = {**s, "steps_per_s": 1.0 / s["median_s"], "parameters": counts[name],
                     "peak_memory_mib": memory[name]}
    out["ratio"] = out["lora"]["steps_per_s"] / out["full"]["steps_per_s"]
    out["paired_ratio_median"] = statistics.median(
        f["total"] / lo["total"] for f, lo in zip(times["full"], times["lora"], strict=True))
    out["ratio_of_best"] = out["full"]["best_s"] / out["lora"]["best_s"]
    out["feature_shape"] = list(feats[0]["input_features"].shape)
    return out


def bench_augmentation(args, batches, device: torch.device) -> dict:
    from voxrecipes.data.augment import WaveformAugmenter
    from voxrecipes.tasks.emotion import EmotionCollate

    with tempfile.TemporaryDirectory() as tmp:
        noise_csv, rir_csv = make_augment_csvs(Path(tmp), args.seed)
        collates = {}
        for name, conf in AUGMENTATIONS.items():
            augmenter = None if conf is None else WaveformAugmenter(noise_csv=noise_csv, rir_csv=rir_csv,
                                                                    seed=args.seed, **conf)
            collates[name] = EmotionCollate(augmenter)
        frames = {name: [] for name in collates}

        def collate(name: str, round_: int) -> dict[str, torch.Tensor]:
            out = collates[name](batches[round_ % len(batches)])[1]
            frames[name].append(int(out["input_features"].shape[1]))
            return out

        run, _ = first_step_memory(lambda: build_model(args, True, device),
                                   lambda run: train_step(*run, to_device(collate("none", 0), device), args.bf16),
                                   device)

        def step(name: str, round_: int) -> dict[str, float]:
            batch, collate_s = timed(lambda: collate(name, round_), device)
            _, step_s = timed(lambda: train_step(*run, to_device(batch, device), args.bf16), device)
            return {"collate": collate_s, "step": step_s, "total": collate_s + step_s}

        times = time_round_robin({name: (lambda r, name=name: step(name, r)) for name in collates},
                                 args.steps, args.warmup)
        alone: dict[str, list[float]] = {name: [] for name in collates}
        for rep in range(args.collate_reps):
            for name in collates if rep % 2 == 0 else list(collates)[::-1]:
                alone[name].append(timed(lambda name=name, rep=rep: collate(name, rep), device)[1])
    plain = frames["none"][0]  # feature frames of an unperturbed batch
    out: dict = {}
    for name in collates:
        entry = {part: stats([t[part] for t in times[name]]) for part in ("collate", "step", "total")}
        entry["steps_per_s"] = 1.0 / entry["total"]["median_s"]
        entry["steps_per_s_mean"] = 1.0 / entry["total"]["mean_s"]
        entry["collate_alone"] = stats(alone[name]) if alone[name] else None
        entry["frames_seen"] = sorted(set(frames[name]))
        entry["speed_perturbed_batches"] = sum(abs(f - plain) > 2 for f in frames[name])
        entry["collate_calls"] = len(frames[name])
        entry["augmentation"] = AUGMENTATIONS[name]
        out[name] = entry
    # The steps of all variants do the same work (but for the length change of speed-perturbed batches), so their
    # pooled median is a steadier step time than each variant's own under load; the derived ratio uses it together
    # with the mean collate time (alone, more repetitions, when measured).
    pooled_step = statistics.median(t["step"] for name in collates for t in times[name])
    out["pooled_step_median_s"] = pooled_step
    for name in collates:
        collate_s = (out[name]["collate_alone"] or out[name]["collate"])["mean_s"]
        out[name]["derived_steps_per_s"] = 1.0 / (collate_s + pooled_step)
    for name in collates:
        if name != "none":
            none = out["none"]
            out[name]["ratio_vs_none"] = out[name]["steps_per_s"] / none["steps_per_s"]
            out[name]["ratio_vs_none_mean"] = out[name]["steps_per_s_mean"] / none["steps_per_s_mean"]
            out[name]["paired_ratio_median"] = statistics.median(
                n["total"] / a["total"] for n, a in zip(times["none"], times[name], strict=True))
            out[name]["derived_ratio_vs_none"] = out[name]["derived_steps_per_s"] / none["derived_steps_per_s"]
            extra = (out[name]["collate_alone"] or out[name]["collate"])["mean_s"] - \
                (none["collate_alone"] or none["collate"])["mean_s"]
            out[name]["extra_collate_s"] = extra
            out[name]["extra_collate_per_step"] = extra / pooled_step
    return out


# ------------------------------------------------------------------------------------------------ environment

def environment(args, device: torch.device) -> dict:
    import peft
    import speechbrain
    import transformers

    cpu = cpu_name()
    return {
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python", "bench/bench_emotion_training.py"] + sys.argv[1:]),
        "machine": {"cpu": cpu, "cores_visible": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "platform": platform.platform(), "load_average_1_5_15_at_start": load_average()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "peft": peft.__version__,
                     "speechbrain": speechbrain.__version__, "numpy": np.__version__},
        "config": {"size": args.size, **SIZES[args.size], **FIXED, **LORA, **HEAD, "lr": LR,
                   "weight_decay": WEIGHT_DECAY, "grad_clip": GRAD_CLIP, "batch_size": args.batch_size,
                   "seconds": args.seconds, "steps": args.steps, "warmup": args.warmup, "bf16": args.bf16,
                   "collate_reps": args.collate_reps},
    }


# ---------------------------------------------------------------------------------------------------- report

def markdown(report: dict) -> str:
    """The results as Markdown tables (what BENCHMARKS.md shows)."""
    lines = []
    res = report["results"]
    if "a_lora" in res:
        a = res["a_lora"]
        lines += ["| (a) model | trainable / total parameters | median s/step | steps/s | peak memory MiB |",
                  "|---|---|---|---|---|"]
        for name, label in (("full", "whole backbone"), ("lora", "LoRA r 32")):
            r = a[name]
            mem = "n/a (CPU)" if r["peak_memory_mib"] is None else f"{r['peak_memory_mib']:.0f}"
            lines.append(f"| {label} | {r['parameters']['trainable']:,} / {r['parameters']['total']:,} | "
                         f"{r['median_s']:.3f} | {r['steps_per_s']:.2f} | {mem} |")
        lines += ["", f"LoRA / whole backbone: **{a['ratio']:.2f}x** steps/s (medians; median of per-round ratios "
                      f"{a['paired_ratio_median']:.2f}x, best steps {a['ratio_of_best']:.2f}x); features "
                      f"{a['feature_shape']}.", ""]
    if "b_augmentation" in res:
        b = res["b_augmentation"]
        lines += ["| (b) augmentation | collate s/batch (mean) | extra collate s vs none | extra / LoRA step | "
                  "collate + step s (mean) | steps/s (mean) | ratio vs none: measured (paired) | "
                  "ratio vs none: derived |",
                  "|---|---|---|---|---|---|---|---|"]
        for name in AUGMENTATIONS:
            r = b[name]
            collate = (r["collate_alone"] or r["collate"])["mean_s"]
            if name == "none":
                extra, measured, derived = "0 | 0%", "1", "1"
            else:
                extra = f"{r['extra_collate_s']:+.3f} | {r['extra_collate_per_step']:.0%}"
                measured = f"{r['ratio_vs_none_mean']:.2f}x ({r['paired_ratio_median']:.2f}x)"
                derived = f"**{r['derived_ratio_vs_none']:.2f}x**"
            lines.append(f"| {name} | {collate:.3f} | {extra} | {r['total']['mean_s']:.3f} | "
                         f"{r['steps_per_s_mean']:.2f} | {measured} | {derived} |")
        speed = ", ".join(f"{n} {b[n]['speed_perturbed_batches']}/{b[n]['collate_calls']}" for n in AUGMENTATIONS
                          if n != "none")
        lines += ["", f"LoRA step (pooled median over all variants): {b['pooled_step_median_s']:.3f} s. Collate "
                      "times are those of the collate function alone when --collate_reps > 0. Speed-perturbed "
                      f"batches among all collate calls: {speed}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = get_parser().parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.collate_reps < 0 or args.batch_size < 1 or args.seconds <= 0:
        raise SystemExit("need --steps >= 1, --warmup >= 0, --collate_reps >= 0, --batch_size >= 1, --seconds > 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device available")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rng = np.random.default_rng(args.seed)
    report = environment(args, device)
    batches = make_batches(args, rng)
    report["results"] = {}
    start = time.perf_counter()
    if "a" in args.parts:
        print("(a) LoRA vs whole backbone", file=sys.stderr)
        report["results"]["a_lora"] = bench_lora(args, batches, device)
    if "b" in args.parts:
        print("(b) collate + LoRA step with and without augmentation", file=sys.stderr)
        report["results"]["b_augmentation"] = bench_augmentation(args, batches, device)
    report["wall_s"] = time.perf_counter() - start
    report["machine"]["load_average_1_5_15_at_end"] = load_average()
    machine = report["machine"]
    print(f"size {args.size}, device {machine['device']}, {machine['torch_threads']} threads, batch "
          f"{args.batch_size} x {args.seconds:g} s, {args.steps} timed steps after {args.warmup} warm-up rounds, "
          f"bf16 {args.bf16}; load {machine['load_average_1_5_15_at_start']} -> "
          f"{machine['load_average_1_5_15_at_end']}; {report['wall_s']:.0f} s\n")
    print(markdown(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
