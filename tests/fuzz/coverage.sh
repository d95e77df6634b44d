#!/usr/bin/env bash
# Line coverage of a fuzz target's parser sources, reached by its seed
# corpus and the inputs a run added ($FUZZ_WORK/TARGET, default
# /tmp/berth-fuzz/TARGET): the corpus replayed by a clang coverage build
# (build-fuzz-cov/, set up if missing), reported by llvm-cov.
#
#   tests/fuzz/coverage.sh TARGET
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: tests/fuzz/coverage.sh TARGET}
case $target in
  engine)    corpus=tests/fuzz/corpus;           files="core/conn.c core/parse.c core/chunked.c core/framing.c core/serialize.c core/outq.c core/conn_stream.c core/stream.c" ;;
  head)      corpus=tests/fuzz/corpus-head;      files="core/parse.c core/framing.c core/request.c" ;;
  chunked)   corpus=tests/fuzz/corpus-chunked;   files="core/chunked.c" ;;
  chunk-ext) corpus=tests/fuzz/corpus-chunk-ext; files="core/chunked.c" ;;
  query)     corpus=tests/fuzz/corpus-query;     files="core/util.c core/request.c" ;;
  router)    corpus=tests/fuzz/corpus-router;    files="core/router.c" ;;
  proxy)     corpus=tests/fuzz/corpus-proxy;     files="core/proxy.c" ;;
  tls)       corpus=tests/fuzz/corpus-tls;       files="core/tls.c" ;;
  ws)        corpus=tests/fuzz/corpus-ws;        files="core/ws_frame.c" ;;
  multipart) corpus=tests/fuzz/corpus-multipart; files="core/multipart.c" ;;
  *)         corpus=tests/fuzz/corpus-$target;   files="" ;;
esac
work=${FUZZ_WORK:-/tmp/berth-fuzz}
replay=fuzz-replay-$target
[ "$target" = engine ] && replay=fuzz-replay
if [ ! -d build-fuzz-cov ]; then
  CC=clang meson setup build-fuzz-cov -Dc_args='-fprofile-instr-generate -fcoverage-mapping' \
    -Dc_link_args='-fprofile-instr-generate' -Dbuildtype=debug >/dev/null
fi
ninja -C build-fuzz-cov "tests/fuzz/$replay" >/dev/null
rm -f "$work/$target"-*.profraw
mkdir -p "$work/$target"
# the replayer takes directories; one process per directory keeps it short
for d in "$corpus" "$work/$target"; do
  LLVM_PROFILE_FILE="$work/$target-%p.profraw" "build-fuzz-cov/tests/fuzz/$replay" "$d" >/dev/null 2>&1 || true
done
llvm-profdata merge -sparse "$work/$target"-*.profraw -o "$work/$target.profdata"
echo "line coverage of the seed corpus and the new inputs:"
if [ -n "$files" ]; then
  llvm-cov report "build-fuzz-cov/tests/fuzz/$replay" -instr-profile="$work/$target.profdata" \
    $(for f in $files; do echo "$PWD/$f"; done) | sed -n '/^core/p;/^TOTAL/p' |
    awk '{printf "  %-20s lines %s/%s covered (%s), branches %s (of %s)\n", $1, $8-$9, $8, $10, $13, $11}'
fi
