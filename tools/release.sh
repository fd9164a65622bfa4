#!/usr/bin/env bash
# Writes OUTDIR/sluice-<version>.tar.gz (OUTDIR defaults to build/): the files
# add_subdirectory and FetchContent need and nothing else, under sluice-<version>/.
#
#   bash tools/release.sh [OUTDIR]
#
# No tests/, bench/, examples/, fuzz/, tools/ or docs/: the top-level CMakeLists.txt
# skips the folders it does not find. cmake/toolchain-mingw-w64.cmake stays out too:
# it cross-builds this repository's test suite and calls tools/wine-run.sh.
#
# Reproducible: the same files give the same bytes (names sorted, owner 0, one mtime
# taken from SOURCE_DATE_EPOCH or the last commit, gzip without a name or timestamp).
# Prints the tarball's path and SHA-256, the URL_HASH a FetchContent user writes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
outdir="${1:-$root/build}"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"

version="$(sed -n 's/^#define SLUICE_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/sluice/version.hpp")"
if [ -z "$version" ]; then
  echo "release.sh: no SLUICE_VERSION_STRING in include/sluice/version.hpp" >&2
  exit 1
fi
name="sluice-$version"

files=(CMakeLists.txt LICENSE README.md CHANGELOG.md
       cmake/sluiceConfig.cmake.in cmake/sluice.pc.in single_include/sluice.hpp)
while IFS= read -r f; do files+=("$f"); done < <(cd "$root" && find include -type f \( -name '*.hpp' -o -name '*.ipp' \) | LC_ALL=C sort)
for f in "${files[@]}"; do
  if [ ! -f "$root/$f" ]; then
    echo "release.sh: $f is missing" >&2
    exit 1
  fi
done

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH="$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)"
fi

# Staged copy, so the archive holds sluice-<version>/... whatever the checkout is called.
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
(cd "$root" && cp --parents "${files[@]}" "$stage/$name/")
# Permissions do not depend on the checkout's umask.
find "$stage/$name" -type d -exec chmod 755 {} +
find "$stage/$name" -type f -exec chmod 644 {} +

tarball="$outdir/$name.tar.gz"
tar -C "$stage" --sort=name --format=gnu --owner=0 --group=0 --numeric-owner \
    --mtime="@$SOURCE_DATE_EPOCH" -cf - "$name" | gzip -9 -n > "$tarball.tmp"
mv "$tarball.tmp" "$tarball"
echo "$tarball"
sha256sum "$tarball" | cut -d' ' -f1
