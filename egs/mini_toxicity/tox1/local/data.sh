#!/usr/bin/env bash
# Data preparation of the mini voice-toxicity corpus. When TOXICITY_MANIFEST (db.sh)
# is empty, a five-language corpus is generated with espeak-ng under
# downloads/mini_toxicity first (manifests in the format a real user hands over);
# then the real preparer reads its manifests: data/{train,dev,test}.
# Toxicity is in the words only (mild real phrases; the same voices and prosody for
# toxic and neutral clips). --mark_triggers true adds an acoustic shortcut (trigger
# sentences spoken with their class's pitch, speed and voice variant), which a tiny
# encoder trained from scratch learns but a text embedding cannot carry.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh
. ./db.sh

python=python3
seed=0          # Seed of the generated corpus.
num_utts=600    # Utterances over all languages and splits (70/15/15).
nj=2            # Parallel espeak-ng/sox processes.
mark_triggers=false # Speak trigger sentences with class-specific pitch, speed and voice (a shortcut).
help_message="Usage: $0 [--seed N] [--num_utts N] [--nj N] [--mark_triggers true|false]"
. utils/parse_options.sh

if [ -z "${TOXICITY_MANIFEST}" ]; then
    TOXICITY_MANIFEST=downloads/mini_toxicity
    if [ ! -f "${TOXICITY_MANIFEST}/manifest_train.tsv" ]; then
        log "Generating the mini toxicity corpus into ${TOXICITY_MANIFEST}"
        opts=""
        ${mark_triggers} && opts="--mark_triggers"
        # shellcheck disable=SC2086
        ${python} -m voxrecipes.bin.generate_mini_toxicity --out_dir "${TOXICITY_MANIFEST}" \
            --seed "${seed}" --num_utts "${num_utts}" --nj "${nj}" ${opts}
    else
        log "Using the generated corpus in ${TOXICITY_MANIFEST} (remove it to generate again)"
    fi
fi
for s in train dev test; do
    log "Preparing data/${s} from ${TOXICITY_MANIFEST}/manifest_${s}.tsv"
    ${python} -m voxrecipes.bin.prepare_toxicity_manifest --manifest "${TOXICITY_MANIFEST}/manifest_${s}.tsv" \
        --out_dir "data/${s}"
done
