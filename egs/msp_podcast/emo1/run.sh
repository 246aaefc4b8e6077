#!/usr/bin/env bash
# MSP-Podcast 1.11 (Odyssey 2024 emotion challenge): the TalTech speech system.
# Set MSP_PODCAST, MUSAN and RIRS_NOISES in db.sh (or the environment), and
# w2vbert_model in conf/train_emotion_*.yaml to a local copy of facebook/w2v-bert-2.0.
set -euo pipefail
. ./db.sh

train_set=train
valid_set=dev_bal          # tuning set (Dev_bal: 300 utterances per primary class)
test_sets="development dev_filt test1 test2"
submission_sets=test3      # unlabelled: challenge CSVs only

./emo.sh \
    --nj 16 \
    --ngpu 1 \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    --submission_sets "${submission_sets}" \
    --backends "lda_lr plda" \
    --noise_dir "${MUSAN:+${MUSAN}/noise}" \
    --rir_dir "${RIRS_NOISES:+${RIRS_NOISES}/simulated_rirs}" \
    --results_title "MSP-Podcast 1.11, emotion categories and attributes" "$@"
