#!/bin/sh
# Makes berth's HttpArena entry: a folder to copy to HttpArena's
# frameworks/berth/ as it is: meta.json, README.md, berth/ (the source of
# one commit, from git archive: the entry builds without a network clone)
# and a Dockerfile, deploy/Dockerfile with three changes: the source comes
# from berth/, and berth-serve serves HttpArena's four ports (8080,
# 8081 TLS, 8443 h2, 8082 h2c) from the certificate HttpArena mounts.
#   deploy/httparena/make-entry.sh OUT [--repo URL] [--ref COMMIT]
# URL (meta.json's "repo") defaults to the remote `origin`'s address; the
# script refuses to write an entry without one.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:?usage: make-entry.sh OUT [--repo URL] [--ref COMMIT]}
shift
repo=$(git -C "$top" remote get-url origin 2>/dev/null || true)
ref=HEAD
while [ $# -gt 0 ]; do
  case $1 in
    --repo) repo=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    *) echo "make-entry.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$repo" ] || { echo "make-entry.sh: no repository address (no remote 'origin'): give --repo URL" >&2; exit 2; }
[ ! -e "$out" ] || { echo "make-entry.sh: $out exists" >&2; exit 2; }
mkdir -p "$out/berth"
sed "s|@REPO@|$repo|" "$here/README.md" > "$out/README.md"
# Each change must find its line: a deploy/Dockerfile that changed shape
# stops the script rather than make an entry that builds something else.
listen='ENV BERTH_LISTEN="8080, 8081 tls h1, 8443 tls h2, 8082 h2"'
sed -e '1,/^$/c\
# HttpArena'"'"'s entry for berth, made from berth'"'"'s deploy/Dockerfile by\
# deploy/httparena/make-entry.sh: the build context is this folder, the\
# source of one commit in berth/.\
' \
    -e 's|^COPY \. /src$|COPY berth /src|' \
    -e 's|^COPY scripts/|COPY berth/scripts/|' \
    -e "s|^ENV TLS_PORT=off\$|$listen|" \
    -e 's|^EXPOSE 8080$|EXPOSE 8080 8081 8443 8082|' \
    "$top/deploy/Dockerfile" > "$out/Dockerfile"
for want in '^COPY berth /src$' '^COPY berth/scripts/deps.sh ' "^$listen\$" '^EXPOSE 8080 8081 8443 8082$'; do
  grep -q "$want" "$out/Dockerfile" ||
    { echo "make-entry.sh: deploy/Dockerfile has no line for '$want'" >&2; rm -rf "$out"; exit 1; }
done
sed "s|@REPO@|$repo|" "$here/meta.json" > "$out/meta.json"
git -C "$top" archive "$ref" | tar -x -C "$out/berth"
echo "make-entry.sh: $out: berth $(git -C "$top" rev-parse --short "$ref") for HttpArena's frameworks/berth/"
