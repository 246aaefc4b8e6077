"""Train the MSP-Podcast emotion model (LoRA Wav2Vec2-BERT or Whisper; categories or attributes) with ESPnet.

Every ESPnet training option works (``--config conf/train_emotion.yaml``, ``--ngpu``,
``--resume``, ``--use_amp``, ``--init_param``, ``--iterator_type category
--batch_type catbel`` for class-balanced batches; ``--print_config`` lists them).
Before handing over to ESPnet this entry point checks the data: every training and
validation utterance must have the target of ``--model_task`` (``category`` or
``attributes``; a missing one is an error naming both files), and no training
utterance may be shorter than ``--min_utterance_seconds`` (default: the shortest
crop; the error names the shape file and line).

Example::

    python -m voxrecipes.bin.train_emotion --config conf/train_emotion.yaml --output_dir exp/emotion_category \\
        --train_data_path_and_name_and_type dump/raw/train/wav.scp,speech,sound \\
        --train_data_path_and_name_and_type dump/raw/train/category,category,text_int \\
        --train_shape_file dump/raw/train/speech_shape \\
        --valid_data_path_and_name_and_type dump/raw/dev_bal/wav.scp,speech,sound \\
        --valid_data_path_and_name_and_type dump/raw/dev_bal/category,category,text_int \\
        --valid_shape_file dump/raw/dev_bal/speech_shape \\
        --noise_csv dump/augment/noise.csv --rir_csv dump/augment/rir.csv
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from voxrecipes.data.audio import SAMPLE_RATE
from voxrecipes.errors import DataError, VoxError
from voxrecipes.tasks.data_checks import check_covers, data_paths

logger = logging.getLogger(__name__)


def check_data(entries: Sequence[Sequence[str]], target: str, phase: str) -> dict[str, str]:
    """Check that every utterance of the speech list has the target; return ``name -> path``."""
    paths = data_paths(entries, ("speech", target), phase)
    check_covers(paths, target)
    return paths


def check_min_length(shape_file: str, min_seconds: float, sample_rate: int = SAMPLE_RATE) -> None:
    """Every utterance of ``shape_file`` (``utt num_samples``) must last at least ``min_seconds``."""
    min_samples = int(round(min_seconds * sample_rate))
    try:
        handle = open(shape_file, encoding="utf-8")
    except FileNotFoundError:
        raise DataError(shape_file, None, "file not found") from None
    with handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                samples = int(fields[1].split(",")[0])
            except (IndexError, ValueError):
                raise DataError(shape_file, lineno, "expected '<utt> <num_samples>'") from None
            if samples < min_samples:
                raise DataError(shape_file, lineno, f"utterance '{fields[0]}' lasts {samples / sample_rate:.2f} s, "
                                f"shorter than the {min_seconds:g} s minimum (the shortest crop); drop short "
                                "utterances when dumping (dump_audio --min_seconds) or lower "
                                "crop_min_seconds / min_utterance_seconds")


def main(cmd: Sequence[str] | None = None) -> None:
    from voxrecipes.tasks.emotion import EmotionTask

    parser = EmotionTask.get_parser()
    parser.prog = "train_emotion"
    parser.description = __doc__
    args = parser.parse_args(cmd)
    try:
        # The data name of each model task's target is the task's name: 'category' or 'attributes'.
        check_data(args.train_data_path_and_name_and_type, args.model_task, "train")
        check_data(args.valid_data_path_and_name_and_type, args.model_task, "valid")
        min_seconds = args.crop_min_seconds if args.min_utterance_seconds is None else args.min_utterance_seconds
        for shape_file in args.train_shape_file:
            check_min_length(shape_file, min_seconds)
        if args.encoder_config:
            # Written by a previous training for inference; a training starts from --{w2vbert,whisper}_{model,conf}.
            logger.warning("ignoring encoder_config (from an earlier config.yaml?): the backbone comes from "
                           "--w2vbert_model/--w2vbert_conf or --whisper_model/--whisper_conf")
            args.encoder_config = {}
        EmotionTask.main(args=args)
    except VoxError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
