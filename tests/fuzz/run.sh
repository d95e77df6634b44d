#!/usr/bin/env bash
# Runs one libFuzzer target for a while and reports what it did:
#
#   tests/fuzz/run.sh TARGET SECONDS [libFuzzer options...]
#
# TARGET: engine, head, chunked, chunk-ext, query, router, proxy, tls, ws, multipart, h2 (any
# fuzz-TARGET that tests/fuzz/meson.build builds). The run starts from the
# target's seed corpus (corpus/ for engine, corpus-TARGET/ otherwise) with
# its dictionary, under nice, ASan and UBSan (build-fuzz/, set up if
# missing); new inputs go to $FUZZ_WORK/TARGET (default
# /tmp/berth-fuzz/TARGET), findings to $FUZZ_WORK/TARGET-crash-*. At the end
# it prints the executions, executions per second, libFuzzer's cov: and ft:,
# and the line coverage of the parser's source files reached by the seed
# corpus and the new inputs (tests/fuzz/coverage.sh). FUZZ_NO_COV=1 skips
# the coverage report.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: tests/fuzz/run.sh TARGET SECONDS [libFuzzer options]}
seconds=${2:?usage: tests/fuzz/run.sh TARGET SECONDS [libFuzzer options]}
shift 2

case $target in
  engine)    corpus=tests/fuzz/corpus;         dict=tests/fuzz/http.dict; files="core/conn.c core/parse.c core/chunked.c core/framing.c core/serialize.c core/outq.c core/conn_stream.c core/stream.c"; max_len=8192 ;;
  head)      corpus=tests/fuzz/corpus-head;    dict=tests/fuzz/head.dict; files="core/parse.c core/framing.c core/request.c"; max_len=8192 ;;
  chunked)   corpus=tests/fuzz/corpus-chunked; dict=tests/fuzz/chunked.dict; files="core/chunked.c"; max_len=8192 ;;
  chunk-ext) corpus=tests/fuzz/corpus-chunk-ext; dict=tests/fuzz/chunk-ext.dict; files="core/chunked.c"; max_len=4201 ;;
  query)     corpus=tests/fuzz/corpus-query;   dict=tests/fuzz/query.dict; files="core/util.c core/request.c"; max_len=4096 ;;
  router)    corpus=tests/fuzz/corpus-router;  dict=tests/fuzz/router.dict; files="core/router.c"; max_len=4096 ;;
  proxy)     corpus=tests/fuzz/corpus-proxy;   dict=tests/fuzz/proxy.dict; files="core/proxy.c"; max_len=4096 ;;
  tls)       corpus=tests/fuzz/corpus-tls;     dict=tests/fuzz/tls.dict; files="core/tls.c"; max_len=8192 ;;
  ws)        corpus=tests/fuzz/corpus-ws;      dict=tests/fuzz/ws.dict; files="core/ws_frame.c"; max_len=8192 ;;
  multipart) corpus=tests/fuzz/corpus-multipart; dict=tests/fuzz/multipart.dict; files="core/multipart.c"; max_len=8192 ;;
  h2)        corpus=tests/fuzz/corpus-h2;      dict=tests/fuzz/h2.dict; files="core/h2_conn.c core/h2_stream.c"; max_len=8192 ;;
  *) if [ -f "tests/fuzz/fuzz-$target.c" ]; then
       corpus=tests/fuzz/corpus-$target; dict=tests/fuzz/$target.dict; files=""; max_len=8192
     else
       echo "run.sh: no target '$target'" >&2; exit 2
     fi ;;
esac

if [ ! -d build-fuzz ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build-fuzz "tests/fuzz/fuzz-$target" >/dev/null

work=${FUZZ_WORK:-/tmp/berth-fuzz}
mkdir -p "$work/$target"
log="$work/$target.log"
dict_opt=()
[ -f "$dict" ] && dict_opt=("-dict=$dict")
echo "fuzz-$target: ${seconds}s from $corpus (+ $work/$target), log $log"
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
  nice -n 19 "build-fuzz/tests/fuzz/fuzz-$target" "${dict_opt[@]}" -max_len=$max_len \
  -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/$target-crash-" \
  "$@" "$work/$target" "$corpus" >"$log" 2>&1
rc=$?
set -e
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
cov=$(echo "$last" | grep -o 'cov: [0-9]*' || true)
ft=$(echo "$last" | grep -o 'ft: [0-9]*' || true)
corp=$(echo "$last" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' || true)
echo "fuzz-$target: exit $rc, ${execs:-?} executions, ${rate:-?} exec/s, $cov, $ft, $corp"
if [ $rc -ne 0 ]; then
  echo "fuzz-$target: a finding (see $log and $work/$target-crash-*):" >&2
  grep -E 'ERROR|invariant|runtime error|fuzz-[a-z-]+:' "$log" | head -5 >&2
fi

if [ -z "${FUZZ_NO_COV:-}" ]; then
  FUZZ_WORK=$work tests/fuzz/coverage.sh "$target" || true
fi
exit $rc
