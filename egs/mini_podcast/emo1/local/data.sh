#!/usr/bin/env bash
# Data preparation of the mini MSP-Podcast corpus. When MSP_PODCAST (db.sh) is
# empty, a corpus in the real release's layout is generated with espeak-ng under
# downloads/mini_podcast first; then the real preparer reads it, exactly as it
# reads the MSP-Podcast release: data/{train,development,test1,test2,test3},
# then the evaluation subsets data/dev_filt and data/dev_bal. When MUSAN /
# RIRS_NOISES are empty, noises and room impulse responses for the augmentation are
# generated in their layouts under downloads/augment.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh
. ./db.sh

python=python3
dev_bal_per_class=10   # Utterances per class in Dev_bal (the mini corpus has 8-45 per class).
dev_bal_seed=0         # Seed of the Dev_bal draw.
seed=0                 # Seed of the generated corpus.
num_speakers=48        # Voices (speakers) in the generated corpus: 24 train, 9 dev, 6+6 test, 3 test3.
utts_per_speaker=19    # Utterances per voice.
nj=2                   # Parallel espeak-ng/sox processes.
help_message="Usage: $0 [--seed N] [--num_speakers N] [--utts_per_speaker N] [--nj N] [--dev_bal_per_class N]"
. utils/parse_options.sh

if [ -z "${MSP_PODCAST}" ]; then
    MSP_PODCAST=downloads/mini_podcast
    if [ ! -f "${MSP_PODCAST}/Labels/labels_consensus.csv" ]; then
        log "Generating the mini MSP-Podcast corpus into ${MSP_PODCAST}"
        ${python} -m voxrecipes.bin.generate_mini_podcast --out_dir "${MSP_PODCAST}" \
            --seed "${seed}" --num_speakers "${num_speakers}" \
            --utts_per_speaker "${utts_per_speaker}" --nj "${nj}"
    else
        log "Using the generated corpus in ${MSP_PODCAST} (remove it to generate again)"
    fi
fi
if [ -z "${MUSAN}" ] || [ -z "${RIRS_NOISES}" ]; then
    log "Generating noises and room impulse responses into downloads/augment"
    ${python} -m voxrecipes.bin.generate_noise_rirs --out_dir downloads/augment --seed "${seed}"
fi
log "Preparing data dirs from ${MSP_PODCAST}"
${python} -m voxrecipes.bin.prepare_msp_podcast --corpus_dir "${MSP_PODCAST}" --out_dir data
log "Evaluation subsets of the development set: data/dev_filt (no O, X), data/dev_bal"
${python} -m voxrecipes.bin.make_eval_subsets --data data/development \
    --filt_dir data/dev_filt --bal_dir data/dev_bal \
    --per_class "${dev_bal_per_class}" --seed "${dev_bal_seed}"
