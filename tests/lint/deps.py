"""One dependency list: scripts/deps.sh. Fails when .ci/run, a GitHub
workflow or README.md installs packages by a list of its own (apt-get, apt,
dpkg, pip, npm... install) instead of calling the script, when one of them
does not call it, when a group they name is not one of the script's, and
when code of the repository (scripts, sources, meson files, workflows;
comments aside) needs ../shared: only ../shared/tools may be looked at, for
optional tools, when present.

  python3 tests/lint/deps.py SOURCE_ROOT
"""
import glob
import os
import re
import subprocess
import sys

INSTALL = re.compile(r"\b(apt-get|apt|aptitude)\b[^\n|;&]*\binstall\b|\bdpkg\s+-i\b|"
                     r"\bpip3?\s+install\b|\bnpm\s+(install|i|ci)\b|\bapk\s+add\b|"
                     r"\b(yum|dnf|brew)\s+install\b")
DEPS = re.compile(r"scripts/deps\.sh((?:[ \t]+--?[a-z]+)*)((?:[ \t]+[a-z][a-z0-9-]*)+)")
CODE = (".py", ".sh", ".c", ".h", ".build", ".yml", ".yaml", ".js", ".txt", "run")
SKIP_DIRS = (".git", "node_modules", "subprojects")


def callers(root):
    files = [os.path.join(root, ".ci", "run"), os.path.join(root, "README.md")]
    files += sorted(glob.glob(os.path.join(root, ".github", "workflows", "*.y*ml")))
    return files


def check_callers(root):
    errors = []
    groups = set()
    for path in callers(root):
        rel = os.path.relpath(path, root)
        if not os.path.exists(path):
            errors.append("%s: missing" % rel)
            continue
        text = open(path, encoding="utf-8").read()
        for n, line in enumerate(text.split("\n"), 1):
            if INSTALL.search(line) and "scripts/deps.sh" not in line:
                errors.append("%s:%d installs packages by a list of its own (%s): call "
                              "scripts/deps.sh with a group instead" % (rel, n, line.strip()))
        calls = DEPS.findall(text)
        if not calls and not (rel == ".ci/run" and re.search(r"scripts/deps\.sh\s+\"\$\{groups", text)):
            errors.append("%s does not call scripts/deps.sh" % rel)
        for _, g in calls:
            groups.update(g.split())
    # .ci/run passes its groups in an array
    arrays = re.findall(r"\bgroups\+?=\(([^)]*)\)", open(os.path.join(root, ".ci", "run")).read())
    for a in arrays:
        groups.update(a.split())
    if not arrays:
        errors.append(".ci/run: no groups=(...) line naming what it installs")
    script = os.path.join(root, "scripts", "deps.sh")
    for g in sorted(groups):
        p = subprocess.run(["sh", script, "--print", g], capture_output=True, text=True)
        if p.returncode != 0:
            errors.append("a group named in a call is not one of scripts/deps.sh's: %s (%s)"
                          % (g, p.stderr.strip()))
    return errors, groups


def check_shared(root):
    errors = []
    me = os.path.abspath(__file__)
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not x.startswith("build")]
        for n in names:
            path = os.path.join(d, n)
            if (os.path.abspath(path) == me or not n.endswith(CODE) or
                    os.path.getsize(path) > 2 << 20):
                continue
            try:
                text = open(path, encoding="utf-8").read()
            except (UnicodeDecodeError, OSError):
                continue
            for i, line in enumerate(text.split("\n"), 1):
                if line.lstrip().startswith(("#", "//", "/*", "* ")):
                    continue  # a comment may say what is not needed
                for m in re.finditer(r"\.\./shared\b(/[\w.-]+)?", line):
                    if m.group(1) != "/tools":
                        errors.append("%s:%d needs %s: the repository must carry or make "
                                      "what it needs" % (os.path.relpath(path, root), i,
                                                         m.group(0)))
    return errors


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    root = sys.argv[1]
    errors, groups = check_callers(root)
    errors += check_shared(root)
    if errors:
        print("dependency lists:")
        for e in errors:
            print("  " + e)
        return 1
    print("dependency lists: %s call scripts/deps.sh (groups %s), none installs a list of its "
          "own; nothing needs ../shared" % (", ".join(os.path.relpath(p, root) for p in
                                                     callers(root)), " ".join(sorted(groups))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
