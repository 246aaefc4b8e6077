"""Where the pseudo labels go wrong: the trained labeller on the generator's truth texts (no ASR) against the
pseudo labels of the ASR sentences, "any toxic" precision / recall per language and per-class precision / recall.

A diagnostic for RESULTS.md's notes (not a stage); run from the recipe directory after run.sh stage 3:

    . ./path.sh && python3 local/labeller_on_truth.py
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable

from voxrecipes.models.text_classifier import load_text_classifier
from voxrecipes.tasks.text_classification import predict_texts
from voxrecipes.tasks.toxicity_labeller import apply_thresholds, load_thresholds

MODEL = "exp/text_labeller/model"
TRUTH = "downloads/mini_sessions/truth/sentences.tsv"
SETS = ("train", "dev")


def read_tsv(path: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def report(name: str, items: Iterable[tuple[str, set[str], set[str]]], toxic: list[str]) -> None:
    """Print any-toxic precision / recall overall and per language, then per class; items: (language, true, pred)."""
    by_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    per_class = {c: [0, 0, 0] for c in toxic}
    for lang, true, pred in items:
        is_true, is_pred = bool(true & set(toxic)), bool(pred & set(toxic))
        for key in ("all", lang):
            counts = by_lang[key]
            counts[0] += is_true
            counts[1] += is_pred
            counts[2] += is_true and is_pred
        for c in toxic:
            per_class[c][0] += c in true
            per_class[c][1] += c in pred
            per_class[c][2] += c in true and c in pred

    def pr(counts: list[int]) -> str:
        return f"P {100 * counts[2] / max(counts[1], 1):.0f} R {100 * counts[2] / max(counts[0], 1):.0f}"

    print(f"{name}: any toxic " + "; ".join(f"{k} {pr(v)} (true {v[0]}, predicted {v[1]})"
                                             for k, v in sorted(by_lang.items())))
    print("    per class: " + "; ".join(f"{c} {pr(v)}" for c, v in per_class.items()))


def main() -> None:
    clf = load_text_classifier(MODEL)
    classes = clf.output_names
    toxic = [c for c in classes if c != "No_Violation"]
    thresholds = load_thresholds(MODEL, classes)
    rows = [r for r in read_tsv(TRUTH) if r["split"] in SETS]
    pred = apply_thresholds(predict_texts(clf, [r["text"] for r in rows]), classes, thresholds)
    report("labeller on the truth texts", [(r["language"], set(r["labels"].split(";")), set(p))
                                           for r, p in zip(rows, pred)], toxic)
    items = []
    for s in SETS:
        true = {r["utt_id"]: r for r in read_tsv(f"data/manifests/{s}_true.tsv")}
        for r in read_tsv(f"data/manifests/{s}_pseudo.tsv"):
            if r["utt_id"] in true:
                items.append((r["utt_id"].split("_")[1], set(true[r["utt_id"]]["labels"].split(";")),
                              set(r["labels"].split(";"))))
    report("pseudo labels of the ASR sentences", items, toxic)


if __name__ == "__main__":
    main()
