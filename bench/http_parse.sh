#!/bin/sh
# Builds the sluice HTTP parser benchmark and the http-parser peer with -O2 (no
# -march) and runs both on the same request file. Needs libhttp-parser-dev.
# usage: bench/http_parse.sh [FILE] [SECONDS] [OUTDIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
file=${1:-$here/data/browser_requests.txt}
secs=${2:-3}
out=${3:-${TMPDIR:-/tmp}/sluice-http-bench}
mkdir -p "$out"
CXX=${CXX:-c++}
CC=${CC:-cc}
$CXX -std=c++17 -O2 -DNDEBUG -I"$root/include" "$here/http_parse_bench.cpp" -o "$out/http_parse_bench"
$CC -O2 -DNDEBUG "$here/http_parser_peer_bench.c" -o "$out/http_parser_peer_bench" -lhttp_parser

s=$("$out/http_parse_bench" "$file" "$secs")
p=$("$out/http_parser_peer_bench" "$file" "$secs")
echo "$s"
echo "$p"
get() { echo "$1" | awk -v k="$2" '$1==k {print $2}'; }
smb=$(get "$s" "MB/s:"); srq=$(get "$s" "requests/s:")
pmb=$(get "$p" "MB/s:"); prq=$(get "$p" "requests/s:")
echo
echo "| parser | MB/s | requests/s |"
echo "|---|---:|---:|"
echo "| sluice::http::parser | $smb | $srq |"
echo "| http-parser (Debian) | $pmb | $prq |"
echo "| ratio | $(awk -v a="$smb" -v b="$pmb" 'BEGIN{printf "%.2fx", a/b}') | $(awk -v a="$srq" -v b="$prq" 'BEGIN{printf "%.2fx", a/b}') |"
