#!/usr/bin/env bash
# Runs a Windows program under wine64: the test emulator of the mingw-w64 cross build
# (cmake/toolchain-mingw-w64.cmake sets it as CMAKE_CROSSCOMPILING_EMULATOR).
#   bash tools/wine-run.sh [--prefix DIR] program.exe [args...]
#   bash tools/wine-run.sh [--prefix DIR] --init      creates the prefix, runs nothing
# The prefix (default: $WINEPREFIX, else ./wineprefix) is created on first use, quietly
# and without the Mono/Gecko installers, under a lock so parallel tests can share it.
# Wine prints no debug channel (WINEDEBUG=-all); the program's exit status is returned.
set -euo pipefail

prefix=${WINEPREFIX:-$PWD/wineprefix}
if [ "${1:-}" = --prefix ]; then
  prefix=$2
  shift 2
fi
mkdir -p "$(dirname "$prefix")"
prefix=$(cd "$(dirname "$prefix")" && pwd)/$(basename "$prefix")

wine=$(command -v wine64 || true)
[ -n "$wine" ] || wine=/usr/lib/wine/wine64
if [ ! -x "$wine" ]; then
  echo "wine-run: wine64 not found (apt-get install wine64)" >&2
  exit 127
fi

export WINEPREFIX=$prefix WINEARCH=win64 WINEDEBUG=-all WINELOADER=$wine
# Nothing here needs .NET or an HTML engine; their installers would try to download.
export WINEDLLOVERRIDES="mscoree=;mshtml=${WINEDLLOVERRIDES:+;$WINEDLLOVERRIDES}"

if [ ! -f "$prefix/.sluice-ready" ]; then
  (
    flock 9
    if [ ! -f "$prefix/.sluice-ready" ]; then
      "$wine" wineboot -i >/dev/null 2>&1
      # The registry is written when the wine server exits: wait for it, then mark ready.
      WINEPREFIX=$prefix wineserver -w
      touch "$prefix/.sluice-ready"
    fi
  ) 9>"$prefix.lock"
fi

if [ "${1:-}" = --init ]; then
  exit 0
fi
exec "$wine" "$@"
