#!/usr/bin/env bash
# tox.sh stage 1: data dirs from the pipeline's manifests (prepare_toxicity_manifest, the real
# recipe's preparer): data/<name> for every data/manifests/<name>.tsv.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh

python=python3
manifest_dir=data/manifests
names="train_pseudo dev_pseudo train_true dev_true test_true"  # Manifests to prepare.
help_message="Usage: $0 [--manifest_dir D] [--names 'a b']"
. utils/parse_options.sh

for n in ${names}; do
    log "Preparing data/${n} from ${manifest_dir}/${n}.tsv"
    ${python} -m voxrecipes.bin.prepare_toxicity_manifest --manifest "${manifest_dir}/${n}.tsv" --out_dir "data/${n}"
done
