#!/usr/bin/env bash
# MSP-Podcast 1.11 (Odyssey 2024 emotion challenge), categorical task.
# Set MSP_PODCAST in db.sh (or the environment) to the release directory.
set -euo pipefail

train_set=train
valid_set=dev_bal          # tuning set (Dev_bal: balanced over the 8 classes)
test_sets="dev_filt test1 test2"

./emo.sh \
    --nj 16 \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    --backends "lda_lr plda" \
    --results_title "MSP-Podcast 1.11, emotion categories" "$@"
