#!/usr/bin/env bash
# Kaldi-style wrapper; see python -m voxrecipes.bin.fix_data_dir --help
exec python -m voxrecipes.bin.fix_data_dir "$@"
