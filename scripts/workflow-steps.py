#!/usr/bin/python3
"""Prints a GitHub workflow job's `run:` steps as one bash script, so that
they can be run outside GitHub (scripts/fresh-check.sh runs them in a fresh
Debian 12 root). Steps that use an action (`uses:`) are GitHub's own and
are left out, each named in a comment; `if: failure()` steps are left out
(the script stops at the first failing step, as the runner does).

  scripts/workflow-steps.py FILE --list      each job's matrix entries, as
                                             JOB#N (N: the entry) and values,
                                             of the jobs in a Debian container
  scripts/workflow-steps.py FILE JOB[#N]     the job's script (matrix entry N,
                                             default 0)

Needs Debian's python3-yaml (/usr/bin/python3)."""
import re
import shlex
import sys

import yaml


def matrix_entries(job):
    m = (job.get("strategy") or {}).get("matrix") or {}
    entries = list(m.get("include") or [])
    keys = [k for k in m if k not in ("include", "exclude")]
    if keys:
        raise SystemExit("workflow-steps: only matrix 'include' lists are supported")
    return entries or [{}]


def expand(text, ctx, where):
    """${{ matrix.x }} and ${{ github.x }}; anything else is refused, so a
    step that needs GitHub's context is not run with a wrong value."""
    def one(m):
        expr = m.group(1).strip()
        if expr in ctx:
            return str(ctx[expr])
        raise SystemExit("workflow-steps: %s: cannot evaluate ${{ %s }} outside GitHub"
                         % (where, expr))
    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def env_lines(env, ctx, where):
    return ["export %s=%s" % (k, shlex.quote(expand(str(v), ctx, where)))
            for k, v in (env or {}).items()]


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    wf = yaml.safe_load(open(sys.argv[1]))
    jobs = wf["jobs"]
    if sys.argv[2] == "--list":
        for name, job in jobs.items():
            # only jobs in a Debian container can be played on Debian 12:
            # macOS, FreeBSD's VM and Ubuntu's packages cannot (said on stderr)
            c = job.get("container") or {}
            image = c.get("image", "") if isinstance(c, dict) else c
            if not str(image).startswith("debian"):
                sys.stderr.write("workflow-steps: %s left out: runs on %s, not in a Debian "
                                 "container\n" % (name, job.get("runs-on")))
                continue
            for i, e in enumerate(matrix_entries(job)):
                print("%s#%d %s" % (name, i, " ".join("%s=%s" % kv for kv in e.items())))
        return
    name, _, n = sys.argv[2].partition("#")
    job = jobs[name]
    want = matrix_entries(job)[int(n or 0)]
    ctx = {"matrix." + k: v for k, v in want.items()}
    ctx.update({"github.sha": "${GITHUB_SHA}", "github.ref": "${GITHUB_REF}",
                "github.workspace": "${GITHUB_WORKSPACE}"})
    out = ["#!/bin/bash", "# %s, job %s %s (scripts/workflow-steps.py)" % (sys.argv[1], name, want),
           "set -eo pipefail", "steps=$(mktemp -d)"]
    out += env_lines(wf.get("env"), ctx, "env")
    out += env_lines(job.get("env"), ctx, name + ".env")
    for i, step in enumerate(job["steps"]):
        title = step.get("name") or step.get("uses") or step.get("run", "").split("\n")[0]
        where = "%s step %d (%s)" % (name, i + 1, title)
        if "uses" in step:
            out.append("# skipped, GitHub's own action: %s" % step["uses"])
            continue
        cond = str(step.get("if", "")).strip()
        if cond in ("failure()", "${{ failure() }}"):
            out.append("# skipped, runs only after a failure: %s" % title)
            continue
        if cond not in ("", "always()", "success()"):
            raise SystemExit("workflow-steps: %s: cannot evaluate if: %s" % (where, cond))
        shell = step.get("shell", "bash")
        if shell != "bash":
            raise SystemExit("workflow-steps: %s: shell %s" % (where, shell))
        body = expand(step["run"], ctx, where)
        out.append("echo %s" % shlex.quote("== step: " + expand(title, ctx, where)))
        # each step in a shell of its own, as the runner does (bash -e -o
        # pipefail), from a file: stdin stays the caller's
        out.append("cat > \"$steps/%d.sh\" <<'BERTH_STEP_EOF'" % (i + 1))
        out.append(body.rstrip("\n"))
        out.append("BERTH_STEP_EOF")
        out.append("(")
        out += ["  " + line for line in env_lines(step.get("env"), ctx, where)]
        out.append("  bash --noprofile --norc -eo pipefail \"$steps/%d.sh\"" % (i + 1))
        out.append(")")
    print("\n".join(out))


if __name__ == "__main__":
    main()
