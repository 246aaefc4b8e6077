#!/usr/bin/env bash
# The toxicity paper's automatic labelling pipeline (section 2): long voice-chat recordings ->
# Opus DTX chunks -> Whisper transcripts -> 1-15 s sentences -> a text toxicity labeller ->
# pseudo-labelled training manifests that tox.sh trains on.
#
# Input: one directory of long 16 kHz mono recordings per set, ${audio_root}/<set>/*.wav.
# Output: data/<set>_chunks (1-60 s DTX chunks: the paper's evaluation segments), exp/asr/<set>_chunks
# (Whisper segments), data/<set>_sentences (1-15 s: the paper's training segments), exp/text_labeller
# (the labeller and its per-class thresholds) and ${manifest_dir}/<set>_pseudo.tsv for --label_sets.
# Every stage is a `python -m voxrecipes.bin.<name>`; resume with --stage N --stop_stage M.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
SECONDS=0

stage=1               # Processes starts from the specified stage.
stop_stage=10000      # Processes is stopped at the specified stage.
python=python3        # Python interpreter (the venv's, put on PATH by path.sh).
expdir=exp            # Directory of the experiments.

audio_root=           # Long recordings: ${audio_root}/<set>/*.wav (16 kHz mono).
sets="train dev test" # Sets to chunk with DTX.
label_sets="train dev" # Sets to transcribe, cut into sentences and pseudo-label.
dtx_config=conf/dtx.yaml  # DTX chunking rule (voxrecipes.data.dtx).

asr_backend=faster_whisper   # transformers or faster_whisper.
asr_model=package:whisper_base  # Whisper: CTranslate2 dir / HF id / local dir / package:<name>.
asr_batch_size=8      # Chunks per ASR batch.
asr_language=""       # Whisper language for every chunk ("" = detected per chunk).
asr_threads=0         # faster_whisper CPU threads (0: CTranslate2's default).
lid_model=package:whisper_base  # Language ID: a multilingual CTranslate2 Whisper.
lid_per_recording=true # Language ID: one language per recording (true) or per chunk (false).
min_sentence=1        # Training sentences: shorter ones are merged or dropped (the paper: 1 s).
max_sentence=15       # Training sentences: longer ones are split (the paper: 15 s).
languages="en es fr de pt"  # Languages kept; chunks decoded as others are dropped.

labeller_data=        # Labelled text for the labeller: <dir>/train and <dir>/dev with text + utt2labels.
labeller_config=conf/train_text_labeller.yaml  # Multi-label text classifier (train_text_classifier).
threshold_step=0.05   # Grid step of the per-class thresholds tuned on <labeller_data>/dev.
min_toxic=1           # A pseudo-labelled set with fewer toxic sentences is an error.
manifest_dir=data/manifests  # Where the manifests go.
device=cpu            # cpu, cuda or auto for the ASR and the labeller.

help_message=$(cat << EOF_HELP
Usage: $0 --audio_root <dir> --labeller_data <dir> [options]

Options:
    --stage --stop_stage  # Stages to run (default ${stage}-${stop_stage}).
    --expdir              # Experiments (default="${expdir}").
    --audio_root          # Recordings: <audio_root>/<set>/*.wav, 16 kHz mono (required).
    --sets                # Sets to chunk (default="${sets}").
    --label_sets          # Sets to transcribe and pseudo-label (default="${label_sets}").
    --dtx_config          # DTX rule config (default="${dtx_config}").
    --asr_backend         # transformers | faster_whisper (default="${asr_backend}").
    --asr_model           # ASR model (default="${asr_model}").
    --asr_batch_size      # Chunks per ASR batch (default="${asr_batch_size}").
    --asr_language        # Force a Whisper language (default: detect per chunk).
    --asr_threads         # faster_whisper CPU threads (default="${asr_threads}").
    --lid_model           # Language-ID Whisper, CTranslate2 (default="${lid_model}").
    --lid_per_recording   # One language per recording (default="${lid_per_recording}").
    --min_sentence        # Shortest training sentence, s (default="${min_sentence}").
    --max_sentence        # Longest training sentence, s (default="${max_sentence}").
    --languages           # Languages kept (default="${languages}").
    --labeller_data       # <dir>/{train,dev}/{text,utt2labels} for the text labeller (required for stage 4).
    --labeller_config     # Labeller config (default="${labeller_config}").
    --threshold_step      # Threshold grid step (default="${threshold_step}").
    --min_toxic           # Fewest toxic sentences per pseudo-labelled set (default="${min_toxic}").
    --manifest_dir        # Output manifests (default="${manifest_dir}").
    --device              # cpu, cuda or auto (default="${device}").

Stages:
    1: DTX chunks of every set (dtx_segment)
    2: Whisper language ID (detect_language, unless --asr_language) and transcripts (transcribe) of the
       chunks of --label_sets
    3: 1-15 s sentences at the ASR segment boundaries (asr_sentences)
    4: text labeller training (train_text_classifier, task multilabel)
    5: per-class thresholds on the labeller's dev split (tune_text_thresholds)
    6: pseudo-labelled manifests (write_pseudo_manifest)
EOF_HELP
)

log "$0 $*"
. ./path.sh
. utils/parse_options.sh

[ $# -ne 0 ] && { log "${help_message}"; log "Error: No positional arguments are required."; exit 2; }
[ -z "${audio_root}" ] && { log "${help_message}"; log "Error: --audio_root is required"; exit 2; }

labeller_dir=${expdir}/text_labeller
timing=${expdir}/timing.tsv   # stage, wall seconds, seconds of audio it processed (for real-time factors)
mkdir -p "${expdir}"
# Seconds of audio of the recordings of some sets (from dtx_segment's statistics).
audio_seconds() {
    local s total=0
    for s in "$@"; do
        total=$(awk -v t="${total}" -F'[:,]' '/"audio_seconds"/ { printf "%.2f", t + $2; exit }' "data/${s}_chunks/dtx_stats.json")
    done
    echo "${total}"
}
# Appends one line to ${timing}: a stage, its wall seconds since $2, its audio seconds.
record_time() { printf '%s\t%s\t%s\n' "$1" "$(( SECONDS - $2 ))" "$3" >> "${timing}"; }

if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ]; then
    _t0=${SECONDS}
    for s in ${sets}; do
        log "Stage 1: DTX chunks of ${audio_root}/${s} -> data/${s}_chunks"
        ${python} -m voxrecipes.bin.dtx_segment --config "${dtx_config}" --audio_dir "${audio_root}/${s}" \
            --out_dir "data/${s}_chunks"
    done
    # shellcheck disable=SC2086
    record_time "1 DTX chunks" "${_t0}" "$(audio_seconds ${sets})"
fi

if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ]; then
    _t0=${SECONDS} _data=() _out=()
    for s in ${label_sets}; do _data+=("data/${s}_chunks"); _out+=("${expdir}/asr/${s}_chunks"); done
    mkdir -p "${expdir}/asr"
    if [ -z "${asr_language}" ]; then
        for d in "${_data[@]}"; do
            log "Stage 2: language ID of ${d} (${lid_model}, per recording: ${lid_per_recording})"
            # shellcheck disable=SC2086
            ${python} -m voxrecipes.bin.detect_language --data "${d}" --model "${lid_model}" --languages ${languages} \
                --per_recording "${lid_per_recording}" --device "${device}" --cpu_threads "${asr_threads}"
        done
    fi
    log "Stage 2: ASR (${asr_backend}, ${asr_model}) of ${_data[*]}"
    ${python} -m voxrecipes.bin.transcribe --no_progress --asr_backend "${asr_backend}" --model "${asr_model}" \
        --data "${_data[@]}" --out_dir "${_out[@]}" --batch_size "${asr_batch_size}" --device "${device}" \
        --language "${asr_language}" $([ "${asr_backend}" = faster_whisper ] && echo --cpu_threads "${asr_threads}") \
        > "${expdir}/asr/transcribe.log" 2>&1 || { tail -n 20 "${expdir}/asr/transcribe.log" >&2; exit 1; }
    grep -h "real-time factor" "${expdir}/asr/transcribe.log" | sed 's/^.*INFO: /  /'
    # shellcheck disable=SC2086
    record_time "2 ASR (${asr_model})" "${_t0}" "$(audio_seconds ${label_sets})"
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ]; then
    _t0=${SECONDS}
    for s in ${label_sets}; do
        log "Stage 3: ${min_sentence}-${max_sentence} s sentences of data/${s}_chunks -> data/${s}_sentences"
        # shellcheck disable=SC2086
        ${python} -m voxrecipes.bin.asr_sentences --chunks "data/${s}_chunks" --asr_dir "${expdir}/asr/${s}_chunks" \
            --out_dir "data/${s}_sentences" --min_seconds "${min_sentence}" --max_seconds "${max_sentence}" \
            --languages ${languages}
    done
    # shellcheck disable=SC2086
    record_time "3 ASR sentences" "${_t0}" "$(audio_seconds ${label_sets})"
fi

if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ]; then
    [ -z "${labeller_data}" ] && { log "Error: --labeller_data is required for stage 4"; exit 2; }
    _t0=${SECONDS}
    log "Stage 4: text labeller (${labeller_config}) on ${labeller_data}/train -> ${labeller_dir}"
    mkdir -p "${labeller_dir}"
    ${python} -m voxrecipes.bin.train_text_classifier --no_progress --config "${labeller_config}" \
        --train_text "${labeller_data}/train/text" --train_labels "${labeller_data}/train/utt2labels" \
        --valid_text "${labeller_data}/dev/text" --valid_labels "${labeller_data}/dev/utt2labels" \
        --out_dir "${labeller_dir}" --device "${device}" > "${labeller_dir}/stage.log" 2>&1 \
        || { tail -n 20 "${labeller_dir}/stage.log" >&2; exit 1; }
    grep -h "best valid" "${labeller_dir}/stage.log" | sed 's/^.*INFO: /  /'
    record_time "4 text labeller training" "${_t0}" ""
fi

if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ]; then
    _t0=${SECONDS}
    log "Stage 5: per-class thresholds on ${labeller_data}/dev -> ${labeller_dir}/model/thresholds.json"
    ${python} -m voxrecipes.bin.tune_text_thresholds --model_dir "${labeller_dir}/model" \
        --text "${labeller_data}/dev/text" --labels "${labeller_data}/dev/utt2labels" --step "${threshold_step}" \
        --device "${device}"
    record_time "5 thresholds" "${_t0}" ""
fi

if [ ${stage} -le 6 ] && [ ${stop_stage} -ge 6 ]; then
    _t0=${SECONDS}
    mkdir -p "${manifest_dir}"
    for s in ${label_sets}; do
        log "Stage 6: pseudo labels of data/${s}_sentences -> ${manifest_dir}/${s}_pseudo.tsv"
        ${python} -m voxrecipes.bin.write_pseudo_manifest --data "data/${s}_sentences" \
            --model_dir "${labeller_dir}/model" --manifest "${manifest_dir}/${s}_pseudo.tsv" \
            --min_toxic "${min_toxic}" --device "${device}"
    done
    # shellcheck disable=SC2086
    record_time "6 pseudo labels" "${_t0}" "$(audio_seconds ${label_sets})"
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
