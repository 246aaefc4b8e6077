#!/usr/bin/env bash
# Keep the lines of a table whose key is in an id list (Kaldi's filter_scp.pl).
exec python -m voxrecipes.bin.filter_scp --verbose 0 "$@"
