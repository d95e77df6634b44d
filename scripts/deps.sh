#!/bin/sh
# The one list of what berth needs from Debian 12, by purpose. The README,
# .ci/run and the GitHub workflows all install through this script; the
# test `deps-lists` (tests/lint/deps.py) fails when one of them installs a
# list of its own.
#
#   scripts/deps.sh GROUP...          installs what is missing (as root)
#   scripts/deps.sh --print GROUP...  prints the packages, one a line
#   scripts/deps.sh --check GROUP...  names what is missing; exit 1 if any
#
# Groups:
#   build    compile the library, berth-serve, the examples and the tests
#            (liburing-dev: HTTP_BACKEND=uring, backends/uring.c, and
#            bench-floor-uring, bench/run.py's io_uring floor; libsqlite3-dev:
#            examples/todo_api.c, which is skipped without it)
#   test     run every test of `meson test` (kTLS boots user-mode Linux,
#            nginx and python3-yaml: docs/DEPLOY.md's configs, test_deploy.py;
#            libssl-dev: bench-load's TLS, the TLS load of test_upgrade.py;
#            the socket-activation test needs systemd-socket-activate,
#            test_metrics scrapes berth with prometheus and promtool)
#   runtime  the shared libraries berth-serve links, and nothing to build
#            with (deploy/Dockerfile's last stage)
#   docs     the API reference (-Ddocs=enabled)
#   bench    bench/run.py beside nginx (and bench-load's TLS, the
#            compression measure)
#   clang    the clang build of CI
#   ci       what a bare container needs for a checkout (git, certificates)
#   node     Node and its `ws`, for test_ws.py's Node client (tests/meson.build
#            points it at Debian's node-ws); part of `test`
#   kqueue   libkqueue (kqueue emulated over epoll) and the tests' clients,
#            for the Linux build on the kqueue poller (ci.yml's Ubuntu job:
#            Ubuntu has libkqueue-dev, Debian 12 does not)
#   macos    on macOS: Homebrew's formulae and Python's h2 and websockets
#            (pip) to build and run the tests that apply there
#   freebsd  on FreeBSD: its packages for the same
# The macos and freebsd groups install with brew, pip and pkg on those
# systems; the others with apt-get.
set -eu

group() {
  case $1 in
    build) echo gcc libc6-dev binutils meson ninja-build pkg-config libuv1-dev libjansson-dev \
             libwolfssl-dev libdeflate-dev zlib1g-dev libnghttp2-dev liburing-dev libsqlite3-dev ;;
    test) echo python3 curl openssl strace user-mode-linux kmod iproute2 systemd nginx-light python3-yaml \
             python3-websockets python3-brotli python3-h2 wrk nodejs node-ws abigail-tools prometheus \
             haproxy libssl-dev ;;
    runtime) echo libjansson4 libuv1 libwolfssl35 libdeflate0 zlib1g libnghttp2-14 liburing2 ;;
    docs) echo doxygen ;;
    bench) echo nginx-light wrk python3 python3-matplotlib util-linux libssl-dev \
             libbrotli-dev nghttp2-client ;;
    clang) echo clang lld ;;
    node) echo nodejs node-ws ;;
    ci) echo git ca-certificates ;;
    # with the tests' clients, not all of `test` (Ubuntu names them alike)
    kqueue) echo libkqueue-dev python3 python3-h2 python3-websockets curl openssl ;;
    # pip:NAME from PyPI, into the python3 first on PATH (meson's)
    macos) echo meson ninja pkg-config libuv wolfssl libdeflate zlib jansson nghttp2 curl openssl@3 \
             python pip:h2 pip:websockets ;;
    # py:NAME is the package of Python's NAME for the default python3 (py311-NAME...)
    freebsd) echo meson ninja pkgconf libuv wolfssl libdeflate jansson libnghttp2 nghttp2 curl \
               python3 py:h2 py:websockets ;;
    *) echo "deps.sh: unknown group '$1' (build, test, runtime, docs, bench, clang, ci, node, kqueue, macos, freebsd)" >&2
       return 1 ;;
  esac
}

mode=install
case ${1:-} in
  --print) mode=print; shift ;;
  --check) mode=check; shift ;;
esac
[ $# -gt 0 ] || { sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }

pkgs=""
for g in "$@"; do
  list=$(group "$g") || exit 2
  pkgs="$pkgs $list"
done
pkgs=$(printf '%s\n' $pkgs | sort -u)

if [ "$mode" = print ]; then
  [ -n "$pkgs" ] && printf '%s\n' $pkgs
  exit 0
fi

# macOS and FreeBSD: their own package managers (each installs only what
# is missing, and says so)
case $(uname -s) in
Darwin)
  [ "$mode" = install ] || { echo "deps.sh: --check is for Debian (dpkg)" >&2; exit 2; }
  native=$(printf '%s\n' "$pkgs" | grep -v '^pip:' || true)
  pip=$(printf '%s\n' "$pkgs" | sed -n 's/^pip://p')
  # shellcheck disable=SC2086
  [ -z "$native" ] || brew install $native
  # shellcheck disable=SC2086
  [ -z "$pip" ] || python3 -m pip install --break-system-packages $pip
  exit 0 ;;
FreeBSD)
  [ "$mode" = install ] || { echo "deps.sh: --check is for Debian (dpkg)" >&2; exit 2; }
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  native=$(printf '%s\n' "$pkgs" | grep -v '^py:' || true)
  # shellcheck disable=SC2086
  [ -z "$native" ] || $sudo pkg install -y $native
  if printf '%s\n' "$pkgs" | grep -q '^py:'; then
    py=py$(python3 -c 'import sys; print("%d%d" % sys.version_info[:2])')
    pys=$(printf '%s\n' "$pkgs" | sed -n "s/^py:/$py-/p")
    # shellcheck disable=SC2086
    $sudo pkg install -y $pys
  fi
  exit 0 ;;
esac

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done

if [ "$mode" = check ]; then
  if [ -n "$missing" ]; then
    echo "missing:$missing"
    exit 1
  fi
  exit 0
fi

if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "deps.sh: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing
fi

