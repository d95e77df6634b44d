#!/usr/bin/env bash
# Builds wolfSSL with its x86-64 assembly (AES-NI, AVX2 ChaCha/Poly1305/SHA,
# SP-math RSA/ECC) from Debian's own source package, the same version as the
# libwolfssl-dev this machine uses, with Debian's configure options kept.
#
#   scripts/build-wolfssl.sh [PREFIX]      (default: ./wolfssl-asm)
#   meson setup build-asm -Dwolfssl_prefix=PREFIX
#
# Why: Debian builds wolfSSL without AES-NI and without assembly math (a
# distro package must run on any x86-64), which makes TLS an order of
# magnitude slower than it needs to be. See docs/TLS-BUILD.md.
#
# Rerunning is quick: a stamp in PREFIX records what was built and how.
set -euo pipefail

say() { printf 'build-wolfssl: %s\n' "$*"; }
die() { printf 'build-wolfssl: error: %s\n' "$*" >&2; exit 1; }

# --- The CPU ------------------------------------------------------------
# The assembly is x86-64 only. wolfSSL checks CPUID at run time before using
# AES-NI/AVX2, but a library built for speed on a CPU without them would be
# the Debian build with extra steps: refuse instead of pretending.
[ "$(uname -m)" = x86_64 ] || die "this builds x86-64 assembly; this machine is $(uname -m)"
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
missing_flags=()
for f in aes pclmulqdq avx avx2 bmi2 adx; do
  [[ " ${flags#*:} " == *" $f "* ]] || missing_flags+=("$f")
done
[ ${#missing_flags[@]} -eq 0 ] ||
  die "this CPU lacks ${missing_flags[*]} (see /proc/cpuinfo); use Debian's libwolfssl-dev instead"

prefix=${1:-$PWD/wolfssl-asm}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)   # absolute: it ends up in wolfssl.pc and in rpaths
work=$prefix/src                # Debian's source package and the build tree
log=$work/build.log
stamp=$prefix/.berth-build-stamp

# --- The configure line -------------------------------------------------
# Debian's own options (debian/rules, override_dh_auto_configure), verbatim:
# --enable-distro turns on --enable-all, so the library has every feature and
# function Debian's has and code written against one links against the other.
debian_opts=(--enable-distro --enable-pkcs11 --disable-examples --disable-silent-rules)
# What berth relies on, named so that it stays on whatever --enable-distro
# becomes (all already on in the distro set; options.h is the same with or
# without them): TLS 1.3 with tickets, SNI, ALPN and supported-curves; ECC,
# X25519, ChaCha20-Poly1305; in-memory self-signed certificates (certgen,
# keygen); the OpenSSL-compatible API (wolfSSL_CTX_set_alpn_select_cb,
# wolfSSL_get_cipher_name...); ATOMIC_USER for the kTLS key getters
# (wolfSSL_GetClientWriteKey...), which Debian gets from --enable-all.
# Threads are on by default (no --enable-singlethreaded).
berth_opts=(--enable-tls13 --enable-session-ticket --enable-sni --enable-alpn
            --enable-supportedcurves --enable-ecc --enable-curve25519 --enable-chacha
            --enable-poly1305 --enable-certgen --enable-keygen --enable-opensslall
            --enable-opensslextra --enable-atomicuser)
# The point of this build.
asm_opts=(--enable-aesni --enable-intelasm --enable-sp --enable-sp-asm)
configure_opts=(--prefix="$prefix" --libdir="$prefix/lib"
                "${debian_opts[@]}" "${berth_opts[@]}" "${asm_opts[@]}")

# --- Packages -----------------------------------------------------------
# dpkg-dev unpacks the source package (and gives Debian's compiler flags),
# autoconf/automake/libtool generate ./configure (the Debian tarball has none).
tools=(dpkg-dev build-essential autoconf automake libtool pkgconf)
need=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
apt_updated=no
apt_update() {
  [ "$apt_updated" = yes ] && return
  [ "$(id -u)" = 0 ] || die "need root to run apt-get (missing: ${need[*]:-deb-src entry})"
  say "apt-get update"
  apt-get update -qq
  apt_updated=yes
}
if [ ${#need[@]} -gt 0 ]; then
  apt_update
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The version to build: the installed libwolfssl-dev's source version, else
# the one apt would install.
version=$(dpkg-query -W -f='${source:Version}' libwolfssl-dev 2>/dev/null || true)
if [ -z "$version" ]; then
  version=$(apt-cache policy libwolfssl-dev | awk '/Candidate:/ {print $2}')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    apt_update
    version=$(apt-cache policy libwolfssl-dev | awk '/Candidate:/ {print $2}')
  fi
fi
[ -n "$version" ] && [ "$version" != "(none)" ] || die "apt knows no libwolfssl-dev"
version=${version%+b[0-9]*}     # a binNMU's binary version is not a source version
upstream=${version#*:}; upstream=${upstream%-*}

# What was built and how, down to this script's own text: any change to it
# rebuilds (incrementally, in the kept build tree).
want="wolfssl $version: ./configure ${configure_opts[*]}; script $(sha256sum < "${BASH_SOURCE[0]}" | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$prefix/lib/libwolfssl.so" ] &&
   [ -f "$prefix/include/wolfssl/options.h" ]; then
  say "up to date: $want"
else
  rm -f "$stamp"
  src=$work/wolfssl-$upstream

  # --- Debian's source package ------------------------------------------
  if [ ! -f "$src/.berth-unpacked-$version" ]; then
    # apt-get source needs a deb-src line. Add one mirroring the machine's
    # own Debian sources (deb822 on Debian 12, one-line format before).
    if [ -z "$(apt-cache showsrc wolfssl 2>/dev/null | grep "^Version: $version\$" || true)" ]; then
      if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        [ "$(id -u)" = 0 ] || die "need root to add a deb-src entry"
        say "adding deb-src entries: /etc/apt/sources.list.d/berth-deb-src.sources"
        sed -n 's/^Types:.*\bdeb\b.*/Types: deb-src/; p' /etc/apt/sources.list.d/debian.sources \
          > /etc/apt/sources.list.d/berth-deb-src.sources
      elif grep -qs '^deb ' /etc/apt/sources.list; then
        [ "$(id -u)" = 0 ] || die "need root to add a deb-src entry"
        say "adding deb-src entries: /etc/apt/sources.list.d/berth-deb-src.list"
        sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/berth-deb-src.list
      else
        die "no Debian apt sources found to derive a deb-src entry from"
      fi
      apt_updated=no
      apt_update
    fi
    say "fetching Debian's source package wolfssl=$version"
    rm -rf "$work"
    mkdir -p "$work"
    # Sandbox user root: the download directory belongs to root, and _apt's
    # sandbox would only warn about it.
    (cd "$work" && apt-get source -qq -o APT::Sandbox::User=root "wolfssl=$version" >/dev/null)
    [ -d "$src" ] || die "apt-get source did not unpack $src"
    touch "$src/.berth-unpacked-$version"
  fi

  cd "$src"
  say "building in $src (log: $log)"
  : > "$log"
  [ -x configure ] || { say "autogen.sh"; ./autogen.sh >>"$log" 2>&1; }

  # Debian's compiler and linker flags (hardening included), as its buildds
  # use them; only the assembly differs from the packaged library.
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
  say "configure ${configure_opts[*]}"
  ./configure "${configure_opts[@]}" >>"$log" 2>&1 || die "configure failed, see $log"
  say "make -j$(nproc)"
  make -j"$(nproc)" >>"$log" 2>&1 || die "make failed, see $log"

  # wolfCrypt's known-answer tests, on this CPU, through the assembly paths.
  say "wolfcrypt/test/testwolfcrypt"
  ./wolfcrypt/test/testwolfcrypt >>"$log" 2>&1 || die "wolfCrypt self-test failed, see $log"

  make install >>"$log" 2>&1 || die "make install failed, see $log"
  # A distro build leaves options.h out of `make install`; Debian's package
  # installs it by hand (debian/libwolfssl-dev.install), and so do we: it
  # says which features and struct layouts this library was built with.
  install -m 644 wolfssl/options.h "$prefix/include/wolfssl/options.h"
  [ ! -f cyassl/options.h ] || install -m 644 cyassl/options.h "$prefix/include/cyassl/options.h"
  echo "$want" > "$stamp"
fi

# --- Check the result ---------------------------------------------------
opts_h=$prefix/include/wolfssl/options.h
for m in WOLFSSL_AESNI USE_INTEL_SPEEDUP WOLFSSL_SP_X86_64_ASM WOLFSSL_TLS13 HAVE_SESSION_TICKET \
         HAVE_SNI HAVE_ALPN HAVE_SUPPORTED_CURVES HAVE_ECC HAVE_CURVE25519 HAVE_CHACHA \
         HAVE_POLY1305 WOLFSSL_CERT_GEN WOLFSSL_KEY_GEN OPENSSL_EXTRA OPENSSL_ALL ATOMIC_USER; do
  grep -q "^#define $m\b" "$opts_h" || die "$m missing from $opts_h"
done
! grep -q '^#define SINGLE_THREADED' "$opts_h" || die "built single-threaded"
# Debian's package is the reference: everything it defines must be here too.
if [ -f /usr/include/wolfssl/options.h ]; then
  lost=$(comm -23 <(grep '^#define' /usr/include/wolfssl/options.h | sort -u) \
                  <(grep '^#define' "$opts_h" | sort -u))
  [ -z "$lost" ] || die "defined by Debian's options.h but not here: $lost"
fi

say "installed wolfSSL $upstream with assembly in $prefix"
say "pkg-config path: $prefix/lib/pkgconfig"
say "  meson setup build-asm -Dwolfssl_prefix=$prefix --buildtype=release"
say "  or: PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs wolfssl"
