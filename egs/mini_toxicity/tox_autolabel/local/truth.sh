#!/usr/bin/env bash
# Manifests labelled from the generator's truth (the paper's human-labelled sets):
#   test_true.tsv   the DTX chunks (1-60 s) of the test sessions, truth transcripts: the evaluation set;
#   <set>_true.tsv  the pipeline's sentences of --label_sets with their true labels and the ASR words:
#                   the same training data as <set>_pseudo.tsv, labelled correctly (the comparison).
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh

python=python3
truth=downloads/mini_sessions/truth/sentences.tsv  # The generator's sentence truth.
manifest_dir=data/manifests
test_set=test          # Set whose DTX chunks are the evaluation set.
label_sets="train dev" # Sets whose sentences get true labels too.
min_overlap=0.5        # Share of a truth sentence inside a segment for its labels to count.
help_message="Usage: $0 [--truth F] [--manifest_dir D] [--test_set S] [--label_sets 'S1 S2'] [--min_overlap X]"
. utils/parse_options.sh

mkdir -p "${manifest_dir}"
log "Truth labels of data/${test_set}_chunks -> ${manifest_dir}/${test_set}_true.tsv"
${python} -m voxrecipes.bin.write_truth_manifest --data "data/${test_set}_chunks" --truth "${truth}" \
    --manifest "${manifest_dir}/${test_set}_true.tsv" --min_overlap "${min_overlap}" --transcripts truth
for s in ${label_sets}; do
    log "Truth labels of data/${s}_sentences -> ${manifest_dir}/${s}_true.tsv"
    ${python} -m voxrecipes.bin.write_truth_manifest --data "data/${s}_sentences" --truth "${truth}" \
        --manifest "${manifest_dir}/${s}_true.tsv" --min_overlap "${min_overlap}" --transcripts data
done
