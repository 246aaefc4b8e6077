#!/usr/bin/env bash
# Kaldi-style wrapper; see python -m voxrecipes.bin.subset_data_dir --help
exec python -m voxrecipes.bin.subset_data_dir "$@"
