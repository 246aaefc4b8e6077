#!/usr/bin/env bash
# Data preparation of a voice-toxicity corpus handed over as manifests:
# ${TOXICITY_MANIFEST}/{train,dev,test}.tsv (or .jsonl) -> data/{train,dev,test}.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh
. ./db.sh

python=python3
sets="train dev test"   # Manifest names (without extension) to prepare.
help_message="Usage: $0 [--sets \"train dev test\"]"
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
    log "Preparing data/${s} from ${manifest}"
    ${python} -m voxrecipes.bin.prepare_toxicity_manifest --manifest "${manifest}" --out_dir "data/${s}"
done
