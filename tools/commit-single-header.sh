#!/usr/bin/env bash
# Stages single_include/sluice.hpp generated from the COMMITTED include/ (HEAD),
# not from the working tree, so unfinished edits elsewhere never leak into it.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
tmp=$(mktemp -d)
git archive HEAD include tools/amalgamate.py | tar -x -C "$tmp"
mkdir -p "$tmp/single_include"
python3 "$tmp/tools/amalgamate.py"
blob=$(git hash-object -w "$tmp/single_include/sluice.hpp")
git update-index --add --cacheinfo 100644 "$blob" single_include/sluice.hpp
rm -rf "$tmp"
