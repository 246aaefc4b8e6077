"""Benchmark the ASR stage's backends: faster-whisper int8 against the transformers pipeline, same utterances.

One run, one model (``--model``, default ``package:whisper_base``: OpenAI Whisper-base as
CTranslate2 for faster-whisper, and the same weights converted to transformers), the same
``--num_utts`` utterances of a Kaldi data dir that has a reference ``text``:

- ``faster_whisper int8``: :class:`voxrecipes.models.asr_faster_whisper.FasterWhisperTranscriber`,
  ``compute_type`` int8 (the stage's CPU default), ``cpu_threads`` = ``--threads``;
- ``transformers fp32``: :class:`voxrecipes.models.asr.Transcriber`, float32 weights,
  ``torch.set_num_threads(--threads)``;
- ``transformers bf16`` (``--variants``): the same pipeline with bfloat16 weights.

Every variant decodes as the stage does: greedy (beam 1), with timestamps (segments),
``--language``, batches of ``--batch_size`` utterances of one language sorted by length
(longest first). The batches are timed round-robin, one batch of each variant per round
in alternating order, so that load from other processes on shared cores hits the
variants alike; ``--warmup`` rounds (the first batches, decoded again later) are not
timed. Per variant the report gives the summed wall and CPU time of its timed batches
(CPU: ``time.process_time``, all threads of this process), utterances per second, the
real-time factor, and the WER of its hypotheses against the reference
(:mod:`voxrecipes.metrics.wer`); the ratios are the transformers variants' times over
faster-whisper's (above 1: faster-whisper is faster), computed from the same rounds.

Example (data from the mini podcast recipe: ``egs/mini_podcast/emo1/local/data.sh``)::

    tools/venv/bin/python bench/bench_asr.py --data egs/mini_podcast/emo1/data/test1 --num_utts 64 \\
        --json /tmp/bench_asr.json
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

# The machine description is the toxicity benchmark's (this folder is on sys.path when a script in it runs).
from machine import cpu_name, load_average

VARIANTS = ("faster_whisper_int8", "transformers_fp32", "transformers_bf16")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="Kaldi data dir with wav.scp and a reference text")
    parser.add_argument("--num_utts", type=int, default=64, help="the first N utterances (C order)")
    parser.add_argument("--model", default="package:whisper_base",
                        help="a packaged Whisper (package:whisper_base, package:whisper_tiny_en): CTranslate2 for "
                             "faster-whisper, converted for transformers")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=["faster_whisper_int8",
                                                                             "transformers_fp32"])
    parser.add_argument("--language", default="en", help="decoding language of every utterance")
    parser.add_argument("--batch_size", type=int, default=8, help="utterances per batch (the stage's default)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--threads", type=int, default=2, help="torch threads and CTranslate2 cpu_threads")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    return parser


def load_utterances(data: str, num_utts: int) -> tuple[list[str], list[np.ndarray], dict[str, str]]:
    """The first ``num_utts`` utterances (C order) of ``data``: ids, 16 kHz waves, reference texts."""
    from voxrecipes.data.audio import iter_audio
    from voxrecipes.data.datadir import DataDir

    dd = DataDir.load(data)
    if dd.text is None:
        raise SystemExit(f"{data} has no text: the WER needs a reference")
    subset = dd.select(dd.utts[:num_utts])
    utts, waves = [], []
    for utt, wave in iter_audio(subset, sample_rate=16000):
        utts.append(utt)
        waves.append(wave)
    return utts, waves, {u: dd.text[u] for u in utts}


def build(variant: str, model: str, language: str, threads: int):
    import torch

    from voxrecipes.models.asr import Transcriber
    from voxrecipes.models.asr_faster_whisper import FasterWhisperTranscriber

    torch.set_num_threads(threads)
    if variant == "faster_whisper_int8":
        return FasterWhisperTranscriber(model, compute_type="int8", language=language, cpu_threads=threads)
    return Transcriber(model, dtype="bfloat16" if variant == "transformers_bf16" else "float32", language=language)


def time_round_robin(runs: dict[str, Callable[[int], list]], batches: list[list[int]], warmup: int) -> dict:
    """Each round decodes one batch with every variant (order alternating); the first ``warmup`` are repeated."""
    names = list(runs)
    out = {name: {"wall_s": [], "cpu_s": [], "hyps": {}} for name in names}
    order = list(range(min(warmup, len(batches)))) + list(range(len(batches)))
    for round_, b in enumerate(order):
        timed = round_ >= min(warmup, len(batches))
        for name in names if round_ % 2 == 0 else names[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            hyps = runs[name](b)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if timed:
                out[name]["wall_s"].append(wall)
                out[name]["cpu_s"].append(cpu)
                out[name]["hyps"].update(zip(batches[b], hyps))
        print(f"  round {round_ + 1}/{len(order)}{'' if timed else ' (warm-up)'}: " + ", ".join(
            f"{n} {out[n]['wall_s'][-1] if timed else 0:.2f} s" for n in names), file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    import ctranslate2
    import faster_whisper
    import torch
    import transformers

    from voxrecipes.metrics.wer import word_error_rate

    args = get_parser().parse_args(argv)
    if args.num_utts < 1 or args.batch_size < 1 or args.warmup < 0 or args.threads < 1:
        raise SystemExit("need --num_utts >= 1, --batch_size >= 1, --warmup >= 0, --threads >= 1")
    utts, waves, refs = load_utterances(args.data, args.num_utts)
    order = sorted(range(len(waves)), key=lambda i: -len(waves[i]))  # as the stage: longest first
    batches = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    audio_s = sum(len(w) for w in waves) / 16000
    report = {
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python", "bench/bench_asr.py"] + sys.argv[1:]),
        "machine": {"cpu": cpu_name(), "cores_visible": os.cpu_count(), "threads": args.threads,
                    "platform": platform.platform(), "load_average_1_5_15_at_start": load_average()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "faster_whisper": faster_whisper.__version__,
                     "ctranslate2": ctranslate2.__version__, "jiwer": importlib.metadata.version("jiwer")},
        "config": {"data": args.data, "num_utts": len(utts), "audio_s": audio_s, "model": args.model,
                   "language": args.language, "batch_size": args.batch_size, "batches": len(batches),
                   "warmup": args.warmup},
    }
    transcribers, load_s = {}, {}
    for name in args.variants:
        start = time.perf_counter()
        transcribers[name] = build(name, args.model, args.language, args.threads)
        load_s[name] = time.perf_counter() - start
    runs = {name: (lambda b, t=t: [h.text for h in t.transcribe_batch([waves[i] for i in batches[b]],
                                                                        args.language)])
            for name, t in transcribers.items()}
    start = time.perf_counter()
    timings = time_round_robin(runs, batches, args.warmup)
    report["wall_s_total"] = time.perf_counter() - start
    report["machine"]["load_average_1_5_15_at_end"] = load_average()
    results = {}
    timed_utts = sorted(timings[args.variants[0]]["hyps"])
    timed_audio_s = sum(len(waves[i]) for i in timed_utts) / 16000
    for name in args.variants:
        t = timings[name]
        hyps = {utts[i]: t["hyps"][i] or "<empty>" for i in timed_utts}
        wer = word_error_rate({utts[i]: refs[utts[i]] for i in timed_utts}, hyps, empty_placeholder="<empty>")
        wall, cpu = sum(t["wall_s"]), sum(t["cpu_s"])
        results[name] = {"load_s": load_s[name], "wall_s": wall, "cpu_s": cpu, "utts_per_s": len(timed_utts) / wall,
                         "real_time_factor": wall / timed_audio_s, "wer": wer,
                         "batch_wall_s": t["wall_s"], "batch_cpu_s": t["cpu_s"],
                         "hypotheses": hyps}
    base = args.variants[0]
    for name in args.variants[1:]:
        results[name]["ratio_wall_vs_" + base] = results[name]["wall_s"] / results[base]["wall_s"]
        results[name]["ratio_cpu_vs_" + base] = results[name]["cpu_s"] / results[base]["cpu_s"]
        per_batch = [a / b for a, b in zip(timings[name]["wall_s"], timings[base]["wall_s"], strict=True)]
        results[name]["median_batch_ratio_vs_" + base] = float(np.median(per_batch))
        agree = word_error_rate(results[base]["hypotheses"], results[name]["hypotheses"], empty_placeholder="<empty>")
        results[name]["wer_vs_" + base] = agree["wer"]
    report["results"] = results
    report["timed"] = {"utts": len(timed_utts), "audio_s": timed_audio_s}
    print(markdown(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
    return report


def markdown(report: dict) -> str:
    """The results as a Markdown table (what BENCHMARKS.md shows)."""
    res = report["results"]
    names = list(res)
    base = names[0]
    lines = [f"| variant | wall s ({report['timed']['utts']} utts) | CPU s | utts/s | real-time factor | "
             f"WER % (S/D/I) | wall ratio vs {base} (median per batch) | CPU ratio | load s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        r, w = res[name], res[name]["wer"]
        ratio = ("1" if name == base else f"**{r['ratio_wall_vs_' + base]:.2f}x** "
                 f"({r['median_batch_ratio_vs_' + base]:.2f}x)")
        cpu_ratio = "1" if name == base else f"{r['ratio_cpu_vs_' + base]:.2f}x"
        lines.append(f"| {name} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['utts_per_s']:.2f} | "
                     f"{r['real_time_factor']:.3f} | {100 * w['wer']:.2f} ({w['substitutions']}/{w['deletions']}/"
                     f"{w['insertions']} of {w['ref_words']}) | {ratio} | {cpu_ratio} | {r['load_s']:.1f} |")
    for name in names[1:]:
        lines.append(f"\nWER of {name}'s hypotheses against {base}'s: {100 * res[name]['wer_vs_' + base]:.2f}%.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
