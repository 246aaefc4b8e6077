#!/usr/bin/env bash
# The ablations of the voice-toxicity paper in one command:
#   Table 2: injection loss (MSE, contrastive) x alpha, plus the alpha = 1 baseline,
#            text injected at the last encoder layer  -> RESULTS_table2.md
#   Table 3: the layer the contrastive loss is applied to -> RESULTS_table3.md
# Every system is trained, scored and evaluated by tox.sh (stages 1-8); a system
# trained once (same name) is not trained again, so the last-layer contrastive system
# of Table 2 is reused in Table 3. Options after these are passed to tox.sh.
#
# The paper's Tables 2 and 3 are English-only: whisper-small.en on English data. The English variant
#   ./ablation.sh --lang en --whisper_model openai/whisper-small.en
# trains and evaluates on the English utterances of every set (utt2lang = en, copied to data/<set>_en)
# with that encoder, in exp/en_<model>/ with RESULTS_table2_en_<model>.md and RESULTS_table3_en_<model>.md,
# so that it never reuses (or overwrites) the multilingual systems in exp/train_*.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

losses="mse contrastive"   # Injection losses of Table 2.
alphas="0.1 0.5 0.9"       # alpha values of Table 2.
layers="1 6 last"          # Injection layers of Table 3 ('last' is the Table 2 system).
layer_loss=contrastive     # Loss of the Table 3 systems.
layer_alpha=0.1            # alpha of the Table 3 systems.
tables="2 3"               # Which tables to make.
whisper_model=""           # Speech encoder of every system (model id, local dir, package:...); empty: the config's.
lang=""                    # Train and evaluate on this language's utterances only (utt2lang, e.g. en); empty: all.
train_set=train            # The recipe's training set (as in run.sh); --lang makes <set>_<lang> of it.
valid_set=dev              # The recipe's validation set.
test_sets=test             # The recipe's evaluation sets.

help_message="Usage: $0 [--losses \"mse contrastive\"] [--alphas \"0.1 0.5 0.9\"] [--layers \"1 6 last\"]
       [--layer_loss contrastive] [--layer_alpha 0.1] [--tables \"2 3\"]
       [--whisper_model openai/whisper-small.en] [--lang en] [--train_set train] [--valid_set dev]
       [--test_sets test] -- [tox.sh options]"
# Options of this script come first; the rest goes to tox.sh.
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
        --losses|--alphas|--layers|--layer_loss|--layer_alpha|--tables|--whisper_model|--lang|--train_set|\
        --valid_set|--test_sets)
            name=${1#--}; printf -v "${name}" '%s' "$2"; shift 2 ;;
        --help|-h) echo "${help_message}"; exit 0 ;;
        *) break ;;
    esac
done
[ "${1:-}" = "--" ] && shift

encoder_opt=${whisper_model:+,whisper_model=${whisper_model}}   # appended to every system's options
system() { echo "${1}_a${2}${3:+_l$3}:alpha=${2},injection_loss=${1}${3:+,injection_layer=$3}${encoder_opt}"; }

# A variant (another language or encoder) gets its own data sets, experiment dir and results files.
tag="${lang:+_${lang}}${whisper_model:+_$(basename "${whisper_model}" | tr -c 'A-Za-z0-9._\n-' '_')}"
stage=1                    # The Table 2 run prepares the data (tox.sh stage 1) unless a variant did it here.
variant_args=()
if [ -n "${lang}" ]; then
    for dset in ${train_set} ${valid_set} ${test_sets}; do
        if [ ! -f "data/${dset}/utt2lang" ]; then
            log "Preparing the data first (./run.sh --stage 1 --stop_stage 1): data/${dset}/utt2lang is missing"
            ./run.sh "$@" --stage 1 --stop_stage 1   # after "$@": parse_options.sh keeps the last value
            break
        fi
    done
    . ./path.sh
    for dset in ${train_set} ${valid_set} ${test_sets}; do
        if [ -f "data/${dset}_${lang}/utt2spk" ] && [ "data/${dset}_${lang}/utt2spk" -nt "data/${dset}/utt2spk" ]; then
            log "data/${dset}_${lang} is newer than data/${dset}: kept (its dump stays valid)"
            continue
        fi
        awk -v l="${lang}" '$2 == l { print $1 }' "data/${dset}/utt2lang" > "data/${dset}/utt_list_${lang}"
        log "data/${dset}_${lang}: $(wc -l < "data/${dset}/utt_list_${lang}") of" \
            "$(wc -l < "data/${dset}/utt2lang") utterances of data/${dset} are '${lang}'"
        python3 -m voxrecipes.bin.subset_data_dir --utt_list "data/${dset}/utt_list_${lang}" \
            "data/${dset}" "data/${dset}_${lang}"
    done
    stage=2
    _tests=""
    for dset in ${test_sets}; do _tests+="${dset}_${lang} "; done
    variant_args+=(--train_set "${train_set}_${lang}" --valid_set "${valid_set}_${lang}" --test_sets "${_tests% }")
fi
[ -n "${tag}" ] && variant_args+=(--expdir "exp/${tag#_}")   # under exp/: ignored by git like exp/

if [[ " ${tables} " == *" 2 "* ]]; then
    systems="baseline:alpha=1.0${encoder_opt}"
    for loss in ${losses}; do
        for alpha in ${alphas}; do systems+=" $(system "${loss}" "${alpha}")"; done
    done
    log "Table 2: ${systems}"
    ./run.sh --stage "${stage}" "${variant_args[@]}" --systems "${systems}" --results_columns "Loss;alpha" \
        --results_file "RESULTS_table2${tag}.md" --results_title "Table 2: injection loss and alpha${tag:+ (${tag#_})}" "$@"
fi

if [[ " ${tables} " == *" 3 "* ]]; then
    systems="baseline:alpha=1.0${encoder_opt}"
    for layer in ${layers}; do
        if [ "${layer}" = last ]; then
            systems+=" $(system "${layer_loss}" "${layer_alpha}")"
        else
            systems+=" $(system "${layer_loss}" "${layer_alpha}" "${layer}")"
        fi
    done
    log "Table 3: ${systems}"
    ./run.sh --stage 2 "${variant_args[@]}" --systems "${systems}" --results_columns "Layer;Loss;alpha" \
        --results_file "RESULTS_table3${tag}.md" --results_title "Table 3: injection layer${tag:+ (${tag#_})}" "$@"
fi
