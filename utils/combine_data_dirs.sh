#!/usr/bin/env bash
# Kaldi-style wrapper; see python -m voxrecipes.bin.combine_data_dirs --help
exec python -m voxrecipes.bin.combine_data_dirs "$@"
