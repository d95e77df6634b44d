#!/usr/bin/env python3
"""A Dockerfile's steps as shell commands, for a machine without Docker:
scripts/fresh-check.sh runs them in fresh Debian 12 roots, one per stage.

    scripts/dockerfile-steps.py DOCKERFILE

Prints one step a line, for fresh-check.sh to read:
    stage NAME IMAGE        a new stage (each starts from a fresh root)
    workdir DIR             cd for the next RUNs (made if absent)
    env NAME VALUE          set for the next RUNs and the command
    copy SRC... DST         from the build context
    copyfrom STAGE SRC DST  from an earlier stage's root
    run SHELL-COMMAND       /bin/sh -c, as the current user, in the workdir
    user NAME
    healthcheck COMMAND     the HEALTHCHECK's command (shell form)
    entrypoint COMMAND      ENTRYPOINT + CMD, as one shell command
Values are shell-quoted. An instruction it does not know (ADD, ONBUILD,
SHELL, VOLUME...) is refused (exit 2): the check would not be the build's.
"""
import json
import re
import shlex
import sys


def logical_lines(text):
    """Instructions with their continuations joined, comments dropped."""
    out, cur = [], ""
    for raw in text.split("\n"):
        line = raw.rstrip()
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if cur and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        out.append(cur.strip())
        cur = ""
    if cur.strip():
        out.append(cur.strip())
    return out


def command(rest):
    """A RUN/CMD/HEALTHCHECK argument: exec form (JSON) or shell form, as
    one shell command."""
    rest = rest.strip()
    if rest.startswith("["):
        return " ".join(shlex.quote(a) for a in json.loads(rest))
    return rest


def fail(msg):
    print("dockerfile-steps: %s" % msg, file=sys.stderr)
    sys.exit(2)


def main():
    if len(sys.argv) != 2:
        fail("usage: dockerfile-steps.py DOCKERFILE")
    args = {}
    entry, cmd = "", ""
    q = shlex.quote
    for line in logical_lines(open(sys.argv[1], encoding="utf-8").read()):
        word, _, rest = line.partition(" ")
        word = word.upper()
        rest = rest.strip()
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
            if not m:
                fail("FROM %r" % rest)
            entry, cmd = "", ""
            print("stage %s %s" % (q(m.group(2) or "final"), q(m.group(1))))
        elif word == "ARG":
            name, _, val = rest.partition("=")
            args[name] = val
        elif word == "ENV":
            m = re.match(r"(\w+)=(.*)$", rest)
            name, val = (m.group(1), m.group(2)) if m else rest.split(None, 1)
            val = shlex.split(val)[0] if val.startswith(("'", '"')) else val
            print("env %s %s" % (name, q(val)))
        elif word == "WORKDIR":
            print("workdir %s" % q(rest))
        elif word == "COPY":
            parts = shlex.split(rest)
            src_stage = None
            while parts and parts[0].startswith("--"):
                opt = parts.pop(0)
                if opt.startswith("--from="):
                    src_stage = opt[len("--from="):]
                else:
                    fail("COPY option %s" % opt)
            if len(parts) < 2:
                fail("COPY %r" % rest)
            if src_stage:
                if len(parts) != 2:
                    fail("COPY --from with several sources")
                print("copyfrom %s %s %s" % (q(src_stage), q(parts[0]), q(parts[1])))
            else:
                print("copy %s" % " ".join(q(p) for p in parts))
        elif word == "RUN":
            print("run %s" % q(command(rest)))
        elif word == "USER":
            print("user %s" % q(rest))
        elif word == "HEALTHCHECK":
            m = re.match(r"((?:--\S+\s+)*)CMD\s+(.*)$", rest)
            if not m:
                fail("HEALTHCHECK %r" % rest)
            print("healthcheck %s" % q(command(m.group(2))))
        elif word == "ENTRYPOINT":
            entry = command(rest)
        elif word == "CMD":
            cmd = command(rest)
        elif word in ("EXPOSE", "LABEL", "STOPSIGNAL"):
            pass  # nothing to run: the check uses the ports itself
        else:
            fail("%s is not handled: the check would not be the build's" % word)
    if not (entry or cmd):
        fail("no ENTRYPOINT or CMD")
    print("entrypoint %s" % q((entry + " " + cmd).strip()))


main()
