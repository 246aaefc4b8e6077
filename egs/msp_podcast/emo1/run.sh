#!/usr/bin/env bash
# MSP-Podcast 1.11 (Odyssey 2024 emotion challenge): the TalTech speech and text systems and their fusion.
# Set MSP_PODCAST, MUSAN and RIRS_NOISES in db.sh (or the environment), and
# w2vbert_model in conf/train_emotion_*.yaml to a local copy of facebook/w2v-bert-2.0,
# model_name_or_path in conf/train_text_*.yaml to local copies of Llama-2-7b-hf and
# roberta-large, and asr_model below to a local Whisper (the paper used NeMo Canary 1B
# with greedy decoding; any transformers ASR model works here).
# Every split is transcribed by the same ASR system, as in the paper (--asr_all_sets true).
# Post-evaluation text model: --text_models llama70b (4-bit QLoRA; needs a GPU and bitsandbytes).
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
    --text_models "llama roberta" \
    --asr_model "${ASR_MODEL:-openai/whisper-large-v3}" \
    --asr_all_sets true \
    --asr_opts "--language en" \
    --noise_dir "${MUSAN:+${MUSAN}/noise}" \
    --rir_dir "${RIRS_NOISES:+${RIRS_NOISES}/simulated_rirs}" \
    --results_title "MSP-Podcast 1.11, emotion categories and attributes" "$@"
