"""Benchmark ASR packing: short utterances sharing one Whisper window against one utterance per 30 s window.

One run, one faster-whisper model (``--model``, default ``package:whisper_base``, int8 on
CPU, greedy, ``--language``), the first ``--num_utts`` utterances of a Kaldi data dir with
a reference ``text``. Each variant transcribes them all through
:meth:`~voxrecipes.models.asr.BatchedTranscriber.transcribe_items`, as the ASR stage does
(read ahead, sorted by length, batches of ``batch_size`` utterances):

``name:pack_seconds:batch_size:threads``, e.g. ``unpacked:0:8:1`` (the stage before
packing: every utterance padded to a 30 s window, batches of 8) and ``packed:28:40:1``
(windows of up to 28 s, :data:`~voxrecipes.models.asr_faster_whisper.DEFAULT_PACK_GAP_SECONDS`
apart; 40 utterances of the mini corpus fill about 8 windows).

The variants run one after the other, each its whole set, alternating the order over
``--rounds`` rounds; reported per variant: the median over rounds of wall and CPU time
(``time.process_time``: every thread of this process; the CPU time is what counts on shared
cores), the WER against the reference, the utterances decoded again one per clip (looping
windows, skipped utterances), and, against the first variant, the CPU ratio and the paired
WER difference: per utterance the errors (substitutions + deletions + insertions) of
the variant minus those of the first, summed over the set and divided by the reference
words, with a 95% bootstrap interval over utterances (``--num_bootstrap`` resamples).

Example::

    tools/venv/bin/python bench/bench_asr_packing.py --data egs/mini_podcast/emo1/data/dev_filt --num_utts 100 \\
        --variants unpacked:0:8:1 packed:28:40:1 --json /tmp/bench_asr_packing.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

# this folder is on sys.path when a script in it runs
from bench_asr import load_utterances  # isort: skip
from machine import cpu_name, load_average  # isort: skip


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="Kaldi data dir with wav.scp and a reference text")
    parser.add_argument("--num_utts", type=int, default=100, help="the first N utterances (C order)")
    parser.add_argument("--model", default="package:whisper_base", help="CTranslate2 Whisper (package:<name>)")
    parser.add_argument("--language", default="en", help="decoding language of every utterance")
    parser.add_argument("--variants", nargs="+", default=["unpacked:0:8:1", "packed:28:40:1"],
                        help="name:pack_seconds:batch_size:threads; the first is the reference of the ratios")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (variant order alternates)")
    parser.add_argument("--num_bootstrap", type=int, default=1000, help="resamples of the paired WER difference")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    return parser


def utterance_errors(refs: dict[str, str], hyps: dict[str, str]) -> dict[str, tuple[int, int]]:
    """(substitutions + deletions + insertions, reference words) of each utterance (the stage's WER normalisation)."""
    from voxrecipes.metrics.wer import word_error_rate

    out = {}
    for utt, ref in refs.items():
        r = word_error_rate({utt: ref}, {utt: hyps[utt]}, empty_placeholder="<empty>")
        out[utt] = (r["substitutions"] + r["deletions"] + r["insertions"], r["ref_words"])
    return out


def paired_difference(errors_a: dict[str, tuple[int, int]], errors_b: dict[str, tuple[int, int]],
                      num_bootstrap: int, seed: int = 0) -> dict:
    """WER(b) - WER(a) on the same utterances, with a 95% bootstrap interval (utterances resampled)."""
    utts = sorted(errors_a)
    diff = np.array([errors_b[u][0] - errors_a[u][0] for u in utts], dtype=float)
    words = np.array([errors_a[u][1] for u in utts], dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(utts), size=(num_bootstrap, len(utts)))
    values = diff[idx].sum(axis=1) / words[idx].sum(axis=1)
    return {"diff": float(diff.sum() / words.sum()), "errors_fewer": int(-diff.sum()),
            "utts_better": int((diff < 0).sum()), "utts_worse": int((diff > 0).sum()),
            "ci95": [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]}


def main(argv: list[str] | None = None) -> dict:
    import ctranslate2
    import faster_whisper

    from voxrecipes.metrics.wer import word_error_rate
    from voxrecipes.models.asr_faster_whisper import FasterWhisperTranscriber

    args = get_parser().parse_args(argv)
    utts, waves, refs = load_utterances(args.data, args.num_utts)
    items = list(zip(utts, waves, strict=True))
    variants = []
    for spec in args.variants:
        name, pack, batch, threads = spec.split(":")
        variants.append((name, float(pack), int(batch), int(threads)))
    models = {name: FasterWhisperTranscriber(args.model, compute_type="int8", language=args.language,
                                             cpu_threads=threads, pack_seconds=pack)
              for name, pack, _, threads in variants}
    runs: dict[str, dict] = {name: {"wall_s": [], "cpu_s": []} for name, *_ in variants}
    for round_ in range(args.rounds):
        for name, _, batch, _ in (variants if round_ % 2 == 0 else variants[::-1]):
            model = models[name]
            unpacked_before = model.unpacked
            wall, cpu = time.perf_counter(), time.process_time()
            hyps = {u: h.text or "<empty>" for u, h in model.transcribe_items(items, batch_size=batch)}
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            runs[name]["wall_s"].append(wall)
            runs[name]["cpu_s"].append(cpu)
            runs[name]["hyps"] = hyps
            runs[name]["unpacked"] = model.unpacked - unpacked_before
            print(f"round {round_ + 1}: {name} {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr, flush=True)
    base = variants[0][0]
    results = {}
    for name, pack, batch, threads in variants:
        r = runs[name]
        wer = word_error_rate(refs, r["hyps"], empty_placeholder="<empty>")
        results[name] = {"pack_seconds": pack, "batch_size": batch, "threads": threads,
                         "wall_s": float(np.median(r["wall_s"])), "cpu_s": float(np.median(r["cpu_s"])),
                         "wer": wer, "decoded_again_one_per_clip": r["unpacked"], "hypotheses": r["hyps"],
                         "errors": utterance_errors(refs, r["hyps"])}
    for name, *_ in variants[1:]:
        res = results[name]
        res["cpu_ratio_vs_" + base] = results[base]["cpu_s"] / res["cpu_s"]
        res["wall_ratio_vs_" + base] = results[base]["wall_s"] / res["wall_s"]
        res["paired_wer_diff_vs_" + base] = paired_difference(results[base]["errors"], res["errors"],
                                                              args.num_bootstrap)
    report = {"date": datetime.date.today().isoformat(),
              "command": " ".join(["python", "bench/bench_asr_packing.py"] + sys.argv[1:]),
              "machine": {"cpu": cpu_name(), "cores_visible": os.cpu_count(), "platform": platform.platform(),
                          "load_average_1_5_15_at_end": load_average()},
              "versions": {"faster_whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__},
              "config": {"data": args.data, "num_utts": len(items), "model": args.model, "language": args.language,
                         "audio_s": sum(len(w) for _, w in items) / 16000, "rounds": args.rounds},
              "results": results}
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
    lines = [f"| variant | pack s | batch | threads | wall s | CPU s | CPU speed-up vs {base} | WER % (S/D/I) | "
             f"paired WER diff vs {base} [95% CI] | decoded again |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        r, w = res[name], res[name]["wer"]
        if name == base:
            ratio, diff = "1", "0"
        else:
            d = r["paired_wer_diff_vs_" + base]
            ratio = f"**{r['cpu_ratio_vs_' + base]:.2f}x**"
            diff = f"{100 * d['diff']:+.2f} [{100 * d['ci95'][0]:+.2f}, {100 * d['ci95'][1]:+.2f}]"
        lines.append(f"| {name} | {r['pack_seconds']:g} | {r['batch_size']} | {r['threads']} | {r['wall_s']:.1f} | "
                     f"{r['cpu_s']:.1f} | {ratio} | {100 * w['wer']:.2f} ({w['substitutions']}/{w['deletions']}/"
                     f"{w['insertions']} of {w['ref_words']}) | {diff} | {r['decoded_again_one_per_clip']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
