"""RESULTS.md of the automatic labelling pipeline: segmentation, ASR, pseudo-label quality, pseudo vs true.

Everything is read from the pipeline's outputs and measured against the generator's truth
(``truth/sentences.tsv``), which the pipeline itself never saw:

- segmentation: DTX chunks and ASR sentences per set (counts, lengths; a PNG with both
  length histograms), and how often a truth sentence lies whole inside one chunk;
- ASR: word error rate of the chunk transcripts against the truth's words (the truth
  sentences with at least half their duration in the chunk), per set and language, and
  how often Whisper's detected language was the session's;
- the labeller: its dev mAP and per-class thresholds (dev F1), then per-class precision
  and recall of the pseudo labels against the true labels of the same sentences;
- the speech classifier trained on pseudo labels against the same one trained on true
  labels: AP per class and mAP with their bootstrap CIs (``metrics.json`` of
  ``evaluate_toxicity``), and the paired bootstrap CI of the mAP difference (the same
  resamples of the test chunks for both systems);
- the wall time of every stage and its real-time factor, when a timing table is given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxrecipes.errors import DataError
from voxrecipes.labels import NO_VIOLATION


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100.0 * x:.1f}"


def segmentation_rows(chunk_dirs: Sequence[str], sentence_dirs: Sequence[str], truth: Sequence) -> tuple[list, dict]:
    """Table rows per set and the length lists for the histograms."""
    from voxrecipes.data.datadir import DataDir

    rows, lengths = [], {"chunks": [], "sentences": []}
    by_session: dict[str, list] = {}
    for s in truth:
        by_session.setdefault(s.session, []).append(s)
    sentences = {Path(d).name.removesuffix("_sentences"): DataDir.load(d) for d in sentence_dirs}
    for d in chunk_dirs:
        dd = DataDir.load(d)
        name = Path(d).name.removesuffix("_chunks")
        stats = json.loads((Path(d) / "dtx_stats.json").read_text(encoding="utf-8"))
        chunk_len = np.array([e - s for _, s, e in dd.segments.values()])
        lengths["chunks"].extend(chunk_len.tolist())
        whole = total = 0
        for rec in dd.wav_scp:
            spans = [(s, e) for utt, (r, s, e) in dd.segments.items() if r == rec]
            for t in by_session.get(rec, []):
                total += 1
                whole += any(s <= t.start + 0.06 and t.end <= e for s, e in spans)
        row = {"set": name, "recordings": len(dd.wav_scp), "audio_min": stats["audio_seconds"] / 60.0,
               "chunks": len(dd.utts), "chunk_mean": float(chunk_len.mean()), "chunk_min": float(chunk_len.min()),
               "chunk_max": float(chunk_len.max()),
               "dropped": sum(r["dropped_short"] for r in stats["recordings"].values()),
               "whole": whole / total if total else float("nan"), "sentences": None}
        if name in sentences:
            sd = sentences[name]
            sent_len = np.array([e - s for _, s, e in sd.segments.values()])
            lengths["sentences"].extend(sent_len.tolist())
            sstats = json.loads((Path(sentence_dirs[list(sentences).index(name)]) / "sentence_stats.json")
                                .read_text(encoding="utf-8"))
            row.update(sentences=len(sd.utts), sent_mean=float(sent_len.mean()), sent_min=float(sent_len.min()),
                       sent_max=float(sent_len.max()), sent_dropped=sstats["dropped_short"],
                       truth_sentences=sum(len(by_session.get(r, [])) for r in dd.wav_scp))
        rows.append(row)
    return rows, lengths


def asr_rows(chunk_dirs: Sequence[str], asr_dirs: Sequence[str], truth: Sequence) -> list[dict]:
    """WER and language-detection accuracy per set and language (chunks with truth words only)."""
    from voxrecipes.corpora.autolabel_manifest import truth_for_segment
    from voxrecipes.data.datadir import DataDir
    from voxrecipes.data.table import read_table
    from voxrecipes.metrics.wer import word_error_rate
    from voxrecipes.models.asr import read_segments

    by_session: dict[str, list] = {}
    for s in truth:
        by_session.setdefault(s.session, []).append(s)
    rows = []
    for d, a in zip(chunk_dirs, asr_dirs, strict=True):
        dd = DataDir.load(d)
        hyps = read_table(Path(a) / "text", allow_empty_value=True)
        langs = {u: r.get("language") for u, r in read_segments(Path(a) / "segments.jsonl").items()}
        refs, ref_lang = {}, {}
        for utt in dd.utts:
            rec, start, end = dd.segments[utt]
            members = truth_for_segment(by_session.get(rec, []), start, end, 0.5)
            if members:
                refs[utt], ref_lang[utt] = " ".join(m.text for m in members), members[0].language
        name = Path(d).name.removesuffix("_chunks")
        for lang in [None, *sorted(set(ref_lang.values()))]:
            utts = [u for u in refs if lang is None or ref_lang[u] == lang]
            report = word_error_rate({u: refs[u] for u in utts}, {u: hyps[u] for u in utts},
                                     empty_placeholder="<empty>")
            rows.append({"set": name, "language": lang or "all", "chunks": len(utts), "wer": report["wer"],
                         "ref_words": report["ref_words"],
                         "lid": float(np.mean([langs.get(u) == ref_lang[u] for u in utts]))})
    return rows


def read_manifest_labels(path: str | os.PathLike) -> dict[str, tuple[str, list[str]]]:
    """``utt_id -> (language, labels)`` of a manifest written by the pipeline."""
    from voxrecipes.corpora.toxicity_manifest import read_manifest

    return {r.utt_id: (r.language, r.labels) for r in read_manifest(path)}


def label_quality(pseudo: dict, true: dict, classes: Sequence[str]) -> list[dict]:
    """Per-class precision, recall and counts of the pseudo labels against the true ones (shared utterances)."""
    utts = sorted(set(pseudo) & set(true))
    if not utts:
        raise DataError(None, None, "the pseudo and true manifests share no utterance")
    rows = []
    for c in [*classes, "any toxic"]:
        if c == "any toxic":
            p = np.array([pseudo[u][1] != [NO_VIOLATION] for u in utts])
            t = np.array([true[u][1] != [NO_VIOLATION] for u in utts])
        else:
            p = np.array([c in pseudo[u][1] for u in utts])
            t = np.array([c in true[u][1] for u in utts])
        tp = int(np.sum(p & t))
        rows.append({"class": c, "true": int(t.sum()), "pseudo": int(p.sum()), "tp": tp,
                     "precision": tp / p.sum() if p.sum() else float("nan"),
                     "recall": tp / t.sum() if t.sum() else float("nan")})
    return rows


def paired_map_difference(metrics_a: dict, metrics_b: dict) -> tuple[float, list[float] | None]:
    """mAP(a) - mAP(b) on the same test utterances and its paired bootstrap CI (a's resampling settings)."""
    from voxrecipes.metrics.bootstrap import Resamples
    from voxrecipes.metrics.ranking import fast_average_precision
    from voxrecipes.metrics.toxicity import load_targets

    utts_a, classes, targets, scores_a, _, _ = load_targets(metrics_a["scores"], metrics_a["data"])
    utts_b, classes_b, _, scores_b, _, _ = load_targets(metrics_b["scores"], metrics_b["data"])
    if list(utts_a) != list(utts_b) or list(classes) != list(classes_b):
        raise DataError(metrics_b["scores"], None, f"not the same utterances and classes as {metrics_a['scores']}")
    cols = [list(classes).index(c) for c in metrics_a["map_classes"]]
    res = Resamples(len(utts_a), int(metrics_a["num_bootstrap"]), int(metrics_a["seed"]))
    diff = (res.values(fast_average_precision, scores_a, targets)[:, cols].mean(axis=1)
            - res.values(fast_average_precision, scores_b, targets)[:, cols].mean(axis=1))
    point = float(fast_average_precision(targets, scores_a)[cols].mean()
                  - fast_average_precision(targets, scores_b)[cols].mean())
    ci, _ = Resamples.interval(diff, float(metrics_a["alpha"]))
    return point, None if ci is None else [float(ci[0]), float(ci[1])]


def plot_lengths(lengths: dict, out: str | os.PathLike) -> None:
    """Histograms of the DTX chunk and ASR sentence lengths, side by side (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from voxrecipes.fileio import atomic_write

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, title in ((axes[0], "chunks", "DTX chunks (all sets)"),
                           (axes[1], "sentences", "ASR sentences (labelled sets)")):
        values = np.asarray(lengths[key])
        if values.size:
            ax.hist(values, bins=np.arange(0, max(values.max(), 1.0) + 1.0, 1.0), color="tab:blue", edgecolor="k")
        ax.set_title(f"{title}: {values.size}")
        ax.set_xlabel("length (s)")
        ax.set_ylabel("count")
    fig.tight_layout()
    with atomic_write(out, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


def render(*, title: str, segmentation: list, asr: list, labeller: dict | None, quality: list | None,
           systems: dict[str, dict], difference: tuple[float, list[float] | None] | None, timing: list | None,
           plot_name: str, classes: Sequence[str]) -> str:
    """The RESULTS.md text."""
    out = [f"# {title}", "",
           "The toxicity paper's automatic labelling pipeline, run on generated voice-chat sessions "
           "(`egs/mini_toxicity/tox_autolabel/run.sh`): Opus DTX chunks (libopus, VOIP, DTX on) -> Whisper language ID "
           "and transcripts -> 1-15 s sentences at Whisper's segment boundaries -> a multi-label text labeller "
           "trained on a separate text-only set, with per-class thresholds -> pseudo-labelled training manifest -> "
           "the speech classifier (tox.sh). Only the audio enters the pipeline; the generator's truth "
           "(sentence spans, words, labels) is used here to measure each step, and as the human-labelled test set "
           "(the test sessions' DTX chunks, 1-60 s). Every number below is measured; nothing is tuned on the test "
           "set.", ""]
    out += ["## Segmentation", "",
            "| set | recordings | audio (min) | DTX chunks | chunk s mean [min, max] | dropped < 1 s | truth sentences "
            "whole in a chunk | ASR sentences | sentence s mean [min, max] | dropped < 1 s |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in segmentation:
        sent = ("" if r["sentences"] is None else
                f"{r['sentences']} | {r['sent_mean']:.1f} [{r['sent_min']:.1f}, {r['sent_max']:.1f}] | "
                f"{r['sent_dropped']}")
        out.append(f"| {r['set']} | {r['recordings']} | {r['audio_min']:.1f} | {r['chunks']} | {r['chunk_mean']:.1f} "
                   f"[{r['chunk_min']:.1f}, {r['chunk_max']:.1f}] | {r['dropped']} | {_pct(r['whole'])}% | "
                   + (sent if sent else "- | - | -") + " |")
    out += ["", f"![chunk and sentence lengths]({plot_name})", ""]
    out += ["## ASR (Whisper, chunk transcripts against the truth's words)", "",
            "| set | language | chunks | reference words | WER % | language detected right % |",
            "|---|---|---|---|---|---|"]
    for r in asr:
        out.append(f"| {r['set']} | {r['language']} | {r['chunks']} | {r['ref_words']} | {_pct(r['wer'])} | "
                   f"{_pct(r['lid'])} |")
    out.append("")
    if labeller:
        out += ["## The text labeller", "",
                f"Trained on the text-only set; best dev mAP {_pct(labeller.get('best'))}%. Thresholds tuned on its "
                "dev split (F1-optimal, grid step "
                f"{labeller['thresholds'].get('grid_step')}):", "",
                "| class | threshold | dev F1 % | dev positives |", "|---|---|---|---|"]
        th = labeller["thresholds"]
        for c in th["classes"]:
            out.append(f"| {c} | {th['thresholds'][c]:.2f} | {_pct(th['dev_f1'][c])} | {th['dev_positives'][c]} |")
        out.append("")
    if quality:
        out += ["## Pseudo labels against the truth (the training sentences of the labelled sets)", "",
                "| class | true | pseudo | both | precision % | recall % |", "|---|---|---|---|---|---|"]
        for r in quality:
            out.append(f"| {r['class']} | {r['true']} | {r['pseudo']} | {r['tp']} | {_pct(r['precision'])} | "
                       f"{_pct(r['recall'])} |")
        out.append("")
    if systems:
        first = next(iter(systems.values()))
        ap_classes = first["ap_classes"]
        out += ["## Speech classifier: trained on pseudo labels vs on true labels", "",
                f"Test: {first['num_utts']} DTX chunks (1-60 s) of the test sessions with true labels; "
                f"AP % with {int(100 * first['ci_level'])}% bootstrap CIs ({first['num_bootstrap']} resamples).", "",
                "| training labels | " + " | ".join(ap_classes) + " | mAP |",
                "|---|" + "---|" * (len(ap_classes) + 1)]
        for name, m in systems.items():
            cells = [f"{_pct(m['ap'][c])} [{_pct((m['ap_ci'][c] or [None])[0])}, "
                     f"{_pct((m['ap_ci'][c] or [None, None])[1])}]" for c in ap_classes]
            ci = m["map_ci"] or [None, None]
            out.append(f"| {name} | " + " | ".join(cells) + f" | {_pct(m['map'])} [{_pct(ci[0])}, {_pct(ci[1])}] |")
        out.append("")
        if difference is not None:
            names = list(systems)
            point, ci = difference
            ci_text = "n/a" if ci is None else f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
            out += [f"mAP({names[0]}) - mAP({names[1]}) = {100 * point:+.1f} points, paired bootstrap CI {ci_text}.",
                    ""]
        out += ["Positives in the test set: " + ", ".join(f"{c} {first['positives'][c]}" for c in classes
                                                          if c in first["positives"]) + ".", ""]
    if timing:
        out += ["## Time per stage", "", "| stage | wall s | audio s | real-time factor |", "|---|---|---|---|"]
        for r in timing:
            rtf = r["seconds"] / r["audio"] if r.get("audio") else None
            out.append(f"| {r['stage']} | {r['seconds']:.0f} | {r.get('audio') or '-'} | "
                       f"{'-' if rtf is None else f'{rtf:.3f}'} |")
        out.append("")
    return "\n".join(out)
