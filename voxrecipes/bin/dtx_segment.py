"""Cut long recordings into chunks at Opus DTX silences; write a Kaldi data dir with segments.

Every ``*.wav`` (or ``*.flac``) under --audio_dir (searched recursively, sorted) is one
recording, 16 kHz mono. Each is encoded with libopus (VOIP, DTX on, 20 ms frames) and cut
at silences of at least --min_gap seconds; chunks are --min_chunk to --max_chunk seconds
(the paper's evaluation segments: 1-60 s). The rule is in voxrecipes.data.dtx.

Writes --out_dir (as a whole, or nothing on an error): ``wav.scp`` (recording id = file
name without extension; absolute paths), ``segments`` (``<rec>-<start ms>-<end ms> <rec>
<start> <end>``), ``utt2spk`` (the recording: speakers are unknown), ``utt2dur``, and
``dtx_stats.json`` (per recording: duration, chunks, dropped short chunks, DTX speech
seconds; and the encoding wall time). A recording that is not 16 kHz mono, shorter
than --min_chunk, or without any chunk (silence) stops the stage with its path.

Example::

    python -m voxrecipes.bin.dtx_segment --audio_dir sessions/audio/train --out_dir data/train_chunks \\
        --config conf/dtx.yaml
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.data.dtx import DtxConfig


def get_parser() -> argparse.ArgumentParser:
    defaults = DtxConfig()
    parser = argparse.ArgumentParser(prog="dtx_segment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio_dir", required=True, help="directory of long recordings (*.wav, *.flac)")
    parser.add_argument("--out_dir", required=True, help="data dir to write (replaced as a whole)")
    parser.add_argument("--max_dtx_bytes", type=int, default=defaults.max_dtx_bytes,
                        help="a packet of at most this many bytes is a DTX (silent) frame")
    parser.add_argument("--keepalive_frames", type=int, default=defaults.keepalive_frames,
                        help="runs of at most this many full packets inside DTX are comfort-noise refreshes")
    parser.add_argument("--min_gap", type=float, default=defaults.min_gap, help="cut at DTX silences this long (s)")
    parser.add_argument("--min_chunk", type=float, default=defaults.min_chunk, help="drop shorter chunks (s)")
    parser.add_argument("--max_chunk", type=float, default=defaults.max_chunk,
                        help="split longer chunks at their longest inner silence (s)")
    return parser


def main(args: argparse.Namespace) -> None:
    import json
    import logging
    import time
    from pathlib import Path

    from voxrecipes.data.datadir import write_data_dir
    from voxrecipes.data.dtx import SAMPLE_RATE, segment_recording
    from voxrecipes.errors import ConfigError, DataError
    from voxrecipes.fileio import atomic_write

    logger = logging.getLogger("dtx_segment")
    cfg = DtxConfig(max_dtx_bytes=args.max_dtx_bytes, keepalive_frames=args.keepalive_frames, min_gap=args.min_gap,
                    min_chunk=args.min_chunk, max_chunk=args.max_chunk)
    cfg.validate()
    root = Path(args.audio_dir)
    if not root.is_dir():
        raise ConfigError(f"--audio_dir {root} is not a directory")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".wav", ".flac") and p.is_file())
    if not files:
        raise DataError(root, None, "no *.wav or *.flac recordings found")
    wav_scp: dict[str, str] = {}
    segments: dict[str, tuple[str, float, float]] = {}
    stats: dict[str, dict] = {}
    begin = time.time()
    audio_seconds = 0.0
    for path in files:
        rec = path.stem
        if any(ch.isspace() for ch in rec) or rec in wav_scp:
            raise DataError(path, None, f"recording id '{rec}' (the file name) contains whitespace or is not unique")
        result = segment_recording(path, cfg)
        duration = result.frames * 0.02
        audio_seconds += duration
        if not result.chunks:
            raise DataError(path, None, f"no chunk of at least {cfg.min_chunk} s: DTX found "
                                        f"{result.speech_seconds:.2f} s of speech (a silent recording?)")
        wav_scp[rec] = str(path.resolve())
        for start, end in result.chunks:
            segments[f"{rec}-{int(round(start * 1000)):07d}-{int(round(end * 1000)):07d}"] = (rec, start, end)
        stats[rec] = {"duration": round(duration, 2), "chunks": len(result.chunks), "dropped_short": result.dropped,
                      "speech_seconds": round(result.speech_seconds, 2)}
        logger.info("%s: %d chunks (%d dropped under %g s), %.1f of %.1f s speech", rec, len(result.chunks),
                    result.dropped, cfg.min_chunk, result.speech_seconds, duration)
    seconds = time.time() - begin
    utt2spk = {utt: rec for utt, (rec, _, _) in segments.items()}
    utt2dur = {utt: round(end - start, 3) for utt, (_, start, end) in segments.items()}
    write_data_dir(args.out_dir, wav_scp=wav_scp, utt2spk=utt2spk, segments=segments, utt2dur=utt2dur)
    with atomic_write(Path(args.out_dir) / "dtx_stats.json") as handle:
        json.dump({"config": cfg.__dict__, "sample_rate": SAMPLE_RATE, "audio_seconds": round(audio_seconds, 2),
                   "wall_seconds": round(seconds, 2), "recordings": stats}, handle, indent=2)
        handle.write("\n")
    logger.info("wrote %s: %d chunks of %d recordings (%.1f s of audio in %.1f s, real-time factor %.4f)",
                args.out_dir, len(segments), len(wav_scp), audio_seconds, seconds, seconds / max(audio_seconds, 1e-9))


if __name__ == "__main__":
    run(main, get_parser())
