# Environment of every recipe: the project's venv, utils/ on PATH, C locale.
# Sourced by run.sh and the template scripts; recipes link to this file.
MAIN_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)   # resolved through the link
export MAIN_ROOT
export PATH="${MAIN_ROOT}/tools/venv/bin:${MAIN_ROOT}/utils:${PATH}"
export PYTHONPATH="${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
export LC_ALL=C                 # Kaldi's sort order for every table
export PYTHONUNBUFFERED=1       # logs appear as they are written
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # one thread per job; jobs run in parallel
export HF_HUB_OFFLINE=1         # models come from local paths only
export TRANSFORMERS_OFFLINE=1
if [ ! -x "${MAIN_ROOT}/tools/venv/bin/python" ]; then
    echo "path.sh: ${MAIN_ROOT}/tools/venv is missing: run 'make -C ${MAIN_ROOT} setup' first" >&2
    return 1 2>/dev/null || exit 1
fi
