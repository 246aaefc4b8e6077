"""Cut the DTX chunks of a data dir into 1-15 s sentences at the ASR's (Whisper's) segment boundaries.

Reads --chunks (a data dir with ``segments``, from dtx_segment) and --asr_dir (the
transcribe stage's ``segments.jsonl`` for those chunks, Whisper segments with timestamps,
either backend). The rule (voxrecipes.data.asr_sentences): split segments over
--max_seconds into equal parts, merge those under --min_seconds with a neighbour in the
same chunk, drop what cannot be merged.

Writes --out_dir (as a whole): ``wav.scp`` (the recordings), ``segments``
(``<rec>-<start ms>-<end ms>`` sentences, times in the recording), ``utt2spk`` (the
recording), ``text`` (the ASR words), ``utt2lang`` (the chunk's language as decoded),
``utt2dur``, and ``sentence_stats.json`` (counts, dropped and split sentences).

Example::

    python -m voxrecipes.bin.asr_sentences --chunks data/train_chunks --asr_dir exp/asr/train_chunks \\
        --out_dir data/train_sentences
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr_sentences", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", required=True, help="data dir of the DTX chunks (with segments)")
    parser.add_argument("--asr_dir", required=True, help="transcribe output for --chunks (segments.jsonl)")
    parser.add_argument("--out_dir", required=True, help="sentence data dir to write (replaced as a whole)")
    parser.add_argument("--min_seconds", type=float, default=1.0, help="shorter sentences are merged or dropped")
    parser.add_argument("--max_seconds", type=float, default=15.0, help="longer sentences are split")
    parser.add_argument("--languages", nargs="+", default=["en", "es", "fr", "de", "pt"],
                        help="languages kept; a chunk decoded as another language is dropped (logged)")
    return parser


def main(args: argparse.Namespace) -> None:
    import json
    import logging
    from pathlib import Path

    from voxrecipes.data.asr_sentences import chunk_sentences
    from voxrecipes.data.datadir import DataDir, write_data_dir
    from voxrecipes.errors import DataError
    from voxrecipes.fileio import atomic_write
    from voxrecipes.models.asr import SEGMENTS_FILE, read_segments

    logger = logging.getLogger("asr_sentences")
    dd = DataDir.load(args.chunks)
    if dd.segments is None:
        raise DataError(dd.file_path("wav.scp"), None, "the chunk data dir has no segments file (run dtx_segment)")
    seg_path = Path(args.asr_dir) / SEGMENTS_FILE
    if not seg_path.is_file():
        raise DataError(seg_path, None, "file not found (run the transcribe stage on the chunks first)")
    records = read_segments(seg_path)
    missing = [utt for utt in dd.utts if utt not in records]
    if missing:
        raise DataError(seg_path, None, f"{len(missing)} chunks of {args.chunks} have no ASR record "
                                        f"(first: {missing[0]}); transcribe them again")
    segments: dict[str, tuple[str, float, float]] = {}
    text: dict[str, str] = {}
    utt2lang: dict[str, str] = {}
    stats = {"chunks": len(dd.utts), "asr_segments": 0, "sentences": 0, "dropped_short": 0, "chunks_no_words": 0,
             "other_language": {}}
    for chunk in dd.utts:
        rec, c_start, c_end = dd.segments[chunk]
        record = records[chunk]
        language = record.get("language") or ""
        stats["asr_segments"] += len(record["segments"])
        if language not in args.languages:
            stats["other_language"][language] = stats["other_language"].get(language, 0) + 1
            continue
        spans, dropped = chunk_sentences(record["segments"], c_end - c_start, min_seconds=args.min_seconds,
                                         max_seconds=args.max_seconds)
        stats["dropped_short"] += dropped
        if not spans:
            stats["chunks_no_words"] += 1
        for span in spans:
            start, end = round(c_start + span.start, 3), round(c_start + span.end, 3)
            utt = f"{rec}-{int(round(start * 1000)):07d}-{int(round(end * 1000)):07d}"
            segments[utt] = (rec, start, end)
            text[utt] = span.text
            utt2lang[utt] = language
    if not segments:
        raise DataError(seg_path, None, f"no sentence of {args.min_seconds}-{args.max_seconds} s in any chunk "
                                        f"(languages decoded: {stats['other_language'] or 'all empty'})")
    if stats["other_language"]:
        logger.warning("chunks decoded as languages outside %s dropped: %s", " ".join(args.languages),
                       stats["other_language"])
    stats["sentences"] = len(segments)
    used = {rec for rec, _, _ in segments.values()}
    write_data_dir(args.out_dir, wav_scp={r: p for r, p in dd.wav_scp.items() if r in used},
                   utt2spk={u: r for u, (r, _, _) in segments.items()}, segments=segments, text=text,
                   utt2lang=utt2lang, utt2dur={u: round(e - s, 3) for u, (_, s, e) in segments.items()})
    with atomic_write(Path(args.out_dir) / "sentence_stats.json") as handle:
        json.dump(stats, handle, indent=2)
        handle.write("\n")
    logger.info("wrote %s: %d sentences from %d chunks (%d under %g s dropped)", args.out_dir, len(segments),
                len(dd.utts), stats["dropped_short"], args.min_seconds)


if __name__ == "__main__":
    run(main, get_parser())
