#!/usr/bin/env bash
# Utterance-level emotion classification: the shared numbered stages.
#
# Recipes call this script from their run.sh with corpus-specific options; every
# stage is a `python -m voxrecipes.bin.<name>` entry point, so the code of a stage
# is found from its log line. Resume anywhere with --stage N --stop_stage M.

# Set bash to 'strict' mode: stop on errors, unset variables and failing pipes.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
min() {
    local a b; a=$1
    for b in "$@"; do [ "${b}" -le "${a}" ] && a="${b}"; done
    echo "${a}"
}
SECONDS=0

# General configuration
stage=1               # Processes starts from the specified stage.
stop_stage=10000      # Processes is stopped at the specified stage.
nj=4                  # Number of parallel jobs for feature and embedding extraction.
python=python3        # Python interpreter (the venv's, put on PATH by path.sh).
expdir=exp            # Directory of the experiments.
dumpdir=dump          # Directory of features and embeddings.

# Data preparation related
local_data_opts=""    # Options passed to local/data.sh.
check_audio=false     # Open every audio file while validating the data dirs (slow on big corpora).

# Feature extraction related
fbank_conf=conf/fbank.yaml       # Log-mel options (extract_fbank --config).

# Backend related
backends="lda_lr"                # Backends on the embeddings: lda_lr (LDA + logistic regression), plda.
lda_lr_conf=conf/lda_lr.yaml     # LDA + logistic regression options (train_lda_lr --config).
plda_conf=conf/plda.yaml         # PLDA options (train_plda --config).
priors="train uniform"           # lda_lr scoring priors: 'train' keeps the training prior, 'uniform' corrects it.
embedding_name="log-mel stats"   # Name of the embeddings in RESULTS.md.

# Evaluation related
classes="A S H U F D C N"        # Classes scored by macro-F1 (O and X are not among them).
num_bootstrap=1000               # Bootstrap resamples for the 95% confidence intervals.
eval_seed=0                      # Seed of the bootstrap.
results_title="Emotion recognition"  # Title of RESULTS.md.

# Data sets
train_set=       # Name of the training set.
valid_set=       # Name of the development set.
test_sets=       # Names of the evaluation sets (labelled).

help_message=$(cat << EOF_HELP
Usage: $0 --train_set <train_set_name> --valid_set <valid_set_name> --test_sets "<test_set_names>"

Options:
    # General configuration
    --stage          # Processes starts from the specified stage (default="${stage}").
    --stop_stage     # Processes is stopped at the specified stage (default="${stop_stage}").
    --nj             # Number of parallel jobs (default="${nj}").
    --python         # Python interpreter (default="${python}").
    --expdir         # Directory of the experiments (default="${expdir}").
    --dumpdir        # Directory of features and embeddings (default="${dumpdir}").

    # Data preparation related
    --local_data_opts # Options passed to local/data.sh (default="${local_data_opts}").
    --check_audio     # Open every audio file while validating (default="${check_audio}").

    # Feature extraction related
    --fbank_conf     # Log-mel options (default="${fbank_conf}").

    # Backend related
    --backends       # Backends: lda_lr and/or plda (default="${backends}").
    --lda_lr_conf    # LDA + logistic regression options (default="${lda_lr_conf}").
    --plda_conf      # PLDA options (default="${plda_conf}").
    --priors         # lda_lr priors to score with, 'train' and/or 'uniform' (default="${priors}").
    --embedding_name # Name of the embeddings in RESULTS.md (default="${embedding_name}").

    # Evaluation related
    --classes        # Classes scored by macro-F1 (default="${classes}").
    --num_bootstrap  # Bootstrap resamples for the CIs (default="${num_bootstrap}").
    --eval_seed      # Seed of the bootstrap (default="${eval_seed}").
    --results_title  # Title of RESULTS.md (default="${results_title}").

    # Data sets
    --train_set      # Name of the training set (required).
    --valid_set      # Name of the development set (required).
    --test_sets      # Names of the evaluation sets (required).

Stages:
    1: data preparation (local/data.sh)
    2: validation of the data dirs and utt2dur
    3: log-mel features, ${nj} parallel jobs per set
    4: utterance statistics embeddings (mean and standard deviation of log-mel)
    5: backend training: standardisation + LDA + logistic regression, and/or PLDA
    6: scoring: posteriors (lda_lr: with each prior of --priors; plda: flat prior)
    7: evaluation: macro-F1, per-class F1, bootstrap CIs, confusion matrices
    8: RESULTS.md
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
all_sets="${train_set} ${eval_sets}"
featdir=${dumpdir}/fbank
embdir=${dumpdir}/stats_embedding

# The posteriors each backend writes: posteriors_<tag>.txt, one tag per scoring variant.
score_tags() {
    case $1 in
        lda_lr) echo "${priors}" ;;
        plda) echo "flat" ;;
        *) log "Error: unknown backend '$1' (lda_lr or plda)"; exit 2 ;;
    esac
}
# The system name of a backend and scoring variant in RESULTS.md.
system_name() {
    case $1/$2 in
        lda_lr/train) echo "${embedding_name} + LDA/LR" ;;
        lda_lr/uniform) echo "${embedding_name} + LDA/LR + balanced prior" ;;
        plda/flat) echo "${embedding_name} + PLDA" ;;
        *) echo "${embedding_name} + $1 ($2)" ;;
    esac
}
for backend in ${backends}; do score_tags "${backend}" > /dev/null; done

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
    log "Stage 2: Validating data dirs and computing utt2dur: ${all_sets}"
    for dset in ${all_sets}; do
        opts=""
        ${check_audio} && opts="--check_audio"
        # shellcheck disable=SC2086
        ${python} -m voxrecipes.bin.validate_data_dir ${opts} "data/${dset}"
        if [ ! -f "data/${dset}/utt2dur" ]; then
            ${python} -m voxrecipes.bin.compute_utt2dur "data/${dset}"
        fi
    done
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ]; then
    log "Stage 3: Log-mel features (${fbank_conf}) into ${featdir}"
    for dset in ${all_sets}; do
        _nj=$(min "${nj}" "$(wc -l < "data/${dset}/utt2spk")")
        _dir=${featdir}/${dset}
        save_command "${_dir}"
        ${python} -m voxrecipes.bin.split_data_dir "data/${dset}" "${_nj}"
        ${train_cmd} JOB=1:"${_nj}" "${_dir}/log/fbank.JOB.log" \
            ${python} -m voxrecipes.bin.extract_fbank \
                --config "${fbank_conf}" \
                --data "data/${dset}/split${_nj}/JOB" \
                --out_prefix "${_dir}/raw_fbank.JOB"
        for n in $(seq "${_nj}"); do cat "${_dir}/raw_fbank.${n}.scp"; done | sort > "${_dir}/feats.scp.tmp"
        mv "${_dir}/feats.scp.tmp" "${_dir}/feats.scp"
        log "  ${dset}: $(wc -l < "${_dir}/feats.scp") utterances -> ${_dir}/feats.scp"
    done
fi

if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ]; then
    log "Stage 4: Statistics embeddings into ${embdir}"
    for dset in ${all_sets}; do
        _dir=${embdir}/${dset}
        save_command "${_dir}"
        ${train_cmd} "${_dir}/log/extract_stats_embeddings.log" \
            ${python} -m voxrecipes.bin.extract_stats_embeddings \
                --feats_scp "${featdir}/${dset}/feats.scp" \
                --out_prefix "${_dir}/embedding"
    done
fi

if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ]; then
    for backend in ${backends}; do
        _dir=${expdir}/backend_${backend}
        _conf=${lda_lr_conf}
        [ "${backend}" = plda ] && _conf=${plda_conf}
        log "Stage 5: Backend training: ${backend} (${_conf}) on ${train_set}: ${_dir}"
        save_command "${_dir}"
        ${train_cmd} "${_dir}/log/train_${backend}.log" \
            ${python} -m "voxrecipes.bin.train_${backend}" \
                --config "${_conf}" \
                --embedding_scp "${embdir}/${train_set}/embedding.scp" \
                --labels "data/${train_set}/utt2category" \
                --out_dir "${_dir}/model"
    done
fi

if [ ${stage} -le 6 ] && [ ${stop_stage} -ge 6 ]; then
    log "Stage 6: Scoring ${eval_sets}with: ${backends}"
    for backend in ${backends}; do
        _bdir=${expdir}/backend_${backend}
        for dset in ${eval_sets}; do
            for tag in $(score_tags "${backend}"); do
                opts=""
                [ "${backend}" = lda_lr ] && opts="--prior ${tag}"
                # shellcheck disable=SC2086
                ${train_cmd} "${_bdir}/${dset}/log/score_${backend}_${tag}.log" \
                    ${python} -m "voxrecipes.bin.score_${backend}" ${opts} \
                        --model_dir "${_bdir}/model" \
                        --embedding_scp "${embdir}/${dset}/embedding.scp" \
                        --out "${_bdir}/${dset}/posteriors_${tag}.txt"
            done
        done
    done
fi

if [ ${stage} -le 7 ] && [ ${stop_stage} -ge 7 ]; then
    log "Stage 7: Evaluation of ${eval_sets}"
    for backend in ${backends}; do
        _bdir=${expdir}/backend_${backend}
        for dset in ${eval_sets}; do
            for tag in $(score_tags "${backend}"); do
                # shellcheck disable=SC2086
                ${python} -m voxrecipes.bin.evaluate_classification \
                    --posteriors "${_bdir}/${dset}/posteriors_${tag}.txt" \
                    --labels "data/${dset}/utt2category" \
                    --classes ${classes} \
                    --num_bootstrap "${num_bootstrap}" \
                    --seed "${eval_seed}" \
                    --set_name "${dset}" \
                    --out_dir "${_bdir}/${dset}/eval_${tag}"
            done
        done
    done
fi

if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 8 ]; then
    log "Stage 8: RESULTS.md"
    entries=()
    for backend in ${backends}; do
        for tag in $(score_tags "${backend}"); do
            name=$(system_name "${backend}" "${tag}")
            for dset in ${eval_sets}; do
                entries+=(--entry "${name}=${expdir}/backend_${backend}/${dset}/eval_${tag}/metrics.json")
            done
        done
    done
    ${python} -m voxrecipes.bin.make_results \
        --title "${results_title}" "${entries[@]}" --out RESULTS.md > "${expdir}/make_results.log"
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 8 ]; then
    echo
    cat RESULTS.md
fi
