"""Identify the spoken language of every utterance (chunk) of a data dir with Whisper; write its utt2lang.

Whisper's language-token probabilities (faster-whisper, a CTranslate2 model), restricted to
--languages; one language per recording (--per_recording true: summed log-probabilities
over its chunks, a voice-chat session being one language) or per chunk
(voxrecipes.models.language_id). The transcribe stage then decodes each chunk in that
language and records it. Writes ``<data>/utt2lang`` (atomically; an existing one is
replaced) and ``<data>/lid.json`` (the probabilities and the decision per utterance).

Example::

    python -m voxrecipes.bin.detect_language --data data/train_chunks --model package:whisper_base \\
        --languages en es fr de pt
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:

    parser = argparse.ArgumentParser(prog="detect_language", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="data dir (its utt2lang is written)")
    parser.add_argument("--model", default="package:whisper_base", help="multilingual CTranslate2 Whisper")
    parser.add_argument("--languages", nargs="+", default=["en", "es", "fr", "de", "pt"], help="candidates")
    parser.add_argument("--per_recording", default="true", choices=["true", "false"],
                        help="one language per recording (summed log-probabilities of its chunks)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--cpu_threads", type=int, default=0, help="CTranslate2 CPU threads (0: its default)")
    return parser


def main(args: argparse.Namespace) -> None:
    import json
    import logging
    import time
    from pathlib import Path

    from voxrecipes.data.audio import iter_audio
    from voxrecipes.data.datadir import DataDir
    from voxrecipes.data.table import write_table
    from voxrecipes.fileio import atomic_write
    from voxrecipes.models.language_id import WhisperLanguageId, decide, identify

    logger = logging.getLogger("detect_language")
    dd = DataDir.load(args.data)
    lid = WhisperLanguageId(args.model, args.languages, device=args.device, cpu_threads=args.cpu_threads)
    begin = time.time()
    probs = identify(lid, iter_audio(dd, sample_rate=16000))
    utt2rec = {u: dd.recording_of(u)[0] for u in dd.utts}
    chosen = decide(probs, utt2rec, args.languages, args.per_recording == "true")
    chunk_best = decide(probs, utt2rec, args.languages, False)
    changed = sum(chosen[u] != chunk_best[u] for u in chosen)
    with atomic_write(Path(args.data) / "lid.json") as handle:
        json.dump({"languages": args.languages, "per_recording": args.per_recording == "true",
                   "seconds": round(time.time() - begin, 2),
                   "utts": {u: {"language": chosen[u], "chunk_best": chunk_best[u],
                                "probs": [round(float(x), 4) for x in probs[u]]} for u in dd.utts}}, handle, indent=1)
        handle.write("\n")
    write_table(Path(args.data) / "utt2lang", chosen)
    counts = {lang: sum(v == lang for v in chosen.values()) for lang in args.languages}
    logger.info("wrote %s/utt2lang: %s; %d chunks changed by the per-recording vote (%.1f s)", args.data,
                " ".join(f"{k}={v}" for k, v in counts.items()), changed, time.time() - begin)


if __name__ == "__main__":
    run(main, get_parser())
