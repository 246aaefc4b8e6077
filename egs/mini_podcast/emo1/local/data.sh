#!/usr/bin/env bash
# Corpus-specific data preparation: write Kaldi data dirs under data/<set>/
# (wav.scp, utt2spk, spk2utt, utt2category, optional text, utt2attrs, segments).
# See voxrecipes/corpora/ for preparers to call, and db.sh for corpus paths.
set -euo pipefail
. ./path.sh
. ./db.sh
echo "local/data.sh: write the data preparation of this corpus" >&2
exit 1
