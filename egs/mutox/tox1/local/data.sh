#!/usr/bin/env bash
# Data preparation of MuTox (Costa-jussà et al., 2024): the release TSV plus the audio you downloaded
# -> data/{train,dev,devtest} (labels Toxic / No_Violation).
#
# Where the download goes (db.sh, or the environment):
#   MUTOX_TSV    the release TSV, https://dl.fbaipublicfiles.com/seamless/datasets/mutox.tsv
#   MUTOX_AUDIO  the audio. MuTox ships no audio: every row's public_url_segment is
#                "<url> <start> <end>" (milliseconds for eng/spa, 16 kHz samples for the other
#                languages). Either cut each row into ${MUTOX_AUDIO}/<id>.wav (--audio_layout segments,
#                the default; --audio_pattern for other names, e.g. '{lang}/{id}.wav'), or keep the
#                downloaded source files under their URL's file name (--audio_layout sources; the
#                segments are then cut on the fly). 16 kHz mono wav is safest.
# Rows with an undecided label (Cannot say), without a transcript or without audio are left out and
# counted in the log; those without audio are listed in data/<set>/missing_audio.txt.
# --mini true instead generates the mini MuTox-format corpus (espeak-ng, five languages) under
# downloads/mini_mutox and prepares it with the same code.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh
. ./db.sh

python=python3
mini=false               # Generate and use the mini MuTox-format corpus instead of the release.
seed=0                   # Seed of the generated corpus (--mini true).
num_utts=600             # Rows of the generated corpus over all languages and partitions (70/15/15).
nj=2                     # Parallel espeak-ng/sox processes (--mini true).
audio_layout=segments    # segments: one cut file per row; sources: the downloaded source files.
audio_pattern='{id}.wav' # File name of a row under MUTOX_AUDIO (segments layout): {id} {lang} {partition}.
languages=""             # Keep only these languages (e.g. "eng spa"; default: all).
unknown_language=error   # A lang code outside the MuTox languages: error, keep or drop.
help_message="Usage: $0 [--mini true|false] [--seed N] [--num_utts N] [--nj N] [--audio_layout segments|sources]
       [--audio_pattern '{id}.wav'] [--languages \"eng spa ...\"] [--unknown_language error|keep|drop]"
. utils/parse_options.sh

if ${mini}; then
    corpus=downloads/mini_mutox
    if [ ! -f "${corpus}/mutox.tsv" ]; then
        log "Generating the mini MuTox-format corpus into ${corpus}"
        ${python} -m voxrecipes.bin.generate_mini_mutox --out_dir "${corpus}" --seed "${seed}" \
            --num_utts "${num_utts}" --nj "${nj}"
    else
        log "Using the generated corpus in ${corpus} (remove it to generate again)"
    fi
    MUTOX_TSV=${corpus}/mutox.tsv
    MUTOX_AUDIO=${corpus}/audio
    audio_layout=segments
    audio_pattern='{id}.wav'
fi
if [ -z "${MUTOX_TSV}" ] || [ -z "${MUTOX_AUDIO}" ]; then
    log "Error: set MUTOX_TSV (the release's mutox.tsv) and MUTOX_AUDIO (your downloaded audio) in db.sh or the"
    log "environment (see the top of $0), or run with --local_data_opts \"--mini true\" for the generated corpus"
    exit 1
fi
opts=(--audio_layout "${audio_layout}" --audio_pattern "${audio_pattern}" --unknown_language "${unknown_language}")
# shellcheck disable=SC2206
[ -n "${languages}" ] && opts+=(--languages ${languages})
for part in train dev devtest; do
    log "Preparing data/${part} from ${MUTOX_TSV} and ${MUTOX_AUDIO}"
    ${python} -m voxrecipes.bin.prepare_mutox --tsv "${MUTOX_TSV}" --audio_dir "${MUTOX_AUDIO}" \
        --partition "${part}" --out_dir "data/${part}" "${opts[@]}"
done
