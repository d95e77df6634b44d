#!/bin/bash
# Proof on a fresh machine: makes a Debian 12 root with debootstrap, copies
# a clean clone of this repository's HEAD into it (nothing beside it: no
# ../shared), and runs there, as a new user would:
#   readme     scripts/deps.sh build test, then the README's two commands
#              (read from README.md's "Two commands" block): the first must
#              serve /json/3 from the repository's data, the second pass
#   ci         bash .ci/run (CI=true)
#   workflows  the `run:` steps of every job of .github/workflows/*.yml
#              (scripts/workflow-steps.py; GitHub's own actions left out),
#              each in a fresh clone from a bare copy that plays `origin`
#   docker     deploy/Dockerfile without Docker: each stage's steps
#              (scripts/dockerfile-steps.py) in a fresh copy of the Debian
#              12 root, then its entry point started as the image would
#              (its user and environment, the repository's HttpArena data
#              where `docker run -v` would put it), its HEALTHCHECK run,
#              requests answered, SIGTERM obeyed
#   httparena  the same for deploy/httparena/Dockerfile, in the folder
#              deploy/httparena/make-entry.sh makes (all four ports)
# Usage (as root; needs debootstrap, unshare, Debian's python3-yaml):
#   scripts/fresh-check.sh [--root DIR] [--keep] [PHASE...]   (default: all)
# Environment: BERTH_FRESH_MIRROR (default: the first deb URI of apt's
# sources, else http://deb.debian.org/debian), BERTH_FRESH_JOBS (the
# workflow jobs to run, e.g. "ci.yml:test#1 bench.yml:bench", as
# scripts/workflow-steps.py --list names them; default all),
# BERTH_BENCH_QUICK (default 1: bench/run.py --quick).
# Each phase runs in its own PID and mount namespaces: its mounts (/proc,
# /sys, /dev) and anything it left running go when it ends. The README's
# serving command also gets a network namespace of its own (port 8080 may
# be taken on the host). A summary with each phase's time is printed at
# the end and kept in DIR.summary.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
root=/var/tmp/berth-fresh
keep=0
phases=()
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    readme|ci|workflows|docker|httparena) phases+=("$1"); shift ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done
[ ${#phases[@]} -gt 0 ] || phases=(readme ci workflows docker httparena)
[ "$(id -u)" -eq 0 ] || { echo "fresh-check: run as root (debootstrap, chroot)"; exit 2; }
root=$(realpath -m "$root")
if [ -e "$root" ]; then
  echo "fresh-check: $root exists; remove it first (a fresh root is the point)"; exit 2
fi

mirror=${BERTH_FRESH_MIRROR:-$(grep -rhoE '^(deb|URIs:) +https?://[^ ]+/debian/?( |$)' \
  /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n 1 | awk '{print $2}' || true)}
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
summary=$root.summary
: > "$summary"
note() { echo "fresh-check: $*" | tee -a "$summary"; }

# in_root [--net] SCRIPT: runs SCRIPT (bash) chrooted in the root, in new
# PID and mount namespaces; without --net also in a network namespace of
# its own, with only loopback.
in_root() {
  local net=-n
  if [ "$1" = --net ]; then net=; shift; fi
  local dir=${in_root_dir:-$root}
  unshare -m -p -f $net --mount-proc="$dir/proc" bash -c '
    set -e
    r=$1
    mount --rbind /dev "$r/dev"
    mount -t sysfs sys "$r/sys"
    mount -t tmpfs -o size=4g tmpfs "$r/dev/shm"
    ip link set lo up 2>/dev/null || true
    exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 CI=true TERM=dumb \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$2"' \
    fresh "$dir" "$1"
}

status=0
phase() { # phase NAME [--net] SCRIPT
  local name=$1 t=$SECONDS rc=0
  shift
  in_root "$@" > "$root.$name.log" 2>&1 || rc=$?
  last_rc=$rc
  note "$name: exit $rc in $((SECONDS - t)) s (log: $root.$name.log)"
  [ $rc -eq 0 ] || status=1
  return 0
}

if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
  note "warning: uncommitted changes in $src are not part of the check (HEAD is)"
fi
commit=$(git -C "$src" rev-parse HEAD)

t0=$SECONDS
note "debootstrap bookworm from $mirror into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 ||
  { tail -n 20 "$root.debootstrap.log"; exit 1; }
# What a Debian installer (or a container runtime) writes and debootstrap
# does not: without it `localhost` does not resolve.
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
note "root made in $((SECONDS - t0)) s ($(du -sh "$root" | cut -f1))"
# The Dockerfiles' stages each start from a copy of the root as made.
if [[ " ${phases[*]} " == *" docker "* || " ${phases[*]} " == *" httparena "* ]]; then
  rm -rf "$root.base"
  cp -a "$root" "$root.base"
fi

# A clean clone of HEAD at /root/src/berth, nothing else under /root/src
# but origin.git, a bare copy that plays the remote for the workflows.
mkdir -p "$root/root/src"
git clone -q --bare "$src" "$root/root/src/origin.git"
git -C "$root/root/src/origin.git" update-ref refs/heads/main "$commit"
git -C "$root/root/src/origin.git" symbolic-ref HEAD refs/heads/main
checkout() { # checkout DIR: a clone of origin at the commit, as actions/checkout
  git clone -q "$root/root/src/origin.git" "$root$1"
  git -C "$root$1" checkout -q "$commit"
  git -C "$root$1" remote set-url origin /root/src/origin.git
}
checkout /root/src/berth
note "clone of $commit at /root/src/berth; /root/src holds: $(ls "$root/root/src" | tr '\n' ' ')"

# copy_into SRC DIR DST WD: Docker's COPY of SRC (a file or a folder's
# contents; .git left out) to DST (relative: to WD) in the root DIR.
copy_into() {
  local s=$1 dir=$2 d=$3
  [[ $d == /* ]] || d=$4/$d
  if [ -d "$s" ]; then
    mkdir -p "$dir$d"
    tar -C "$s" --exclude=.git -cf - . | tar -C "$dir$d" -xf -
  elif [[ $d == */ ]]; then
    mkdir -p "$dir$d" && cp -a "$s" "$dir$d"
  else
    mkdir -p "$(dirname "$dir$d")" && cp -a "$s" "$dir$d"
  fi
}

# docker_check DOCKERFILE CONTEXT TAG PORTS: the Dockerfile's stages, each
# in a fresh copy of the root, then its last stage served: the entry point
# as the image's user with its environment, in a network of its own, data
# where HttpArena mounts it, every port in PORTS open, the HEALTHCHECK
# passing, /baseline11 and /json/3 answered, and a SIGTERM obeyed.
docker_check() {
  local file=$1 ctx=$2 tag=$3 ports=$4 steps line verb stage="" cur="" wd=/ usr=root envs="" health="" entry="" n=0
  steps=$("$src/scripts/dockerfile-steps.py" "$file") || { note "$tag: $file refused"; status=1; return 0; }
  while IFS= read -r line; do
    eval "set -- $line"
    verb=$1
    shift
    case $verb in
    stage)
      [[ $2 == debian:12* || $2 == debian:bookworm* ]] ||
        { note "$tag: FROM $2: only Debian 12 can be checked here"; status=1; return 0; }
      stage=$1 cur=$root.$tag-$1 wd=/ usr=root envs=""
      rm -rf "$cur"
      cp -a "$root.base" "$cur" ;;
    workdir) wd=$1; mkdir -p "$cur$1" ;;
    env) envs="$envs $1=$(printf %q "$2")" ;;
    copy) for s in "${@:1:$#-1}"; do copy_into "$ctx/$s" "$cur" "${@: -1}" "$wd"; done ;;
    copyfrom) copy_into "$root.$tag-$1$2" "$cur" "$3" "$wd" ;;
    user) usr=$1 ;;
    healthcheck) health=$1 ;;
    entrypoint) entry=$1 ;;
    run)
      n=$((n + 1))
      local as=""
      [ "$usr" = root ] || as="setpriv --reuid=$usr --regid=$usr --clear-groups"
      in_root_dir=$cur phase "$tag-$stage-run$n" --net "set -e; mkdir -p $wd; cd $wd; ${envs:+export $envs;} $as /bin/sh -c $(printf %q "$1")"
      [ $last_rc -eq 0 ] || return 0 ;;
    esac
  done <<<"$steps"
  # What `docker run -v` would mount: the dataset and static files, and a
  # certificate for the TLS ports.
  copy_into "$src/tests/data/arena" "$cur" /data /
  sh "$src/scripts/make-test-certs.sh" "$cur/certs" >/dev/null
  chmod -R a+rX "$cur/data" "$cur/certs"
  local as=""
  [ "$usr" = root ] || as="setpriv --reuid=$usr --regid=$usr --clear-groups"
  in_root_dir=$cur phase "$tag-serve" "set -e; cd /; ${envs:+export $envs;}
    $as $entry > /tmp/serve.log 2>&1 &
    pid=\$!
    for i in \$(seq 1 100); do grep -q 'listening on' /tmp/serve.log && break; sleep 0.2; done
    cat /tmp/serve.log
    grep -q 'listening on' /tmp/serve.log
    uid=\$(awk '/^Uid:/{print \$2}' /proc/\$pid/status)
    echo \"the server runs as uid \$uid ($usr)\"
    [ \"\$uid\" != 0 ] || [ $usr = root ] || { echo 'FAILED: runs as root'; exit 1; }
    fail() { echo \"FAILED: \$*\"; kill -9 \$pid; exit 1; }
    for p in $ports; do (exec 3<>/dev/tcp/127.0.0.1/\$p) || fail \"port \$p is not open\"; echo \"port \$p: open\"; done
    $as /bin/sh -c $(printf %q "$health") || fail 'the HEALTHCHECK command'
    echo 'HEALTHCHECK: passed'
    get() { exec 3<>/dev/tcp/127.0.0.1/8080; printf 'GET %s HTTP/1.0\\r\\n\\r\\n' \"\$1\" >&3; cat <&3; exec 3<&-; }
    get '/baseline11?a=13&b=42' | tail -n 1 | grep -qx 55 || fail 'GET /baseline11?a=13&b=42 is not 55'
    echo 'GET /baseline11?a=13&b=42: 55'
    get /json/3 | tail -n 1 | grep -q '\"count\":3' || fail 'GET /json/3 has not 3 items'
    echo 'GET /json/3: 3 items'
    kill -TERM \$pid
    rc=0; wait \$pid || rc=\$?
    echo \"SIGTERM: exit \$rc\"; exit \$rc"
}

for p in "${phases[@]}"; do
  case $p in
  docker)
    docker_check "$root/root/src/berth/deploy/Dockerfile" "$root/root/src/berth" docker 8080
    ;;
  httparena)
    entry=$root.httparena-entry
    rm -rf "$entry"
    "$root/root/src/berth/deploy/httparena/make-entry.sh" "$entry" --repo "${BERTH_REPO_URL:-https://example.invalid/berth}" > /dev/null
    docker_check "$entry/Dockerfile" "$entry" httparena "8080 8081 8443 8082"
    ;;
  readme)
    phase readme-deps --net 'cd /root/src/berth && sh scripts/deps.sh build test'
    cmds=$(awk '/^## Two commands/{s=1} s&&/^```sh/{b=1;next} b&&/^```/{exit} b&&!/^#/&&NF' "$src/README.md")
    first=$(sed -n 1p <<<"$cmds")
    second=$(sed -n 2p <<<"$cmds")
    note "README's first command: $first"
    note "README's second command: $second"
    # The first serves until stopped: started, asked for /json/3 (compared
    # with the repository's dataset), stopped with SIGINT.
    phase readme-serve "set -e; cd /root/src/berth
      ( $first ) > /tmp/serve.log 2>&1 &
      pid=\$!
      for i in \$(seq 1 1200); do
        grep -q 'listening on' /tmp/serve.log && break
        kill -0 \$pid 2>/dev/null || break
        sleep 1
      done
      tail -n 2 /tmp/serve.log
      grep -q 'listening on' /tmp/serve.log || { tail -n 30 /tmp/serve.log; exit 1; }
      curl -sS -o /tmp/json3 -w 'GET /json/3: %{http_code}, %{size_download} bytes\n' http://127.0.0.1:8080/json/3
      python3 - <<'PY'
import json
got = json.load(open('/tmp/json3'))
data = json.load(open('tests/data/arena/dataset.json'))
items = got['items']
assert got['count'] == 3 and len(items) == 3, got
for g, d in zip(items, data[:3]):
    assert g['id'] == d['id'] and g['name'] == d['name'], (g, d)
    assert g['total'] == d['price'] * d['quantity'], (g, d)
print('/json/3: the first 3 items of tests/data/arena/dataset.json, totals right')
PY
      kill -INT \$pid; rc=0; wait \$pid || rc=\$?; echo \"berth-serve: exit \$rc after SIGINT\"; exit \$rc"
    phase readme-test "cd /root/src/berth
      $second; rc=\$?
      grep -E '^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout):' build/meson-logs/testlog.txt
      echo 'skips, with their reasons:'
      grep -hoE \"skipped ['\\\"].*\" build/meson-logs/testlog.txt | sort | uniq -c || true
      exit \$rc"
    ;;
  ci)
    phase ci --net 'cd /root/src/berth && bash .ci/run'
    ;;
  workflows)
    jobs=${BERTH_FRESH_JOBS:-}
    if [ -z "$jobs" ]; then
      for wf in "$src"/.github/workflows/*.yml; do
        jobs="$jobs $("$src/scripts/workflow-steps.py" "$wf" --list |
                      awk -v w="$(basename "$wf")" '{printf " %s:%s", w, $1}')"
      done
    fi
    for j in $jobs; do
      wf=${j%%:*}
      job=${j#*:}
      tag=${j//[:#]/-}
      "$src/scripts/workflow-steps.py" "$src/.github/workflows/$wf" "$job" > "$root/root/steps-$tag.sh"
      note "$j: $(sed -n 2p "$root/root/steps-$tag.sh")"
      checkout "/root/ws/$tag"
      phase "wf-$tag" --net "cd /root/ws/$tag
        export GITHUB_WORKSPACE=/root/ws/$tag GITHUB_SHA=$commit GITHUB_REF=refs/heads/main
        export GITHUB_STEP_SUMMARY=/root/ws/summary-$tag.md BERTH_BENCH_QUICK=${BERTH_BENCH_QUICK:-1}
        bash /root/steps-$tag.sh"
    done
    ;;
  esac
done

note "total: $((SECONDS - t0)) s, status $status"
if [ $keep -eq 0 ]; then
  rm -rf --one-file-system "$root"
  for d in "$root.base" "$root".docker-* "$root".httparena-*; do
    [ ! -d "$d" ] || rm -rf --one-file-system "$d"
  done
fi
exit $status
