"""RESULTS.md of the automatic labelling pipeline (voxrecipes.metrics.autolabel_results).

Example (egs/mini_toxicity/tox_autolabel/run.sh stage 5)::

    python -m voxrecipes.bin.make_autolabel_results --truth downloads/mini_sessions/truth/sentences.tsv \\
        --chunks data/train_chunks data/dev_chunks data/test_chunks \\
        --sentences data/train_sentences data/dev_sentences --asr exp/asr/train_chunks exp/asr/dev_chunks \\
        --pseudo data/manifests/train_pseudo.tsv --true data/manifests/train_true.tsv \\
        --labeller exp/text_labeller --system pseudo=exp/pseudo/.../eval --system true=exp/true/.../eval \\
        --timing exp/timing.tsv --notes local/RESULTS_notes.md --out RESULTS.md --plot RESULTS_lengths.png
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make_autolabel_results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--truth", required=True, help="truth/sentences.tsv of the generated sessions")
    parser.add_argument("--chunks", nargs="+", required=True, help="DTX chunk data dirs (<set>_chunks)")
    parser.add_argument("--sentences", nargs="*", default=[], help="ASR sentence data dirs (<set>_sentences)")
    parser.add_argument("--asr", nargs="*", default=[], help="transcribe outputs of the first len(--asr) --chunks")
    parser.add_argument("--pseudo", nargs="*", default=[], help="pseudo-labelled manifests")
    parser.add_argument("--true", nargs="*", default=[], help="the same sentences' truth-labelled manifests")
    parser.add_argument("--labeller", default=None, help="labeller experiment dir (valid_metrics.json, model/)")
    parser.add_argument("--system", action="append", default=[],
                        help="NAME=DIR of an evaluate_toxicity metrics.json; the first two are compared")
    parser.add_argument("--timing", default=None, help="TSV: stage, wall seconds, audio seconds (optional)")
    parser.add_argument("--title", default="Automatic labelling pipeline (mini voice-chat sessions)")
    parser.add_argument("--notes", default=None,
                        help="Markdown file of hand-written notes appended at the end (the recipe's "
                             "local/RESULTS_notes.md), so that a rerun writes them too")
    parser.add_argument("--out", required=True, help="RESULTS.md to write")
    parser.add_argument("--plot", required=True, help="PNG of the length histograms")
    return parser


def main(args: argparse.Namespace) -> None:
    import json
    import os
    from pathlib import Path

    from voxrecipes.corpora.mini_sessions import read_truth
    from voxrecipes.corpora.toxicity_manifest import CLASSES
    from voxrecipes.errors import ConfigError
    from voxrecipes.fileio import atomic_write
    from voxrecipes.metrics import autolabel_results as ar
    from voxrecipes.metrics.results import read_notes

    notes = read_notes(args.notes)  # a bad notes file fails before anything is written
    if len(args.asr) > len(args.chunks):
        raise ConfigError("more --asr dirs than --chunks dirs")
    truth = read_truth(args.truth)
    segmentation, lengths = ar.segmentation_rows(args.chunks, args.sentences, truth)
    asr = ar.asr_rows(args.chunks[:len(args.asr)], args.asr, truth) if args.asr else []
    labeller = None
    if args.labeller:
        base = Path(args.labeller)
        metrics = json.loads((base / "valid_metrics.json").read_text(encoding="utf-8"))
        thresholds = json.loads((base / "model" / "thresholds.json").read_text(encoding="utf-8"))
        labeller = {"best": metrics.get("best"), "thresholds": thresholds}
    quality = None
    if args.pseudo:
        pseudo, true = {}, {}
        for p in args.pseudo:
            pseudo.update(ar.read_manifest_labels(p))
        for t in args.true:
            true.update(ar.read_manifest_labels(t))
        quality = ar.label_quality(pseudo, true, CLASSES)
    systems = {}
    for spec in args.system:
        name, _, path = spec.partition("=")
        path = Path(path)
        path = path / "metrics.json" if path.is_dir() else path
        systems[name] = json.loads(path.read_text(encoding="utf-8"))
    difference = ar.paired_map_difference(*list(systems.values())[:2]) if len(systems) >= 2 else None
    timing = None
    if args.timing and Path(args.timing).is_file():
        last = {}  # a stage run again (resumed, redone) counts with its last run
        for line in Path(args.timing).read_text(encoding="utf-8").splitlines():
            stage, seconds, audio = line.split("\t")
            last[stage] = {"stage": stage, "seconds": float(seconds), "audio": float(audio) if audio else None}
        timing = [last[k] for k in sorted(last)]
    ar.plot_lengths(lengths, args.plot)
    text = ar.render(title=args.title, segmentation=segmentation, asr=asr, labeller=labeller, quality=quality,
                     systems=systems, difference=difference, timing=timing,
                     plot_name=os.path.relpath(args.plot, Path(args.out).parent), classes=CLASSES)
    with atomic_write(args.out) as handle:
        handle.write(text + (notes or "\n"))  # the notes start with their own blank line


if __name__ == "__main__":
    run(main, get_parser())
