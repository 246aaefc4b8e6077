#!/usr/bin/env bash
# The MSP-Podcast recipe on a generated mini corpus (espeak-ng voices as speakers,
# the real release's on-disk format). Runs end to end on 2 CPU cores in minutes.
set -euo pipefail

train_set=train
valid_set=dev_bal          # tuning set (Dev_bal: balanced over the 8 classes)
test_sets="dev_filt test1 test2"

./emo.sh \
    --nj 2 \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    --backends "lda_lr plda" \
    --results_title "Mini MSP-Podcast (generated), emotion categories" "$@"
