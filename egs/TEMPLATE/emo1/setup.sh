#!/usr/bin/env bash
# Creates a new recipe directory that shares the template's stages.
#
#   egs/TEMPLATE/emo1/setup.sh egs/<corpus>/emo1
#
# The new directory gets symlinks to the template scripts, path.sh, cmd.sh, db.sh
# and utils/, a copy of the template's conf/, a run.sh to edit and a
# local/data.sh skeleton that must write Kaldi data dirs under data/.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = --help ] || [ "$1" = -h ]; then
    echo "Usage: $0 <new-recipe-dir>   (e.g. $0 egs/my_corpus/emo1)" >&2
    [ $# -eq 1 ] && exit 0 || exit 1
fi
target=$1
template=$(cd "$(dirname "$0")" && pwd)
if [ -e "${target}" ]; then
    echo "$0: ${target} already exists; choose a new directory" >&2
    exit 1
fi
mkdir -p "${target}/local"
target_abs=$(cd "${target}" && pwd)
# Relative links keep the recipe working wherever the repository is cloned.
rel=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "${template}" "${target_abs}")
root_rel=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "${template}/../../.." "${target_abs}")
for f in emo.sh path.sh cmd.sh db.sh; do
    ln -s "${rel}/${f}" "${target}/${f}"
done
ln -s "${root_rel}/utils" "${target}/utils"
cp -r "${template}/conf" "${target}/conf"

cat > "${target}/run.sh" << 'EOF_RUN'
#!/usr/bin/env bash
# Set bash to 'strict' mode.
set -euo pipefail

train_set=train
valid_set=development
test_sets="development"

./emo.sh \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" "$@"
EOF_RUN
cat > "${target}/local/data.sh" << 'EOF_DATA'
#!/usr/bin/env bash
# Corpus-specific data preparation: write Kaldi data dirs under data/<set>/
# (wav.scp, utt2spk, spk2utt, utt2category, optional text, utt2attrs, segments).
# See voxrecipes/corpora/ for preparers to call, and db.sh for corpus paths.
set -euo pipefail
. ./path.sh
. ./db.sh
echo "local/data.sh: write the data preparation of this corpus" >&2
exit 1
EOF_DATA
chmod +x "${target}/run.sh" "${target}/local/data.sh"
echo "Created ${target}: edit run.sh, local/data.sh and conf/, then run ./run.sh"
