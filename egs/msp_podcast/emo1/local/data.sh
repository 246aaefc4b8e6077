#!/usr/bin/env bash
# Data preparation of the MSP-Podcast release named by MSP_PODCAST (db.sh):
# data/{train,development,test1,test2,test3}. Test3 has no labels.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh
. ./db.sh

python=python3
. utils/parse_options.sh

if [ -z "${MSP_PODCAST}" ]; then
    log "Error: set MSP_PODCAST in db.sh to the MSP-Podcast release (Audios/ Labels/ Transcripts/)"
    exit 1
fi
log "Preparing data dirs from ${MSP_PODCAST}"
${python} -m voxrecipes.bin.prepare_msp_podcast --corpus_dir "${MSP_PODCAST}" --out_dir data
