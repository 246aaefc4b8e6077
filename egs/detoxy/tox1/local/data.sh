#!/usr/bin/env bash
# Data preparation of DeToxy (Ghosh et al., 2022): its annotation CSVs plus the audio you rebuilt
# -> data/{train,valid,test,trigger_test} (labels Toxic / No_Violation, English).
#
# Where the download goes (db.sh, or the environment):
#   DETOXY        the repository's data/ folder (github.com/Sreyan88/Toxicity-Detection-in-Spoken-Utterances):
#                 train.csv valid.csv test.csv trigger_test.csv
#   DETOXY_AUDIO  the rebuilt clips. DeToxy distributes no audio (its README's link is a placeholder):
#                 rebuild them from the eleven source corpora with the repository's notebook
#                 "data prep/Final DeToxy-B Audio Prep.ipynb", which writes one flat folder of
#                 <FileName>.wav (--audio_pattern for other names, placeholders {FileName} {Dataset}).
# Rows without a text or an audio file are left out and counted; those without audio are listed in
# data/<set>/missing_audio.txt.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
. ./path.sh
. ./db.sh

python=python3
sets="train valid test trigger_test"   # CSV names (without .csv) to prepare.
audio_pattern='{FileName}.wav'         # File name of a row under DETOXY_AUDIO.
help_message="Usage: $0 [--sets \"train valid test trigger_test\"] [--audio_pattern '{FileName}.wav']"
. utils/parse_options.sh

if [ -z "${DETOXY}" ] || [ -z "${DETOXY_AUDIO}" ]; then
    log "Error: set DETOXY (the folder of train.csv valid.csv test.csv trigger_test.csv) and DETOXY_AUDIO"
    log "(the rebuilt <FileName>.wav clips) in db.sh or the environment; see the top of $0"
    exit 1
fi
for s in ${sets}; do
    log "Preparing data/${s} from ${DETOXY}/${s}.csv and ${DETOXY_AUDIO}"
    ${python} -m voxrecipes.bin.prepare_detoxy --csv "${DETOXY}/${s}.csv" --audio_dir "${DETOXY_AUDIO}" \
        --audio_pattern "${audio_pattern}" --out_dir "data/${s}"
done
