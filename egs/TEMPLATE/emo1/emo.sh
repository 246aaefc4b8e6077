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
ngpu=0                # GPUs for model training (0: CPU); inference uses one when > 0.
python=python3        # Python interpreter (the venv's, put on PATH by path.sh).
expdir=exp            # Directory of the experiments.
dumpdir=dump          # Directory of dumped audio, features and embeddings.

# Data preparation related
local_data_opts=""    # Options passed to local/data.sh.
check_audio=false     # Open every audio file while validating the data dirs (slow on big corpora).

# Embedding related
embedding_type=w2vbert           # w2vbert: LoRA Wav2Vec2-BERT emotion model; stats: log-mel statistics.
fbank_conf=conf/fbank.yaml       # Log-mel options of the stats embeddings (extract_fbank --config).
train_classes="A S H U F D C N O X"  # Classes of the emotion model (8 emotions, Other, No agreement).
min_train_seconds=0              # Training utterances shorter than this are left out of the dump.
category_config=conf/train_emotion_category.yaml  # Category model (train_emotion --config).
train_args=""                    # Extra train_emotion options for every model (e.g. "--max_epoch 2").
noise_dir=""                     # Point-source noises (e.g. ${MUSAN}/noise); empty: no noise augmentation.
rir_dir=""                       # Room impulse responses (e.g. ${RIRS_NOISES}/simulated_rirs); empty: no reverb.
infer_batch_size=16              # Utterances per forward pass when extracting embeddings.

# Attribute model related
attributes=true                  # Train the attribute model (w2vbert only) and report CCCs.
attribute_config=conf/train_emotion_attributes.yaml  # First pass: 3-4 s crops.
attribute_finetune_config=conf/train_emotion_attributes_finetune.yaml  # Then 6-8 s crops, balanced batches.
attribute_bn_reestimate=false    # Re-estimate the attribute models' embedding BatchNorm statistics on the training
                                 # set's whole utterances before export (the running averages are collected over
                                 # augmented crops; paper: not done).

# Backend related
backends="lda_lr"                # Backends on the embeddings: lda_lr (LDA + logistic regression), plda.
lda_lr_conf=conf/lda_lr.yaml     # LDA + logistic regression options (train_lda_lr --config).
plda_conf=conf/plda.yaml         # PLDA options (train_plda --config).
priors="train uniform"           # lda_lr scoring priors: 'train' keeps the training prior, 'uniform' corrects it.
embedding_name=""                # Name of the embeddings in RESULTS.md (default: from embedding_type).

# Text side related (ASR transcripts and text classifiers)
text_models=""                   # Text classifiers, each with conf/train_text_<model>_{category,attributes}.yaml
                                 # (e.g. "llama roberta"); empty: speech only.
text_conf_dir=conf               # Directory of those train_text_<model>_<target>.yaml configs.
asr_model=openai/whisper-large-v3  # ASR model: transformers: model id, local directory or package:<name>;
                                 # faster_whisper: CTranslate2 Whisper directory or package:<name>.
asr_backend=transformers         # ASR backend: transformers (pipeline) or faster_whisper (CTranslate2, int8 on CPU).
asr_all_sets=false               # true: transcribe every set, even those with a text file (as in the paper).
asr_batch_size=8                 # Utterances per ASR forward pass.
asr_opts=""                      # Extra transcribe options (e.g. "--language en", "--dtype bfloat16",
                                 # "--compute_type int8_float32"); utt2lang, when a set has it, wins per utterance.
text_batch_size=32               # Transcripts per forward pass when scoring with a text classifier.

# Fusion related
fusion_systems=""                # Category systems to fuse, <exp subdir>/<posteriors tag> (e.g.
                                 # "backend_lda_lr/uniform text_llama_category/uniform"); empty: the speech
                                 # LDA/LR with the balanced prior and the first text model with it.
fusion_methods="interpolation logreg"  # Category fusion: interpolation (grid) and/or logreg, tuned on valid_set.
attribute_fusion_systems=""      # Attribute systems to fuse (exp subdirs); empty: the finetuned speech model
                                 # and the first text model.
fusion_step=0.05                 # Interpolation grid step (paper: 0.05).

# Evaluation related
classes="A S H U F D C N"        # Classes scored by macro-F1 (O and X are not among them).
num_bootstrap=1000               # Bootstrap resamples for the 95% confidence intervals.
eval_seed=0                      # Seed of the bootstrap.
results_title="Emotion recognition"  # Title of RESULTS.md.
results_notes=""                 # Markdown file of hand-written notes appended to RESULTS.md (e.g. local/RESULTS_notes.md).
submission_system=""             # Category system behind the Test3 CSV (<exp subdir>[/<tag>]); empty: the
                                 # logreg fusion when text models are trained, else backend_lda_lr/uniform.
attribute_submission_system=""   # Attribute system behind the Test3 CSV (exp subdir); empty: the attribute
                                 # fusion when text models are trained, else the finetuned speech model.

# Data sets
train_set=       # Name of the training set.
valid_set=       # Name of the development set (model selection, and the tuning set).
test_sets=       # Names of the evaluation sets (labelled).
submission_sets= # Names of unlabelled sets that get a challenge CSV (e.g. test3).

help_message=$(cat << EOF_HELP
Usage: $0 --train_set <train_set_name> --valid_set <valid_set_name> --test_sets "<test_set_names>"

Options:
    # General configuration
    --stage          # Processes starts from the specified stage (default="${stage}").
    --stop_stage     # Processes is stopped at the specified stage (default="${stop_stage}").
    --nj             # Number of parallel jobs (default="${nj}").
    --ngpu           # GPUs for training (default="${ngpu}").
    --python         # Python interpreter (default="${python}").
    --expdir         # Directory of the experiments (default="${expdir}").
    --dumpdir        # Directory of dumps, features and embeddings (default="${dumpdir}").

    # Data preparation related
    --local_data_opts # Options passed to local/data.sh (default="${local_data_opts}").
    --check_audio     # Open every audio file while validating (default="${check_audio}").

    # Embedding related
    --embedding_type    # w2vbert or stats (default="${embedding_type}").
    --fbank_conf        # Log-mel options, stats embeddings (default="${fbank_conf}").
    --train_classes     # Classes of the emotion model (default="${train_classes}").
    --min_train_seconds # Drop shorter training utterances when dumping (default="${min_train_seconds}").
    --category_config   # Category model config (default="${category_config}").
    --train_args        # Extra train_emotion options (default="${train_args}").
    --noise_dir         # Noise folder for augmentation (default="${noise_dir}").
    --rir_dir           # RIR folder for augmentation (default="${rir_dir}").
    --infer_batch_size  # Utterances per forward pass (default="${infer_batch_size}").

    # Attribute model related
    --attributes                 # Train the attribute model (default="${attributes}").
    --attribute_bn_reestimate    # Re-estimate the attribute models' BatchNorm statistics on whole training
                                 # utterances before export (default="${attribute_bn_reestimate}").
    --attribute_config           # First attribute pass (default="${attribute_config}").
    --attribute_finetune_config  # Balanced finetuning pass (default="${attribute_finetune_config}").

    # Backend related
    --backends       # Backends: lda_lr and/or plda (default="${backends}").
    --lda_lr_conf    # LDA + logistic regression options (default="${lda_lr_conf}").
    --plda_conf      # PLDA options (default="${plda_conf}").
    --priors         # lda_lr priors to score with, 'train' and/or 'uniform' (default="${priors}").
    --embedding_name # Name of the embeddings in RESULTS.md (default="${embedding_name}").

    # Text side related
    --text_models     # Text classifiers, conf/train_text_<model>_<task>.yaml (default="${text_models}").
    --text_conf_dir   # Directory of the text classifier configs (default="${text_conf_dir}").
    --asr_model       # ASR model for sets without transcripts (default="${asr_model}").
    --asr_backend     # ASR backend: transformers or faster_whisper (default="${asr_backend}").
    --asr_all_sets    # Transcribe every set, not only those without text (default="${asr_all_sets}").
    --asr_batch_size  # Utterances per ASR forward pass (default="${asr_batch_size}").
    --asr_opts        # Extra transcribe options (default="${asr_opts}").
    --text_batch_size # Transcripts per forward pass (default="${text_batch_size}").

    # Fusion related
    --fusion_systems           # Category systems to fuse (default="${fusion_systems}").
    --fusion_methods           # interpolation and/or logreg (default="${fusion_methods}").
    --attribute_fusion_systems # Attribute systems to fuse (default="${attribute_fusion_systems}").
    --fusion_step              # Interpolation grid step (default="${fusion_step}").

    # Evaluation related
    --classes           # Classes scored by macro-F1 (default="${classes}").
    --num_bootstrap     # Bootstrap resamples for the CIs (default="${num_bootstrap}").
    --eval_seed         # Seed of the bootstrap (default="${eval_seed}").
    --results_title     # Title of RESULTS.md (default="${results_title}").
    --results_notes     # Notes (Markdown file) appended to RESULTS.md (default="${results_notes}").
    --submission_system # Category system of the challenge CSV (default="${submission_system}").
    --attribute_submission_system # Attribute system of the challenge CSV (default="${attribute_submission_system}").

    # Data sets
    --train_set       # Name of the training set (required).
    --valid_set       # Name of the development set (required).
    --test_sets       # Names of the evaluation sets (required).
    --submission_sets # Unlabelled sets that get a challenge CSV (default="${submission_sets}").

Stages:
    1: data preparation (local/data.sh)
    2: validation of the data dirs and utt2dur
    3: w2vbert: 16 kHz audio dump with class indices and attributes; stats: log-mel features
    4: w2vbert: noise and RIR lists for the on-the-fly augmentation
    5: w2vbert: category model training (LoRA Wav2Vec2-BERT, ESPnet trainer) and export
    6: embeddings (w2vbert: first dense layer after pooling; stats: log-mel mean and std)
    7: backend training: standardisation + LDA + logistic regression, and/or PLDA
    8: scoring: posteriors (lda_lr: with each prior of --priors; plda: flat prior)
    9: w2vbert: attribute model (3-4 s crops), then finetuning on balanced batches (6-8 s crops)
   10: w2vbert: attribute predictions (valence, arousal, dominance)
   11: text: transcripts of every set (the data dir's text, or ASR where it has none / --asr_all_sets;
       ASR also writes Whisper segments and, against the data dir's text, the WER)
   12: text: classifier training per --text_models (transformers Trainer + peft LoRA), categories and attributes
   13: text: posteriors (with the training prior and the balanced prior fix) and attribute predictions
   14: fusion: interpolation and logistic regression tuned on the valid set, applied to every set
   15: evaluation: macro-F1, per-class F1, confusion matrices; CCCs; bootstrap CIs
   16: RESULTS.md (the paper's Table 3 and Table 2 layouts, fusion weights and verdicts)
   17: challenge CSVs of the submission sets
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
case ${embedding_type} in
    w2vbert) ;;
    stats) attributes=false ;;
    *) log "Error: --embedding_type must be w2vbert or stats, got '${embedding_type}'"; exit 2 ;;
esac

eval_sets=$(echo "${valid_set} ${test_sets}" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
infer_sets="${eval_sets} ${submission_sets}"
all_sets="${train_set} ${infer_sets}"
featdir=${dumpdir}/fbank
rawdir=${dumpdir}/raw
augdir=${dumpdir}/augment
embdir=${dumpdir}/${embedding_type}_embedding
catdir=${expdir}/emotion_category
attr_system=emotion_attributes        # exp subdirs of the speech attribute models
attrft_system=emotion_attributes_ft
attrdir=${expdir}/${attr_system}
attrftdir=${expdir}/${attrft_system}
_device=cpu
[ "${ngpu}" -gt 0 ] && _device=cuda

# The posteriors each backend writes: posteriors_<tag>.txt, one tag per scoring variant.
score_tags() {
    case $1 in
        lda_lr) echo "${priors}" ;;
        plda) echo "flat" ;;
        *) log "Error: unknown backend '$1' (lda_lr or plda)"; exit 2 ;;
    esac
}
for backend in ${backends}; do score_tags "${backend}" > /dev/null; done
textdir=${dumpdir}/text
first_text_model=$(echo "${text_models}" | awk '{print $1}')
for model in ${text_models}; do
    for target in category $(${attributes} && echo attributes); do
        [ -f "${text_conf_dir}/train_text_${model}_${target}.yaml" ] || {
            log "Error: --text_models ${model}: ${text_conf_dir}/train_text_${model}_${target}.yaml does not exist"; exit 2; }
    done
done
# The default systems behind fusion and the challenge CSVs: the first backend with its last
# scoring variant (LDA/LR with the balanced prior), the first text model with the prior fix.
_speech_backend=$(echo "${backends}" | awk '{print $1}')
_speech_system=backend_${_speech_backend}/$(score_tags "${_speech_backend}" | awk '{print $NF}')
if [ -n "${text_models}" ]; then
    [ -z "${fusion_systems}" ] && fusion_systems="${_speech_system} text_${first_text_model}_category/uniform"
    ${attributes} && [ -z "${attribute_fusion_systems}" ] && \
        attribute_fusion_systems="${attrft_system} text_${first_text_model}_attributes"
fi
_fusion_methods=""
[ -n "${fusion_systems}" ] && _fusion_methods=${fusion_methods}
if [ -z "${submission_system}" ]; then
    submission_system=${_speech_system}
    [[ " ${_fusion_methods} " == *" interpolation "* ]] && submission_system=fusion_interpolation
    [[ " ${_fusion_methods} " == *" logreg "* ]] && submission_system=fusion_logreg
fi
if [ -z "${attribute_submission_system}" ]; then
    attribute_submission_system=${attrft_system}
    [ -n "${attribute_fusion_systems}" ] && attribute_submission_system=fusion_attributes
fi

# The system registry (voxrecipes.registry): each stage that makes a system records it in
# exp/<dir>/system.json; evaluation, fusion, the CSVs and RESULTS.md find it there, and RESULTS.md
# names it from the registry's Python table.
# list_systems [options]: lines "id kind set output eval_dir" (voxrecipes.bin.list_systems).
list_systems() { ${python} -m voxrecipes.bin.list_systems --exp_dir "${expdir}" "$@"; }
# register_system <dir> <kind> <role> <type> <position> <output pattern with {set}> [options...]
register_system() {
    local dir=$1 kind=$2 role=$3 type=$4 position=$5 pattern=$6
    shift 6
    mkdir -p "${expdir}/${dir}/log"
    # shellcheck disable=SC2086
    ${python} -m voxrecipes.bin.register_system --exp_dir "${expdir}" --dir "${dir}" --kind "${kind}" \
        --role "${role}" --type "${type}" --position "${position}" --output_pattern "${pattern}" \
        --sets ${infer_sets} --embedding_type "${embedding_type}" --embedding_name "${embedding_name}" "$@" \
        >> "${expdir}/${dir}/log/register.log" 2>&1 || { cat "${expdir}/${dir}/log/register.log"; exit 1; }
}

# fuse_posteriors tuned on the valid set and applied to every inference set, with the systems'
# files from the registry: <out dir> <label file> "<system ids>" [options...]
fuse() {
    local dir=$1 labels=$2 systems=$3 dset tune=() apply=() files
    shift 3
    # shellcheck disable=SC2086
    files=$(list_systems --ids ${systems} --sets "${valid_set}" --field output)
    mapfile -t tune <<< "${files}"
    for dset in ${infer_sets}; do
        # shellcheck disable=SC2086
        files=$(list_systems --ids ${systems} --sets "${dset}" --field output)
        apply+=("${dset}=$(echo "${files}" | paste -sd,)")
    done
    save_command "${dir}"
    # shellcheck disable=SC2086
    ${python} -m voxrecipes.bin.fuse_posteriors "$@" --step "${fusion_step}" \
        --tune "${tune[@]}" --system_names ${systems} --tune_labels "data/${valid_set}/${labels}" \
        --apply "${apply[@]}" --out_dir "${dir}" > "${dir}/fuse.log" 2>&1 || { cat "${dir}/fuse.log"; exit 1; }
}

# Records the command that made an experiment directory in it.
save_command() {
    mkdir -p "$1"
    echo "# $(date '+%Y-%m-%dT%H:%M:%S') in $(pwd)" >> "$1/run.sh.log"
    echo "${run_args}" >> "$1/run.sh.log"
}

# train_emotion on the dumped training and validation sets: <config> <output dir> <target> [options...]
train_emotion() {
    local config=$1 dir=$2 target=$3
    shift 3
    local type=text_int
    [ "${target}" = attributes ] && type=text_float
    local aug=()
    [ -f "${augdir}/noise.csv" ] && aug+=(--noise_csv "${augdir}/noise.csv")
    [ -f "${augdir}/rir.csv" ] && aug+=(--rir_csv "${augdir}/rir.csv")
    local dist=""
    [ "${ngpu}" -gt 1 ] && dist="--multiprocessing_distributed true"
    save_command "${dir}"
    # shellcheck disable=SC2086
    ${cuda_cmd} --gpu "${ngpu}" "${dir}/train.log" \
        ${python} -m voxrecipes.bin.train_emotion \
            --config "${config}" --output_dir "${dir}" --ngpu "${ngpu}" ${dist} --resume true \
            --classes ${train_classes} --f1_classes ${classes} \
            --train_data_path_and_name_and_type "${rawdir}/${train_set}/wav.scp,speech,sound" \
            --train_data_path_and_name_and_type "${rawdir}/${train_set}/${target},${target},${type}" \
            --train_shape_file "${rawdir}/${train_set}/speech_shape" \
            --valid_data_path_and_name_and_type "${rawdir}/${valid_set}/wav.scp,speech,sound" \
            --valid_data_path_and_name_and_type "${rawdir}/${valid_set}/${target},${target},${type}" \
            --valid_shape_file "${rawdir}/${valid_set}/speech_shape" \
            "${aug[@]}" "$@" ${train_args}
}

# sha256 of a data dir's data files (content, not mtimes) and of the strings given: what a dump depends on.
data_stamp() {
    local dir=$1 f
    shift
    {
        for f in wav.scp segments spk2utt utt2spk text utt2lang utt2dur utt2labels utt2category utt2attrs; do
            if [ -f "${dir}/${f}" ]; then echo "${f} $(sha256sum < "${dir}/${f}")"; fi
        done
        printf '%s\n' "$@"
    } | sha256sum | cut -d' ' -f1
}

# sha256 of what an emotion model's training depends on: the config's content, the stage's options and
# --train_args, the content of the files among them (e.g. the --init_param checkpoint), the classes,
# the dumps of the training and validation sets and the augmentation lists: <config> [options...]
train_stamp() {
    local config=$1 a f
    shift
    {
        echo "config $(sha256sum < "${config}")"
        echo "options $* ${train_args}"
        echo "classes ${train_classes} / ${classes}"
        for a in "$@"; do
            if [ -f "${a}" ]; then echo "${a} $(sha256sum < "${a}")"; fi
        done
        for f in "${rawdir}/${train_set}/.dump_stamp" "${rawdir}/${valid_set}/.dump_stamp" \
                 "${augdir}/noise.csv" "${augdir}/rir.csv"; do
            if [ -f "${f}" ]; then echo "${f} $(sha256sum < "${f}")"; fi
        done
    } | sha256sum | cut -d' ' -f1
}

# Trains an emotion model and exports its best checkpoint to <dir>/export (adapters + head), unless
# <dir>/train_stamp says that this export was made with the same config, options and data (train_stamp);
# a directory trained otherwise (or before stamps existed) is removed and trained again from scratch.
# <stage> <config> <dir> <target> <best checkpoint> [train_emotion options...]
train_and_export() {
    local stage_no=$1 config=$2 dir=$3 target=$4 best=$5
    shift 5
    local stamp export_opts=()
    if [ "${target}" = attributes ] && ${attribute_bn_reestimate}; then
        export_opts=(--bn_data "${rawdir}/${train_set}")
    fi
    stamp=$(train_stamp "${config}" "$@" "${export_opts[@]}")
    if [ "$(cat "${dir}/train_stamp" 2>/dev/null)" = "${stamp}" ]; then
        if [ -f "${dir}/export/config.json" ]; then
            log "Stage ${stage_no}: ${dir}/export exists, skipped (made with this config, options and data)"
            return 0
        fi
    elif [ -e "${dir}" ]; then
        log "Stage ${stage_no}: ${dir} was trained with another config, options or data: training again"
        rm -rf "${dir}"
    fi
    mkdir -p "${dir}"
    echo "${stamp}" > "${dir}/train_stamp.tmp" && mv "${dir}/train_stamp.tmp" "${dir}/train_stamp"
    log "Stage ${stage_no}: Training the ${target} model (${config} ${train_args}): ${dir}"
    train_emotion "${config}" "${dir}" "${target}" --model_task "${target}" "$@"
    ${python} -m voxrecipes.bin.export_emotion_model --exp_dir "${dir}" --checkpoint "${best}" \
        --out_dir "${dir}/export" "${export_opts[@]}" > "${dir}/export.log" 2>&1 || { cat "${dir}/export.log"; exit 1; }
    log "  exported ${dir}/${best} -> ${dir}/export"
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

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ] && [ "${embedding_type}" = w2vbert ]; then
    log "Stage 3: Dumping 16 kHz audio, speech_shape, class indices and attributes into ${rawdir}"
    for dset in ${all_sets}; do
        _min=0
        [ "${dset}" = "${train_set}" ] && _min=${min_train_seconds}
        # Freshness from content (the data files and the options), not mtimes.
        _stamp=$(data_stamp "data/${dset}" "classes ${train_classes}" "min_seconds ${_min}")
        if [ -f "${rawdir}/${dset}/dump_info.json" ] \
                && [ "$(cat "${rawdir}/${dset}/.dump_stamp" 2>/dev/null)" = "${_stamp}" ]; then
            log "  ${dset}: ${rawdir}/${dset} was dumped from the same data/${dset} content and options, skipped"
            continue
        fi
        save_command "${rawdir}"
        # shellcheck disable=SC2086
        ${train_cmd} "${rawdir}/log/dump_${dset}.log" \
            ${python} -m voxrecipes.bin.dump_audio --no_progress \
                --data "data/${dset}" --out_dir "${rawdir}/${dset}" \
                --category_classes ${train_classes} --min_seconds "${_min}"
        echo "${_stamp}" > "${rawdir}/${dset}/.dump_stamp.tmp"
        mv "${rawdir}/${dset}/.dump_stamp.tmp" "${rawdir}/${dset}/.dump_stamp"
        log "  ${dset}: $(wc -l < "${rawdir}/${dset}/wav.scp") utterances -> ${rawdir}/${dset}"
    done
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ] && [ "${embedding_type}" = stats ]; then
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

if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ] && [ "${embedding_type}" = w2vbert ]; then
    if [ -z "${noise_dir}" ] && [ -z "${rir_dir}" ]; then
        log "Stage 4: no --noise_dir or --rir_dir: training without noise and reverberation"
        rm -f "${augdir}/noise.csv" "${augdir}/rir.csv"
    else
        log "Stage 4: Augmentation lists from noise_dir='${noise_dir}' rir_dir='${rir_dir}' into ${augdir}"
        _opts=()
        [ -n "${noise_dir}" ] && _opts+=(--noise_dir "${noise_dir}")
        [ -n "${rir_dir}" ] && _opts+=(--rir_dir "${rir_dir}")
        ${python} -m voxrecipes.bin.make_augment_csvs "${_opts[@]}" --out_dir "${augdir}"
    fi
fi

if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ] && [ "${embedding_type}" = w2vbert ]; then
    train_and_export 5 "${category_config}" "${catdir}" category valid.macro_f1.best.pth
fi

if [ ${stage} -le 6 ] && [ ${stop_stage} -ge 6 ]; then
    log "Stage 6: ${embedding_type} embeddings into ${embdir}"
    if [ "${embedding_type}" = w2vbert ]; then
        # One job for all sets: the model is loaded once.
        _in=(); _out=()
        for dset in ${all_sets}; do
            _in+=("${rawdir}/${dset}"); _out+=("${embdir}/${dset}")
            save_command "${embdir}/${dset}"
        done
        ${cuda_cmd} --gpu "$(( ngpu > 0 ? 1 : 0 ))" "${embdir}/log/extract_emotion_embeddings.log" \
            ${python} -m voxrecipes.bin.extract_emotion_embeddings --no_progress \
                --model_dir "${catdir}/export" --device "${_device}" --batch_size "${infer_batch_size}" \
                --data "${_in[@]}" --out_dir "${_out[@]}"
    else
        for dset in ${all_sets}; do
            _dir=${embdir}/${dset}
            save_command "${_dir}"
            ${train_cmd} "${_dir}/log/extract_stats_embeddings.log" \
                ${python} -m voxrecipes.bin.extract_stats_embeddings \
                    --feats_scp "${featdir}/${dset}/feats.scp" \
                    --out_prefix "${_dir}/embedding"
        done
    fi
fi

if [ ${stage} -le 7 ] && [ ${stop_stage} -ge 7 ]; then
    for backend in ${backends}; do
        _dir=${expdir}/backend_${backend}
        _conf=${lda_lr_conf}
        [ "${backend}" = plda ] && _conf=${plda_conf}
        log "Stage 7: Backend training: ${backend} (${_conf}) on ${train_set}: ${_dir}"
        save_command "${_dir}"
        ${train_cmd} "${_dir}/log/train_${backend}.log" \
            ${python} -m "voxrecipes.bin.train_${backend}" \
                --config "${_conf}" \
                --embedding_scp "${embdir}/${train_set}/embedding.scp" \
                --labels "data/${train_set}/utt2category" \
                --out_dir "${_dir}/model"
    done
fi

if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 8 ]; then
    log "Stage 8: Scoring ${infer_sets} with: ${backends}"
    for backend in ${backends}; do
        _bdir=${expdir}/backend_${backend}
        for dset in ${infer_sets}; do
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
    _pos=0
    for backend in ${backends}; do
        for tag in $(score_tags "${backend}"); do
            _pos=$((_pos + 1))
            register_system "backend_${backend}" category speech "${backend}" "${_pos}" \
                "{set}/posteriors_${tag}.txt" --variant "${tag}"
        done
    done
fi

if [ ${stage} -le 9 ] && [ ${stop_stage} -ge 9 ] && ${attributes}; then
    train_and_export 9 "${attribute_config}" "${attrdir}" attributes valid.ccc.best.pth
    # Then finetuned from it on balanced batches of longer crops.
    train_and_export 9 "${attribute_finetune_config}" "${attrftdir}" attributes valid.ccc.best.pth \
        --init_param "${attrdir}/valid.ccc.best.pth"
fi

if [ ${stage} -le 10 ] && [ ${stop_stage} -ge 10 ] && ${attributes}; then
    log "Stage 10: Attribute predictions of ${infer_sets}"
    # The two models predict side by side (one thread each).
    _pids=()
    for _dir in ${attrdir} ${attrftdir}; do
        _in=(); _out=()
        for dset in ${infer_sets}; do
            _in+=("${rawdir}/${dset}"); _out+=("${_dir}/${dset}")
        done
        ${cuda_cmd} --gpu "$(( ngpu > 0 ? 1 : 0 ))" "${_dir}/log/predict_attributes.log" \
            ${python} -m voxrecipes.bin.extract_emotion_embeddings --no_progress --no_embeddings \
                --model_dir "${_dir}/export" --device "${_device}" --batch_size "${infer_batch_size}" \
                --data "${_in[@]}" --out_dir "${_out[@]}" &
        _pids+=($!)
    done
    for _pid in "${_pids[@]}"; do
        wait "${_pid}" || { log "Stage 10: prediction failed, see ${attrdir}/log and ${attrftdir}/log"; exit 1; }
    done
    register_system "${attr_system}" attributes speech emotion_attributes 1 "{set}/attributes.txt"
    register_system "${attrft_system}" attributes speech emotion_attributes_ft 2 "{set}/attributes.txt"
fi

if [ ${stage} -le 11 ] && [ ${stop_stage} -ge 11 ] && [ -n "${text_models}" ]; then
    log "Stage 11: Transcripts of ${all_sets} into ${textdir} (ASR: ${asr_model} with ${asr_backend}, all sets: ${asr_all_sets})"
    # <set>/asr_model names the ASR system behind an ASR transcript (backend, model, options), so
    # that a finished set is skipped only when the same system made it from the current wav.scp.
    # ASR writes <set>/text, <set>/segments.jsonl (Whisper segments: start, end, text) and, when
    # data/<set>/text holds the corpus transcripts, <set>/wer.json (the WER against them).
    # The sets go to one transcribe call: a set inside another (dev_bal in dev_filt) is not
    # decoded again, it takes the larger set's transcripts.
    _asr_system="${asr_backend} ${asr_model} ${asr_opts}"
    _in=(); _out=()
    for dset in ${all_sets}; do
        _dst=${textdir}/${dset}
        mkdir -p "${_dst}"
        if [ -f "data/${dset}/text" ] && ! ${asr_all_sets}; then
            cp "data/${dset}/text" "${_dst}/text.tmp" && mv "${_dst}/text.tmp" "${_dst}/text"
            rm -f "${_dst}/asr_model" "${_dst}/segments.jsonl" "${_dst}/wer.json"
            log "  ${dset}: data/${dset}/text (the corpus transcripts) -> ${_dst}/text"
        elif [ "${_dst}/text" -nt "data/${dset}/wav.scp" ] && [ "$(cat "${_dst}/asr_model" 2>/dev/null)" = "${_asr_system}" ]; then
            log "  ${dset}: ${_dst}/text was transcribed by ${_asr_system}, skipped"
        else
            _in+=("data/${dset}"); _out+=("${_dst}")
        fi
    done
    if [ ${#_in[@]} -gt 0 ]; then
        log "  transcribing ${_in[*]} with ${asr_model} (${asr_backend})"
        save_command "${textdir}"
        # shellcheck disable=SC2086
        ${cuda_cmd} --gpu "$(( ngpu > 0 ? 1 : 0 ))" "${textdir}/log/transcribe.log" \
            ${python} -m voxrecipes.bin.transcribe --no_progress --asr_backend "${asr_backend}" \
                --model "${asr_model}" --device "${_device}" --batch_size "${asr_batch_size}" ${asr_opts} \
                --data "${_in[@]}" --out_dir "${_out[@]}"
        for _dst in "${_out[@]}"; do echo "${_asr_system}" > "${_dst}/asr_model"; done
        grep -h "WER of" "${textdir}/log/transcribe.log" | sed 's/^.*INFO: /  /' || true
    fi
fi

if [ ${stage} -le 12 ] && [ ${stop_stage} -ge 12 ] && [ -n "${text_models}" ]; then
    # The category and attribute models of one text model train side by side (one thread each; at most
    # two jobs at once), then the next text model's.
    for model in ${text_models}; do
        _pids=(); _logs=()
        for target in category $(${attributes} && echo attributes); do
            _dir=${expdir}/text_${model}_${target}
            _conf=${text_conf_dir}/train_text_${model}_${target}.yaml
            _labels=utt2category
            [ "${target}" = attributes ] && _labels=utt2attrs
            if [ -d "${_dir}/model" ]; then
                log "Stage 12: ${_dir}/model exists, skipped (remove it to train again)"
                continue
            fi
            log "Stage 12: Training the text ${target} model ${model} (${_conf}): ${_dir}"
            save_command "${_dir}"
            ${cuda_cmd} --gpu "$(( ngpu > 0 ? 1 : 0 ))" "${_dir}/train.log" \
                ${python} -m voxrecipes.bin.train_text_classifier --no_progress \
                    --config "${_conf}" --device "${_device}" \
                    --train_text "${textdir}/${train_set}/text" --train_labels "data/${train_set}/${_labels}" \
                    --valid_text "${textdir}/${valid_set}/text" --valid_labels "data/${valid_set}/${_labels}" \
                    --out_dir "${_dir}" &
            _pids+=($!); _logs+=("${_dir}/train.log")
        done
        for _i in "${!_pids[@]}"; do
            wait "${_pids[${_i}]}" || { log "Stage 12: training failed, see ${_logs[${_i}]}"; exit 1; }
        done
    done
fi

if [ ${stage} -le 13 ] && [ ${stop_stage} -ge 13 ] && [ -n "${text_models}" ]; then
    log "Stage 13: Text posteriors and attribute predictions of ${infer_sets}"
    _pos=0
    for model in ${text_models}; do
        _pos=$((_pos + 1))
        for target in category $(${attributes} && echo attributes); do
            _dir=${expdir}/text_${model}_${target}
            _in=(); _out=()
            for dset in ${infer_sets}; do _in+=("${textdir}/${dset}/text"); _out+=("${_dir}/${dset}"); done
            ${cuda_cmd} --gpu "$(( ngpu > 0 ? 1 : 0 ))" "${_dir}/log/infer.log" \
                ${python} -m voxrecipes.bin.infer_text_classifier --no_progress \
                    --model_dir "${_dir}/model" --device "${_device}" --batch_size "${text_batch_size}" \
                    --text "${_in[@]}" --out_dir "${_out[@]}"
            if [ "${target}" = attributes ]; then
                register_system "text_${model}_${target}" attributes text text "${_pos}" "{set}/attributes.txt" \
                    --text_model "${model}"
                continue
            fi
            for dset in ${infer_sets}; do
                # posteriors_train: the model's own (training) prior; posteriors_uniform: the prior fix.
                mv "${_dir}/${dset}/posteriors.txt" "${_dir}/${dset}/posteriors_train.txt"
                ${python} -m voxrecipes.bin.apply_prior_fix \
                    --posteriors "${_dir}/${dset}/posteriors_train.txt" \
                    --train_prior_from "data/${train_set}/utt2category" \
                    --out "${_dir}/${dset}/posteriors_uniform.txt" > "${_dir}/${dset}/log_prior_fix.txt" 2>&1 \
                    || { cat "${_dir}/${dset}/log_prior_fix.txt"; exit 1; }
            done
            for tag in train uniform; do
                register_system "text_${model}_${target}" category text text "${_pos}" "{set}/posteriors_${tag}.txt" \
                    --variant "${tag}" --text_model "${model}"
            done
        done
    done
fi

if [ ${stage} -le 14 ] && [ ${stop_stage} -ge 14 ] && [ -n "${fusion_systems}${attribute_fusion_systems}" ]; then
    _pos=0
    for method in ${_fusion_methods}; do
        _pos=$((_pos + 1))
        log "Stage 14: ${method} fusion of ${fusion_systems}, tuned on ${valid_set}: ${expdir}/fusion_${method}"
        fuse "${expdir}/fusion_${method}" utt2category "${fusion_systems}" --method "${method}"
        # shellcheck disable=SC2086
        register_system "fusion_${method}" category fusion "${method}" "${_pos}" "{set}/posteriors.txt" \
            --fused_from ${fusion_systems} --weights weights.json
    done
    if [ -n "${attribute_fusion_systems}" ]; then
        log "Stage 14: per-attribute interpolation of ${attribute_fusion_systems}, tuned on ${valid_set}: ${expdir}/fusion_attributes"
        fuse "${expdir}/fusion_attributes" utt2attrs "${attribute_fusion_systems}" \
            --method interpolation --task attributes
        # shellcheck disable=SC2086
        register_system fusion_attributes attributes fusion interpolation 1 "{set}/attributes.txt" \
            --fused_from ${attribute_fusion_systems} --weights weights.json
    fi
fi

if [ ${stage} -le 15 ] && [ ${stop_stage} -ge 15 ]; then
    log "Stage 15: Evaluation of ${eval_sets}: every system registered under ${expdir}"
    # One process for every system and set (the imports once): category systems as evaluate_classification
    # scores them, attribute systems as evaluate_attributes does.
    # shellcheck disable=SC2086
    ${python} -m voxrecipes.bin.evaluate_systems \
        --exp_dir "${expdir}" \
        --sets ${eval_sets} \
        --data_root data \
        --classes ${classes} \
        --num_bootstrap "${num_bootstrap}" \
        --seed "${eval_seed}"
fi

if [ ${stage} -le 16 ] && [ ${stop_stage} -ge 16 ]; then
    log "Stage 16: RESULTS.md of the systems registered under ${expdir}"
    # Systems, names, prior pairs, fusion checks and weights come from the registry (exp/*/system.json).
    entries=(--exp_dir "${expdir}" --prior_set "${valid_set}")
    # The fusion and modality verdicts are given on the tuning set and Test1.
    _check_sets=$(echo "${valid_set} ${test_sets}" | tr ' ' '\n' | grep -x -E "${valid_set}|test1" | tr '\n' ' ' || true)
    # shellcheck disable=SC2086
    [ -n "${_check_sets}" ] && entries+=(--check_sets ${_check_sets})
    # The WER of each set's ASR transcripts (stage 11), when the text side ran ASR on it.
    for dset in ${all_sets}; do
        if [ -n "${text_models}" ] && [ -f "${textdir}/${dset}/asr_model" ] && [ -f "${textdir}/${dset}/wer.json" ]; then
            entries+=(--wer "${dset}=${textdir}/${dset}/wer.json")
        fi
    done
    [ -n "${results_notes}" ] && entries+=(--notes "${results_notes}")
    # shellcheck disable=SC2086
    ${python} -m voxrecipes.bin.make_emotion_results \
        --title "${results_title}" --sets ${eval_sets} "${entries[@]}" --out RESULTS.md > "${expdir}/make_results.log"
fi

if [ ${stage} -le 17 ] && [ ${stop_stage} -ge 17 ] && [ -n "${submission_sets}" ]; then
    log "Stage 17: Challenge CSVs of ${submission_sets} (categories: ${submission_system}; attributes: ${attribute_submission_system})"
    for dset in ${submission_sets}; do
        _out=${expdir}/submission/${dset}
        mkdir -p "${_out}"
        # shellcheck disable=SC2086
        ${python} -m voxrecipes.bin.write_submission --task category --classes ${classes} \
            --posteriors "$(list_systems --ids "${submission_system}" --sets "${dset}" --field output)" \
            --data "data/${dset}" --out "${_out}/categories.csv"
        if ${attributes}; then
            ${python} -m voxrecipes.bin.write_submission --task attributes \
                --posteriors "$(list_systems --ids "${attribute_submission_system}" --sets "${dset}" --field output)" \
                --data "data/${dset}" --out "${_out}/attributes.csv"
        fi
        log "  ${dset}: $(ls "${_out}"/*.csv | tr '\n' ' ')"
    done
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
if [ ${stage} -le 16 ] && [ ${stop_stage} -ge 16 ]; then
    # A short summary on the terminal: the categories' macro-F1 table and the attributes' average CCC
    # per set (the ID, System and "<set> Average" columns of the CCC table); the rest is in the file.
    echo
    awk -F'|' '
        /^## / { sec = ($0 ~ /^## Emotion categories: macro-F1/) ? 1 : ($0 ~ /^## Emotion attributes: CCC/) ? 2 : 0
                 if (sec == 1) print "Macro-F1 [95% CI]:"; if (sec == 2) print "Mean CCC:"; next }
        /^### / { sec = 0 }
        sec == 1 && /^\|/ { print }
        sec == 2 && /^\|/ {
            if (!ncols) { for (i = 2; i < NF; i++) if ($i ~ /^ (ID|System) $/ || $i ~ / Average $/) keep[++ncols] = i }
            line = "|"; for (k = 1; k <= ncols; k++) line = line $(keep[k]) "|"; print line
        }
        sec == 2 && !/^\|/ && ncols { sec = 0; print "" }' RESULTS.md
    echo "Every table, the confidence intervals and the plots: $(pwd)/RESULTS.md"
fi
