#!/usr/bin/env bash
# Data preparation of a voice-toxicity corpus handed over as manifests:
# ${TOXICITY_MANIFEST}/{train,dev,test}.tsv (or .jsonl) -> data/local/{train,dev,test} (every clip),
# then the paper's clip selection (Section 4.2) -> data/{train,dev,test}: training clips of 1-15 s
# (longer ones are excluded, not cropped, so that a crop never cuts the toxic sentence out of a clip
# and leaves a wrong label), evaluation clips of 1-60 s. The counts of excluded clips are logged and
# written to data/<set>/duration_selection.json.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh
. ./db.sh

python=python3
sets="train dev test"   # Manifest names (without extension) to prepare.
train_sets="train"      # Those of them that are training sets (the others are evaluation sets).
train_min_seconds=1     # paper: training clips "span from 1 to 15 seconds"; under 1 s is discarded.
train_max_seconds=15    # paper: 15 (longer training clips are not used). Empty: no upper limit.
eval_min_seconds=1      # paper: evaluation clips "span from 1 to 60 seconds".
eval_max_seconds=60     # paper: 60. Empty: no upper limit.
help_message="Usage: $0 [--sets \"train dev test\"] [--train_sets train] [--train_min_seconds 1]
       [--train_max_seconds 15] [--eval_min_seconds 1] [--eval_max_seconds 60]"
. utils/parse_options.sh

if [ -z "${TOXICITY_MANIFEST}" ]; then
    log "Error: set TOXICITY_MANIFEST (db.sh or the environment) to the directory of the manifests"
    exit 1
fi
for s in ${sets}; do
    manifest=
    for ext in tsv jsonl; do
        [ -f "${TOXICITY_MANIFEST}/${s}.${ext}" ] && manifest=${TOXICITY_MANIFEST}/${s}.${ext}
    done
    [ -n "${manifest}" ] || { log "Error: no ${TOXICITY_MANIFEST}/${s}.tsv or .jsonl"; exit 1; }
    log "Preparing data/local/${s} from ${manifest}"
    ${python} -m voxrecipes.bin.prepare_toxicity_manifest --manifest "${manifest}" --out_dir "data/local/${s}"
    if [[ " ${train_sets} " == *" ${s} "* ]]; then
        _min=${train_min_seconds}; _max=${train_max_seconds}
    else
        _min=${eval_min_seconds}; _max=${eval_max_seconds}
    fi
    # The log line gives the counts: kept N of M utterances of 1-15 s; excluded K shorter ... and L longer ...
    ${python} -m voxrecipes.bin.select_by_duration --min_seconds "${_min}" ${_max:+--max_seconds "${_max}"} \
        "data/local/${s}" "data/${s}"
done
