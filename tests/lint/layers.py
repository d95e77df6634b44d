"""docs/DESIGN.md's layer table against the library's real call graph.

The graph comes from the objects of the internal static library (nm: which
object defines each symbol, which objects use it), so it is what the
compiler made, not what comments say. The table (the first Markdown table
after the line `<!-- layers -->` in docs/DESIGN.md) has one row per file or
glob, lowest layer first, and a "uses" column naming, in backticks, the rows
the file may call: by a file's name without `.c` (`pool`), by its path, or
by a row's glob as written; `berth.h` allows any function of the public API
(berth.sym). Uses after the word "upward:" are calls to a row further down
the table, allowed while they are listed (the issues that remove them name
them there).

Fails, naming the file, row or edge, when:
- a file of the library is in no row, or in two; a row matches no file;
- a file calls a row that its row does not list (the edge missing from the
  table), or lists one it never calls (stale text);
- a plain use points to the same row or one further down (upward), or an
  "upward:" use points to a row above (not upward);
- a use names no row.

  python3 tests/lint/layers.py LIBRARY.a DESIGN.md BERTH.SYM SOURCE_ROOT [NM]
                               [--unbuilt=FILE,FILE]

--unbuilt names files an optional feature leaves out of this build (HTTP/2
without nghttp2): their rows, and the uses naming them, are not checked.
"""
import fnmatch
import os
import re
import subprocess
import sys


def read_table(design):
    lines = open(design, encoding="utf-8").read().split("\n")
    try:
        start = next(i for i, l in enumerate(lines) if l.strip() == "<!-- layers -->")
    except StopIteration:
        raise SystemExit("%s: no line '<!-- layers -->' before the layer table" % design)
    rows = []
    body = [l for l in lines[start + 1:]]
    i = next(i for i, l in enumerate(body) if l.startswith("|"))
    for l in body[i + 2:]:  # past the header and its --- line
        if not l.startswith("|"):
            break
        cells = [c.strip() for c in l.strip().strip("|").split("|")]
        if len(cells) < 3:
            raise SystemExit("%s: a layer table row needs file, concern, uses: %s" % (design, l))
        files = re.findall(r"`([^`]+)`", cells[0])
        uses_cell = cells[-1]
        plain, _, upward = uses_cell.partition("upward:")
        rows.append({"key": cells[0], "patterns": files, "plain": re.findall(r"`([^`]+)`", plain),
                     "upward": re.findall(r"`([^`]+)`", upward), "line": l})
    if not rows:
        raise SystemExit("%s: the layer table after '<!-- layers -->' has no rows" % design)
    return rows


def read_graph(lib, nm, srcroot):
    """{file: set(files it calls)}, {file: set(public symbols it calls)}."""
    out = subprocess.run([nm, "-A", "-P", lib], capture_output=True, text=True, check=True).stdout
    defined, used = {}, {}
    for line in out.splitlines():
        m = re.match(r"^(.*?)(?:\[(.*)\])?: (\S+) (\S)", line)
        if not m:
            continue
        obj, sym, kind = os.path.basename(m.group(2) or m.group(1)), m.group(3), m.group(4)
        if sys.platform == "darwin" and sym.startswith("_"):
            sym = sym[1:]  # Mach-O spells C's names with a leading underscore
        used.setdefault(obj, set())
        if kind == "U":
            used[obj].add(sym)
        elif kind.isupper():
            if sym in defined and defined[sym] != obj:
                raise SystemExit("layers: %s is defined in %s and %s" % (sym, defined[sym], obj))
            defined[sym] = obj
    # meson names the object of src/dir/f.c "src_dir_f.c.o"
    sources = {}
    for d, dirs, names in os.walk(srcroot):
        dirs[:] = [x for x in dirs if not x.startswith((".", "build", "subprojects", "node_modules"))]
        for n in names:
            if n.endswith(".c"):
                rel = os.path.relpath(os.path.join(d, n), srcroot)
                sources[rel.replace(os.sep, "_") + ".o"] = rel
    path = {}
    for obj in used:
        if obj not in sources:
            raise SystemExit("layers: no source file makes the object %s" % obj)
        path[obj] = sources[obj]
    calls = {path[o]: set() for o in used}
    symbols = {path[o]: {} for o in used}
    for o, syms in used.items():
        for s in syms:
            if s in defined and defined[s] != o:
                calls[path[o]].add(path[defined[s]])
                symbols[path[o]].setdefault(path[defined[s]], set()).add(s)
    return calls, symbols


def check(rows, calls, symbols, public, design):
    errors = []
    files = sorted(calls)
    row_of = {}
    for f in files:
        hits = [i for i, r in enumerate(rows) if any(fnmatch.fnmatch(f, p) for p in r["patterns"])]
        if not hits:
            called = sorted(os.path.splitext(os.path.basename(g))[0] for g in calls[f])
            errors.append("%s is in the library but in no row of %s's layer table: add its "
                          "row at its layer (below every row it calls), e.g. | `%s` | its "
                          "concern | %s |" % (f, design, f,
                                             ", ".join("`%s`" % c for c in called) or "—"))
        elif len(hits) > 1:
            errors.append("%s is in %d rows of the layer table: %s" % (
                f, len(hits), "; ".join(rows[i]["key"] for i in hits)))
        else:
            row_of[f] = hits[0]
    for i, r in enumerate(rows):
        if not any(row_of.get(f) == i for f in files):
            errors.append("the layer table's row %s matches no file of the library: remove it "
                          "or correct its name" % r["key"])
    # the names a use may give: a file's stem (if unique), its path, a row's pattern
    names = {}
    for i, r in enumerate(rows):
        for p in r["patterns"]:
            names.setdefault(p, set()).add(i)
    for f, i in row_of.items():
        names.setdefault(f, set()).add(i)
        names.setdefault(os.path.splitext(os.path.basename(f))[0], set()).add(i)

    def target(i, name):
        if name == "berth.h":
            return "berth.h"
        t = names.get(name, set())
        if len(t) != 1:
            errors.append("row %s: uses `%s`, which names %s" % (
                rows[i]["key"], name, "no row" if not t else "several rows"))
            return None
        return next(iter(t))

    allowed = {}
    for i, r in enumerate(rows):
        a = allowed[i] = {}
        for name in r["plain"]:
            t = target(i, name)
            if t is None:
                continue
            if t != "berth.h" and t >= i:
                errors.append("row %s: uses `%s`, which is %s in the table: an upward call "
                              "goes after 'upward:', or the row moves" % (
                                  r["key"], name, "the same row" if t == i else "further down"))
            a[t] = name
        for name in r["upward"]:
            t = target(i, name)
            if t is None:
                continue
            if t == "berth.h" or t <= i:
                errors.append("row %s: `%s` is listed after 'upward:' but is not further down "
                              "the table: list it before 'upward:'" % (r["key"], name))
            a[t] = name
    # every call allowed; every listed use made
    made = {i: set() for i in range(len(rows))}
    for f in files:
        if f not in row_of:
            continue
        i = row_of[f]
        for g in sorted(calls[f]):
            j = row_of.get(g)
            if j is None or j == i:
                continue  # within a glob row, or a file already reported
            if j in allowed[i]:
                made[i].add(j)
                continue
            syms = symbols[f][g]
            if "berth.h" in allowed[i] and syms <= public:
                made[i].add("berth.h")
                continue
            errors.append("%s calls %s (%s), which its row %s does not list: add `%s` to its "
                          "uses%s, or remove the call" % (
                              f, g, ", ".join(sorted(syms)[:4]), rows[i]["key"],
                              os.path.splitext(os.path.basename(g))[0],
                              " after 'upward:'" if j > i else ""))
    for i, a in allowed.items():
        for t, name in a.items():
            if t not in made[i]:
                errors.append("row %s lists `%s`, which no file of the row calls: remove it "
                              "from the uses" % (rows[i]["key"], name))
    return errors


def drop_unbuilt(rows, unbuilt):
    """Rows of files this build leaves out (an optional feature: HTTP/2
    without nghttp2) go, and so do the uses naming them."""
    stems = {os.path.splitext(os.path.basename(f))[0] for f in unbuilt}
    gone = set(unbuilt) | stems
    kept = [r for r in rows if not (r["patterns"] and set(r["patterns"]) <= set(unbuilt))]
    for r in kept:
        r["plain"] = [n for n in r["plain"] if n not in gone]
        r["upward"] = [n for n in r["upward"] if n not in gone]
    return kept


def main():
    argv = [a for a in sys.argv if not a.startswith("--unbuilt=")]
    unbuilt = [f for a in sys.argv if a.startswith("--unbuilt=")
               for f in a.split("=", 1)[1].split(",") if f]
    if len(argv) < 5:
        raise SystemExit(__doc__)
    lib, design, symfile, srcroot = argv[1:5]
    nm = argv[5] if len(argv) > 5 else "nm"
    rows = drop_unbuilt(read_table(design), unbuilt)
    calls, symbols = read_graph(lib, nm, srcroot)
    public = set(re.findall(r"^\s*(berth_\w+);", open(symfile).read(), re.M))
    errors = check(rows, calls, symbols, public, os.path.basename(design))
    edges = sum(len(v) for v in calls.values())
    if errors:
        print("docs/DESIGN.md's layer table does not match the code:")
        for e in errors:
            print("  " + e)
        print("%d files, %d calls between files, %d rows: %d problems"
              % (len(calls), edges, len(rows), len(errors)))
        return 1
    upward = ["%s -> %s" % (rows[i]["key"], n) for i, r in enumerate(rows) for n in r["upward"]]
    print("layer table: %d files, %d calls between files, %d rows: every call listed, every "
          "listed call made; upward calls still listed: %s"
          % (len(calls), edges, len(rows), ", ".join(upward) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
