#!/usr/bin/env bash
# Multi-label voice toxicity with text injection: the shared numbered stages.
#
# Recipes call this script from their run.sh with corpus-specific options; every
# stage is a `python -m voxrecipes.bin.<name>` entry point, so the code of a stage
# is found from its log line. Resume anywhere with --stage N --stop_stage M; a
# finished training is skipped, an interrupted one resumes from its checkpoint.

# Set bash to 'strict' mode: stop on errors, unset variables and failing pipes.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
SECONDS=0

# General configuration
stage=1               # Processes starts from the specified stage.
stop_stage=10000      # Processes is stopped at the specified stage.
python=python3        # Python interpreter (the venv's, put on PATH by path.sh).
expdir=exp            # Directory of the experiments.
dumpdir=dump          # Directory of dumped audio and transcript embeddings.
ngpu=0                # GPUs per training (0: CPU; >1: one process per GPU, DDP).
train_threads=${OMP_NUM_THREADS:-1}  # CPU threads of each training and scoring job (the job dispatcher sets
                      # OMP/MKL_NUM_THREADS from it; run.sh exports OMP_NUM_THREADS to choose).

# Data preparation related
local_data_opts=""    # Options passed to local/data.sh.
check_audio=false     # Open every audio file while validating the data dirs (slow on big corpora).
min_train_seconds=1   # Training utterances shorter than this are dropped (the paper: 1 s).

# Text injection related
text_encoder=intfloat/multilingual-e5-large  # Frozen text encoder: model id, local dir, or package:<module>.
text_prefix="query: "  # Prepended to every transcript (e5 convention; "" for other encoders).
text_emb_batch_size=32 # Transcripts per forward pass of the text encoder.

# Training related
train_config=conf/train_toxicity.yaml   # ESPnet training config shared by every system.
systems="baseline:alpha=1.0 mse:alpha=0.1,injection_loss=mse contrastive:alpha=0.1,injection_loss=contrastive"
                      # Systems to train: <name>:<option>=<value>,... (options override the config).
train_args=""         # Extra options for every training (e.g. "--max_epoch 2").
baseline=baseline     # The system the others are compared with (alpha = 1).

# Scoring and evaluation related
classes="Profanity Bullying Dating_Sexting Racist Other No_Violation"  # Output classes, model order.
ap_classes="Profanity Dating_Sexting Racist Bullying"  # Classes of the mAP (the paper's four).
chunk_seconds=15      # Evaluation chunk length.
stride_seconds=15     # Evaluation chunk stride.
score_batch_size=16   # Chunks per forward pass when scoring (across clips).
checkpoint=valid.mAP.best.pth  # Checkpoint scored (best validation mAP).
detection_class=""    # With a class (e.g. Toxic): also AUC and P/R/F1 at a threshold tuned on the valid set (MuTox).
num_bootstrap=1000    # Bootstrap resamples for the 95% confidence intervals.
eval_seed=0           # Seed of the bootstrap.
results_columns="Loss;alpha"   # Label columns of the results table (Loss, alpha, Layer, tau).
results_title="Voice toxicity"  # Title of RESULTS.md.
results_notes=""                # Markdown file of hand-written notes appended to the first test set's RESULTS.md.
results_file=RESULTS.md         # Where the results of the first test set go.

# Data sets
train_set=       # Name of the training set.
valid_set=       # Name of the validation set (model selection).
test_sets=       # Names of the evaluation sets.

help_message=$(cat << EOF_HELP
Usage: $0 --train_set <train_set_name> --valid_set <valid_set_name> --test_sets "<test_set_names>"

Options:
    # General configuration
    --stage          # Processes starts from the specified stage (default="${stage}").
    --stop_stage     # Processes is stopped at the specified stage (default="${stop_stage}").
    --python         # Python interpreter (default="${python}").
    --expdir         # Directory of the experiments (default="${expdir}").
    --dumpdir        # Directory of dumped audio and embeddings (default="${dumpdir}").
    --ngpu           # GPUs per training (default="${ngpu}").
    --train_threads  # CPU threads of each training and scoring job (default="${train_threads}": $OMP_NUM_THREADS).

    # Data preparation related
    --local_data_opts   # Options passed to local/data.sh (default="${local_data_opts}").
    --check_audio       # Open every audio file while validating (default="${check_audio}").
    --min_train_seconds # Drop shorter training utterances (default="${min_train_seconds}").

    # Text injection related
    --text_encoder        # Frozen text encoder (default="${text_encoder}").
    --text_prefix         # Prefix of every transcript (default="${text_prefix}").
    --text_emb_batch_size # Transcripts per batch (default="${text_emb_batch_size}").

    # Training related
    --train_config   # ESPnet training config (default="${train_config}").
    --systems        # Systems, <name>:<opt>=<val>,... (default="${systems}").
    --train_args     # Extra training options for every system (default="${train_args}").
    --baseline       # Name of the baseline system (default="${baseline}").

    # Scoring and evaluation related
    --classes          # Output classes (default="${classes}").
    --ap_classes       # Classes of the mAP (default="${ap_classes}").
    --chunk_seconds    # Evaluation chunk length (default="${chunk_seconds}").
    --stride_seconds   # Evaluation chunk stride (default="${stride_seconds}").
    --score_batch_size # Chunks per batch when scoring (default="${score_batch_size}").
    --checkpoint       # Checkpoint to score (default="${checkpoint}").
    --detection_class  # Binary detection metrics of this class, threshold from the valid set (default="${detection_class}").
    --num_bootstrap    # Bootstrap resamples (default="${num_bootstrap}").
    --eval_seed        # Seed of the bootstrap (default="${eval_seed}").
    --results_columns  # Label columns of the results table (default="${results_columns}").
    --results_title    # Title of RESULTS.md (default="${results_title}").
    --results_notes    # Notes (Markdown file) appended to the first test set's RESULTS.md (default="${results_notes}").
    --results_file     # Results file of the first test set (default="${results_file}").

    # Data sets
    --train_set      # Name of the training set (required).
    --valid_set      # Name of the validation set (required).
    --test_sets      # Names of the evaluation sets (required).

Stages:
    1: data preparation (local/data.sh)
    2: validation of the data dirs
    3: audio dump for the trainer: 16 kHz wavs, speech_shape, multi-hot labels
    4: transcript embeddings of the training set (text encoder, once)
    5: training of every system (ESPnet trainer; best epoch by validation mAP)
    6: scoring: ${chunk_seconds} s chunks, ${stride_seconds} s stride, max over chunks
    7: evaluation: per-class AP, mAP, 95% bootstrap CIs, per language (with --detection_class: AUC, P/R/F1)
    8: ${results_file}: the paper's Table 2 layout, per-language table, Figure 2 style plot
    9: export of every system as a Hugging Face WhisperForAudioClassification (safetensors)
EOF_HELP
)

log "$0 $*"
run_args=$(printf '%q ' "$0" "$@")
. ./path.sh
. ./cmd.sh
. utils/parse_options.sh

if [ $# -ne 0 ]; then
    log "${help_message}"
    log "Error: No positional arguments are required."
    exit 2
fi
[ -z "${train_set}" ] && { log "${help_message}"; log "Error: --train_set is required"; exit 2; }
[ -z "${valid_set}" ] && { log "${help_message}"; log "Error: --valid_set is required"; exit 2; }
[ -z "${test_sets}" ] && { log "${help_message}"; log "Error: --test_sets is required"; exit 2; }

eval_sets=$(echo "${valid_set} ${test_sets}" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
rawdir=${dumpdir}/raw
textdir=${dumpdir}/text_emb

# The system names of --systems, and the training options of one of them.
system_names() { for s in ${systems}; do echo "${s%%:*}"; done; }
system_opts() {
    local s
    for s in ${systems}; do
        if [ "${s%%:*}" = "$1" ]; then
            [ "${s}" = "${s#*:}" ] && return 0
            echo "${s#*:}" | tr ',' '\n' | awk -F= 'NF { printf "--%s %s ", $1, substr($0, length($1) + 2) }'
            return 0
        fi
    done
    log "Error: unknown system '$1'"; exit 2
}
# Whether any system injects text (alpha < 1), so stage 4 is needed.
needs_text() { echo "${systems}" | tr ' ' '\n' | grep -Eq 'alpha=0(\.[0-9]*)?(,|$)'; }
system_names | grep -qx "${baseline}" || { log "Error: --baseline '${baseline}' is not in --systems"; exit 2; }

# Records the command that made an experiment directory in it.
save_command() {
    mkdir -p "$1"
    echo "# $(date '+%Y-%m-%dT%H:%M:%S') in $(pwd)" >> "$1/run.sh.log"
    echo "${run_args}" >> "$1/run.sh.log"
}

if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ]; then
    log "Stage 1: Data preparation: local/data.sh ${local_data_opts}"
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts}
fi

if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ]; then
    log "Stage 2: Validating data dirs: ${train_set} ${eval_sets}"
    for dset in ${train_set} ${eval_sets}; do
        opts="--require utt2labels"
        [ "${dset}" = "${train_set}" ] && needs_text && opts+=" text"   # transcripts for text injection
        ${check_audio} && opts+=" --check_audio"
        # shellcheck disable=SC2086
        ${python} -m voxrecipes.bin.validate_data_dir "data/${dset}" ${opts}
    done
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ]; then
    log "Stage 3: Dumping 16 kHz audio, speech_shape and label vectors into ${rawdir}"
    for dset in ${train_set} ${eval_sets}; do
        if [ -f "${rawdir}/${dset}/dump_info.json" ] && [ "${rawdir}/${dset}/dump_info.json" -nt "data/${dset}/utt2spk" ]; then
            log "  ${dset}: ${rawdir}/${dset} is complete and newer than data/${dset}, skipped"
            continue
        fi
        _min=0
        [ "${dset}" = "${train_set}" ] && _min=${min_train_seconds}
        save_command "${rawdir}"
        # shellcheck disable=SC2086
        ${train_cmd} "${rawdir}/log/dump_${dset}.log" \
            ${python} -m voxrecipes.bin.dump_audio --no_progress \
                --data "data/${dset}" --out_dir "${rawdir}/${dset}" \
                --classes ${classes} --min_seconds "${_min}"
        log "  ${dset}: $(wc -l < "${rawdir}/${dset}/wav.scp") utterances -> ${rawdir}/${dset}"
    done
fi

if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ]; then
    if needs_text; then
        # The dispatcher runs its arguments as one shell command line: the prefix ("query: ") is quoted for it.
        log "Stage 4: Transcript embeddings of ${train_set} with ${text_encoder} into ${textdir}"
        save_command "${textdir}"
        ${cuda_cmd} --gpu "${ngpu}" "${textdir}/log/extract_text_embeddings_${train_set}.log" \
            ${python} -m voxrecipes.bin.extract_text_embeddings --no_progress \
                --data "${rawdir}/${train_set}" --model "${text_encoder}" --prefix "$(printf %q "${text_prefix}")" \
                --batch_size "${text_emb_batch_size}" --out_prefix "${textdir}/${train_set}/text_emb"
    else
        log "Stage 4: skipped: no system injects text (every alpha is 1)"
    fi
fi

if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ]; then
    for system in $(system_names); do
        _dir=${expdir}/train_${system}
        if [ -e "${_dir}/${checkpoint}" ]; then
            log "Stage 5: ${system}: ${_dir}/${checkpoint} exists, skipped (remove it to train again)"
            continue
        fi
        _opts=$(system_opts "${system}")
        log "Stage 5: Training ${system} (${train_config} ${_opts}${train_args}): ${_dir}"
        save_command "${_dir}"
        _data=(--train_data_path_and_name_and_type "${rawdir}/${train_set}/wav.scp,speech,sound"
               --train_data_path_and_name_and_type "${rawdir}/${train_set}/labels,labels,text_float"
               --train_shape_file "${rawdir}/${train_set}/speech_shape"
               --valid_data_path_and_name_and_type "${rawdir}/${valid_set}/wav.scp,speech,sound"
               --valid_data_path_and_name_and_type "${rawdir}/${valid_set}/labels,labels,text_float"
               --valid_shape_file "${rawdir}/${valid_set}/speech_shape")
        if [ -f "${textdir}/${train_set}/text_emb.scp" ]; then
            _data+=(--train_data_path_and_name_and_type "${textdir}/${train_set}/text_emb.scp,text_emb,kaldi_ark")
        fi
        _dist=""
        [ "${ngpu}" -gt 1 ] && _dist="--multiprocessing_distributed true"
        # shellcheck disable=SC2086
        ${cuda_cmd} --gpu "${ngpu}" --num_threads "${train_threads}" "${_dir}/train.log" \
            ${python} -m voxrecipes.bin.train_toxicity \
                --config "${train_config}" --output_dir "${_dir}" --ngpu "${ngpu}" ${_dist} --resume true \
                --classes ${classes} --ap_classes ${ap_classes} "${_data[@]}" ${_opts} ${train_args}
        # The optimiser and the effective global batch (batch_size x accum_grad, and what each GPU gets).
        log "  ${system}: $(grep -m1 -o 'optimizer: .*' "${_dir}/train.log" || echo 'no optimizer line in the log')"
    done
fi

if [ ${stage} -le 6 ] && [ ${stop_stage} -ge 6 ]; then
    _device=cpu
    [ "${ngpu}" -gt 0 ] && _device=cuda
    for system in $(system_names); do
        _dir=${expdir}/train_${system}
        for dset in ${eval_sets}; do
            log "Stage 6: Scoring ${dset} with ${system} (${chunk_seconds} s chunks, ${stride_seconds} s stride)"
            ${cuda_cmd} --gpu "$(( ngpu > 0 ? 1 : 0 ))" --num_threads "${train_threads}" "${_dir}/decode_${dset}/score.log" \
                ${python} -m voxrecipes.bin.score_toxicity --no_progress \
                    --model_dir "${_dir}" --checkpoint "${checkpoint}" --data "data/${dset}" \
                    --chunk_seconds "${chunk_seconds}" --stride_seconds "${stride_seconds}" \
                    --batch_size "${score_batch_size}" --device "${_device}" \
                    --out "${_dir}/decode_${dset}/scores.txt"
        done
    done
fi

if [ ${stage} -le 7 ] && [ ${stop_stage} -ge 7 ]; then
    log "Stage 7: Evaluation of ${eval_sets}"
    for system in $(system_names); do
        for dset in ${eval_sets}; do   # the valid set first: its tuned detection threshold serves the others
            _ddir=${expdir}/train_${system}/decode_${dset}
            _det=""
            if [ -n "${detection_class}" ]; then
                _det="--detection_class ${detection_class}"
                [ "${dset}" != "${valid_set}" ] && _det+=" --threshold_from ${expdir}/train_${system}/decode_${valid_set}/eval"
            fi
            # shellcheck disable=SC2086
            ${python} -m voxrecipes.bin.evaluate_toxicity \
                --scores "${_ddir}/scores.txt" --data "data/${dset}" --ap_classes ${ap_classes} \
                --num_bootstrap "${num_bootstrap}" --seed "${eval_seed}" --set_name "${dset}" ${_det} \
                --out_dir "${_ddir}/eval" > "${_ddir}/evaluate.log" 2>&1 \
                || { cat "${_ddir}/evaluate.log" >&2; exit 1; }
        done
    done
fi

if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 8 ]; then
    IFS=';' read -r -a _fields <<< "${results_columns}"
    _base=$(${python} -m voxrecipes.bin.describe_toxicity_system --model_dir "${expdir}/train_${baseline}" \
                --fields "${_fields[@]}" 2>/dev/null)
    for dset in ${test_sets}; do
        _out=${results_file}
        [ "${dset}" != "$(echo ${test_sets} | cut -d' ' -f1)" ] && _out=${results_file%.md}_${dset}.md
        log "Stage 8: ${_out} (${dset})"
        _specs=()
        if [ -n "${results_notes}" ] && [ "${_out}" = "${results_file}" ]; then
            _specs+=(--notes "${results_notes}")
        fi
        for system in $(system_names); do
            _label=$(${python} -m voxrecipes.bin.describe_toxicity_system --model_dir "${expdir}/train_${system}" \
                        --fields "${_fields[@]}" 2>/dev/null)
            _specs+=(--system "${_label}=${expdir}/train_${system}/decode_${dset}/eval")
        done
        ${python} -m voxrecipes.bin.make_toxicity_results --title "${results_title} (${dset})" \
            --label_columns "${results_columns}" "${_specs[@]}" --baseline "${_base}" \
            --out "${_out}" --plot "${_out%.md}_per_language.png" > "${expdir}/make_results_${dset}.log" 2>&1 \
            || { cat "${expdir}/make_results_${dset}.log" >&2; exit 1; }
    done
fi

if [ ${stage} -le 9 ] && [ ${stop_stage} -ge 9 ]; then
    for system in $(system_names); do
        _dir=${expdir}/train_${system}
        log "Stage 9: Exporting ${system} to ${_dir}/hf (transformers WhisperForAudioClassification)"
        ${python} -m voxrecipes.bin.export_toxicity_hf --model_dir "${_dir}" --checkpoint "${checkpoint}" \
            --out_dir "${_dir}/hf" > "${_dir}/export_hf.log" 2>&1 || { cat "${_dir}/export_hf.log" >&2; exit 1; }
    done
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 8 ]; then
    echo
    cat "${results_file}"
fi
