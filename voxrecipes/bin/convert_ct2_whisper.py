"""Convert a CTranslate2 Whisper (what faster-whisper runs) into a transformers Whisper directory.

--ct2_dir holds model.bin, config.json and tokenizer.json (a faster-whisper model directory,
e.g. Systran/faster-whisper-large-v3 downloaded beforehand, or the output of
ct2-transformers-converter with --copy_files tokenizer.json). --out_dir gets model.safetensors,
config.json, generation_config.json (greedy transcription with language and task tokens) and
the WhisperProcessor files; it loads with WhisperForConditionalGeneration.from_pretrained and
can be given to any stage's --model / whisper_model option. The output appears atomically
(an existing --out_dir is replaced). The packaged models need no conversion by hand:
package:whisper_base and package:whisper_tiny_en are converted once into the cache.

Example::

    python -m voxrecipes.bin.convert_ct2_whisper --ct2_dir ~/models/faster-whisper-large-v3 \\
        --out_dir ~/models/whisper-large-v3-hf
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convert_ct2_whisper", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ct2_dir", required=True,
                        help="CTranslate2 Whisper directory (model.bin, config.json, tokenizer.json), "
                             "or package:whisper_base / package:whisper_tiny_en")
    parser.add_argument("--out_dir", required=True, help="transformers directory to write")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16"],
                        help="weight dtype of the output (both hold float16 weights exactly); float32 for CPU")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.models.ct2_whisper import convert_ct2_whisper
    from voxrecipes.models.model_paths import PACKAGE_SCHEME, resolve_ct2_model_dir

    ct2_dir = resolve_ct2_model_dir(args.ct2_dir) if args.ct2_dir.startswith(PACKAGE_SCHEME) else args.ct2_dir
    convert_ct2_whisper(ct2_dir, args.out_dir, dtype=args.dtype)


if __name__ == "__main__":
    run(main, get_parser())
