#!/bin/sh
# Makes berth's HttpArena entry: a folder to copy to HttpArena's
# frameworks/berth/ as it is (its Dockerfile, meta.json, README.md, and
# berth/, the source of one commit, from git archive: the entry builds
# without a network clone).
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
cp "$here/Dockerfile" "$here/README.md" "$out/"
sed "s|@REPO@|$repo|" "$here/meta.json" > "$out/meta.json"
git -C "$top" archive "$ref" | tar -x -C "$out/berth"
echo "make-entry.sh: $out: berth $(git -C "$top" rev-parse --short "$ref") for HttpArena's frameworks/berth/"
