#!/usr/bin/env bash
# Generate the mini voice-chat sessions (long recordings, five languages, background noise) and the
# labeller's text-only training set, unless they are there. The truth of the sessions goes to
# ${corpus}/truth/, which only the evaluation (local/truth.sh) reads.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh

python=python3
corpus=downloads/mini_sessions        # Sessions: audio/<split>/*.wav and truth/.
text_set=downloads/text_labeller      # Labeller text set: train/ and dev/ with text, utt2labels.
sessions_config=conf/generate_sessions.yaml  # The generator's knobs.
text_splits="train=600 dev=200"       # Labeller examples per split.
seed=0                                # Seed of both.
nj=2                                  # Parallel espeak-ng processes.
help_message="Usage: $0 [--corpus DIR] [--text_set DIR] [--sessions_config F] [--text_splits 'train=N dev=M'] [--seed N] [--nj N]"
. utils/parse_options.sh

if [ ! -f "${corpus}/truth/sentences.tsv" ]; then
    log "Generating the sessions into ${corpus}"
    ${python} -m voxrecipes.bin.generate_mini_sessions --out_dir "${corpus}" --config "${sessions_config}" \
        --seed "${seed}" --nj "${nj}"
else
    log "Using the sessions in ${corpus} (remove it to generate again)"
fi
if [ ! -f "${text_set}/dev/utt2labels" ]; then
    log "Writing the labeller's text set into ${text_set}"
    # shellcheck disable=SC2086
    ${python} -m voxrecipes.bin.generate_toxic_text_set --out_dir "${text_set}" --splits ${text_splits} \
        --seed "${seed}"
fi
