#!/bin/sh
# Makes the ABI baseline of the library in BUILD (a meson build directory
# of a debugoptimized build): tests/abi/<soname>.abi (abidw, Debian's
# abigail-tools) and, for a new major version, its header as programs of
# that soname were first built against (tests/abi/berth-<major>.0).
# Run it when a release starts a soname, never to silence test_abi: a
# baseline made anew after an incompatible change under the same soname
# hides the break it found.
#   tests/abi/update-baseline.sh BUILD
set -eu
build=${1:?usage: tests/abi/update-baseline.sh BUILD}
root=$(cd "$(dirname "$0")/../.." && pwd)
lib="$build/libberth.so"
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
major=${soname##*.}
abidw --headers-dir "$root/include" --headers-dir "$build/include" --no-corpus-path \
  --drop-undefined-syms "$lib" > "$root/tests/abi/$soname.abi"
hdr="$root/tests/abi/berth-$major.0"
if [ ! -d "$hdr" ]; then
  mkdir -p "$hdr"
  cp "$root/include/berth.h" "$build/include/berth_version.h" "$hdr/"
fi
echo "tests/abi/$soname.abi and $hdr"
