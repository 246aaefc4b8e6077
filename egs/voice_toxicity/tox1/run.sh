#!/usr/bin/env bash
# Voice toxicity with speech-text alignment (Liu et al.): multilingual Whisper-small,
# text injection with multilingual-e5-large, the paper's protocol and evaluation.
# The corpus is a directory of manifests (train.tsv, dev.tsv, test.tsv; see
# voxrecipes/corpora/toxicity_manifest.py) named by TOXICITY_MANIFEST in db.sh.
# For English-only data set whisper_model: openai/whisper-small.en in conf/; the paper's English ablations
# (Tables 2 and 3): ./ablation.sh --lang en --whisper_model openai/whisper-small.en.
# --ngpu 1 with conf/'s batch_size 8 x accum_grad 4 gives a global batch of 32 per optimiser step; the paper's
# 256 (8 per GPU x 4 x 8 A100s) is ./run.sh --ngpu 8 --train_args "--batch_size 64" (README.md, the table).
# local/data.sh keeps the paper's clips: training 1-15 s, evaluation 1-60 s (counts in its log).
set -euo pipefail

train_set=train
valid_set=dev
test_sets="test"

./tox.sh \
    --ngpu 1 \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    --text_encoder intfloat/multilingual-e5-large \
    --text_prefix "query: " \
    --systems "baseline:alpha=1.0 mse:alpha=0.1,injection_loss=mse contrastive:alpha=0.1,injection_loss=contrastive" \
    --results_title "Multilingual voice toxicity" "$@"
