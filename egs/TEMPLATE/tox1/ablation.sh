#!/usr/bin/env bash
# The ablations of the voice-toxicity paper in one command:
#   Table 2: injection loss (MSE, contrastive) x alpha, plus the alpha = 1 baseline,
#            text injected at the last encoder layer  -> RESULTS_table2.md
#   Table 3: the layer the contrastive loss is applied to -> RESULTS_table3.md
# Every system is trained, scored and evaluated by tox.sh (stages 1-8); a system
# trained once (same name) is not trained again, so the last-layer contrastive system
# of Table 2 is reused in Table 3. Options after these are passed to tox.sh.
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

help_message="Usage: $0 [--losses \"mse contrastive\"] [--alphas \"0.1 0.5 0.9\"] [--layers \"1 6 last\"]
       [--layer_loss contrastive] [--layer_alpha 0.1] [--tables \"2 3\"] -- [tox.sh options]"
# Options of this script come first; the rest goes to tox.sh.
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
        --losses|--alphas|--layers|--layer_loss|--layer_alpha|--tables)
            name=${1#--}; printf -v "${name}" '%s' "$2"; shift 2 ;;
        --help|-h) echo "${help_message}"; exit 0 ;;
        *) break ;;
    esac
done
[ "${1:-}" = "--" ] && shift

system() { echo "${1}_a${2}${3:+_l$3}:alpha=${2},injection_loss=${1}${3:+,injection_layer=$3}"; }

if [[ " ${tables} " == *" 2 "* ]]; then
    systems="baseline:alpha=1.0"
    for loss in ${losses}; do
        for alpha in ${alphas}; do systems+=" $(system "${loss}" "${alpha}")"; done
    done
    log "Table 2: ${systems}"
    ./run.sh --systems "${systems}" --results_columns "Loss;alpha" --results_file RESULTS_table2.md \
        --results_title "Table 2: injection loss and alpha" "$@"
fi

if [[ " ${tables} " == *" 3 "* ]]; then
    systems="baseline:alpha=1.0"
    for layer in ${layers}; do
        if [ "${layer}" = last ]; then
            systems+=" $(system "${layer_loss}" "${layer_alpha}")"
        else
            systems+=" $(system "${layer_loss}" "${layer_alpha}" "${layer}")"
        fi
    done
    log "Table 3: ${systems}"
    ./run.sh --stage 2 --systems "${systems}" --results_columns "Layer;Loss;alpha" \
        --results_file RESULTS_table3.md --results_title "Table 3: injection layer" "$@"
fi
