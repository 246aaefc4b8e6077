"""Transcribe data directories with Whisper (or a CTC model): the ASR stage, two backends.

For each --data directory, every utterance of its wav.scp (segments honoured, ``cmd |``
pipes run) is transcribed, and <out_dir> gets:

- ``text``: ``<utt> <transcript>`` lines, C-sorted, one per utterance, on one line each;
- ``segments.jsonl``: one JSON object per utterance, C-sorted, ``{"utt": ..., "language":
  "en" or null (detected), "segments": [{"start": s, "end": s, "text": ...}, ...]}``, times
  in seconds from the start of the utterance (Whisper's timestamps; one segment over the
  utterance with --no_timestamps or a CTC model; none for an empty hypothesis);
- ``wer.json`` (only when the data dir has a reference ``text``): corpus-level WER
  (jiwer; lowercase, NFKC, apostrophes removed, other punctuation replaced by spaces)
  with substitutions, deletions, insertions, hits, ref_words, utts, empty_hypotheses.

Backends (--asr_backend): ``transformers`` (a transformers speech-recognition pipeline;
--model is a Hugging Face model id in the local cache, a local directory or
package:<name>, e.g. package:whisper_base) or ``faster_whisper`` (CTranslate2; --model is
a CTranslate2 Whisper directory or package:whisper_base / package:whisper_tiny_en;
--compute_type auto is int8 on CPU, float16 on a GPU). The model is loaded once for all
directories. They are transcribed largest first, and a directory whose utterances (same
audio, same language) were all decoded for a larger one (Dev_bal inside Dev_filt) takes its
transcripts from it instead of being decoded again. Decoding is greedy (num_beams 1, as in
the paper), task=transcribe, batched by language and length; a Whisper hypothesis that fails Whisper's own tests (a
repetition loop: compression ratio too high) is decoded again with Whisper's
temperature fallback (seeded), unless --no_fallback. --pack_seconds (faster_whisper) decodes
several short utterances in one Whisper window instead of padding each to 30 s.
Language per utterance: the data dir's utt2lang when it has one, else --language, else
detected by the model per utterance.

An empty hypothesis (silence, noise) is written as --empty_placeholder ("<empty>" by
default), because the data contract forbids empty transcripts; the count is logged,
and the WER scores it as empty. The outputs appear only once a directory is complete:
bad audio stops the run with the wav.scp file and line, and leaves no partial file.

Example::

    python -m voxrecipes.bin.transcribe --asr_backend faster_whisper --model package:whisper_base \\
        --language en --data data/test1 data/test2 --out_dir dump/asr/test1 dump/asr/test2 --batch_size 8
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="transcribe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="ASR model: transformers: Hugging Face model id (local cache), local directory or "
                             "package:<name>; faster_whisper: CTranslate2 Whisper directory or package:<name>")
    parser.add_argument("--asr_backend", default="transformers", choices=["transformers", "faster_whisper"],
                        help="transformers pipeline or faster-whisper (CTranslate2)")
    parser.add_argument("--data", required=True, nargs="+", help="data directories to transcribe")
    parser.add_argument("--out_dir", required=True, nargs="+",
                        help="output directories (get text, segments.jsonl, wer.json), one per --data")
    parser.add_argument("--batch_size", type=int, default=8, help="utterances per forward pass")
    parser.add_argument("--device", default="cpu", help="device (cpu, cuda, cuda:1, auto)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="transformers: model dtype; bfloat16/float16 for a GPU")
    parser.add_argument("--compute_type", default="auto",
                        help="faster_whisper: CTranslate2 compute type (auto: int8 on CPU, float16 on GPU; "
                             "int8, int8_float32, float32, float16, ...)")
    parser.add_argument("--cpu_threads", type=int, default=0,
                        help="faster_whisper: CTranslate2 threads on CPU (0: OMP_NUM_THREADS when set, else 4)")
    parser.add_argument("--pack_seconds", type=float, default=0.0,
                        help="faster_whisper: pack the utterances of a batch (one known language) into Whisper windows "
                             "of at most this many seconds, decode each window once with word timestamps and give "
                             "each utterance its words back (0: off, one utterance per 30 s window; see "
                             "voxrecipes.models.asr_packing). Raise --batch_size with it: a batch is packed into "
                             "windows")
    parser.add_argument("--pack_gap_seconds", type=float, default=None,
                        help="faster_whisper: silence between packed utterances (default: "
                             "voxrecipes.models.asr_faster_whisper.DEFAULT_PACK_GAP_SECONDS, 1.0)")
    parser.add_argument("--language", default="",
                        help="Whisper language code (e.g. en) for utterances without utt2lang; empty: detect per "
                             "utterance; ignored by CTC models")
    parser.add_argument("--num_beams", type=int, default=1, help="beam size (1: greedy, as in the paper)")
    parser.add_argument("--no_timestamps", action="store_true",
                        help="decode without Whisper timestamps (segments.jsonl: one segment per utterance)")
    parser.add_argument("--no_fallback", action="store_true",
                        help="Whisper: greedy only, no temperature fallback for hypotheses that fail Whisper's tests "
                             "(repetition loops)")
    parser.add_argument("--empty_placeholder", default="<empty>",
                        help="written for an utterance whose hypothesis is empty (text must not be empty)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(args: argparse.Namespace) -> None:
    import logging

    from voxrecipes.data.datadir import DataDir
    from voxrecipes.errors import ConfigError
    from voxrecipes.models import asr

    if len(args.data) != len(args.out_dir):
        raise ConfigError(f"{len(args.data)} --data directories but {len(args.out_dir)} --out_dir")
    if args.batch_size < 1:
        raise ConfigError(f"--batch_size must be >= 1, got {args.batch_size}")
    asr.check_backend(args.asr_backend)
    if args.asr_backend != "faster_whisper" and (args.pack_seconds or args.pack_gap_seconds is not None):
        raise ConfigError("--pack_seconds and --pack_gap_seconds are options of --asr_backend faster_whisper")
    asr.check_placeholder(args.empty_placeholder)
    asr.resolve_asr_model(args.asr_backend, args.model)  # a missing model fails before any data is read
    data_dirs = [DataDir.load(data) for data in args.data]  # every directory valid before the model loads
    options = dict(device=args.device, language=args.language, num_beams=args.num_beams,
                   timestamps=not args.no_timestamps, fallback=not args.no_fallback)
    if args.asr_backend == "faster_whisper":
        options.update(compute_type=args.compute_type, cpu_threads=args.cpu_threads, pack_seconds=args.pack_seconds)
        if args.pack_gap_seconds is not None:
            options.update(pack_gap_seconds=args.pack_gap_seconds)
    else:
        options.update(dtype=args.dtype)
    transcriber = asr.load_transcriber(args.asr_backend, args.model, **options)
    logging.getLogger(__name__).info("ASR model %s", transcriber.describe())
    asr.transcribe_data_dirs(transcriber, data_dirs, args.out_dir, batch_size=args.batch_size,
                             empty_placeholder=args.empty_placeholder, progress=not args.no_progress)


if __name__ == "__main__":
    run(main, get_parser())
