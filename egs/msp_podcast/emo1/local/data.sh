#!/usr/bin/env bash
# Data preparation of the MSP-Podcast release named by MSP_PODCAST (db.sh):
# data/{train,development,test1,test2,test3}, plus the paper's evaluation
# subsets data/dev_filt and data/dev_bal. Test3 has no labels.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh
. ./db.sh

python=python3
dev_bal_per_class=300   # Utterances per primary class in Dev_bal (the paper's 300).
dev_bal_seed=0         # Seed of the Dev_bal draw.
. utils/parse_options.sh

if [ -z "${MSP_PODCAST}" ]; then
    log "Error: set MSP_PODCAST in db.sh to the MSP-Podcast release (Audios/ Labels/ Transcripts/)"
    exit 1
fi
log "Preparing data dirs from ${MSP_PODCAST}"
${python} -m voxrecipes.bin.prepare_msp_podcast --corpus_dir "${MSP_PODCAST}" --out_dir data
log "Evaluation subsets of the development set: data/dev_filt (no O, X), data/dev_bal"
${python} -m voxrecipes.bin.make_eval_subsets --data data/development \
    --filt_dir data/dev_filt --bal_dir data/dev_bal \
    --per_class "${dev_bal_per_class}" --seed "${dev_bal_seed}"
