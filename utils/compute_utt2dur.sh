#!/usr/bin/env bash
# Kaldi-style wrapper; see python -m voxrecipes.bin.compute_utt2dur --help
exec python -m voxrecipes.bin.compute_utt2dur "$@"
