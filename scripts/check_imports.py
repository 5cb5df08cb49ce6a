#!/usr/bin/env python3
"""Checks the crate's module layering: no import circle in src/, and no arrow from
the core into the GUI or the CLI.

Every .rs file under src/ is a node, named by its module path (src/a/b.rs and
src/a/b/mod.rs are `a::b`, src/lib.rs is the crate root; src/main.rs is the
binary, a crate of its own that uses the library by name, so it is left out).
A file depends on the module that each of these paths names:

  * `use crate::…`, `use super::…`, `use self::…` and `use child::…` statements,
    grouped (`use crate::{a::b, c::{self, d}}`) or over several lines;
  * paths in code that start with `crate::`, `$crate::`, `super::`, `self::` or
    with a name a `use` statement brought in (`use crate::io; … io::read::f()`).

A path is followed to the deepest module that exists (a file, or an inline
`mod x { … }`), and through `use` re-exports (`crate::io::read_nifti`, re-exported
by io/mod.rs from io/read.rs, is a dependency on io/read.rs). Not counted:

  * items under `#[cfg(test)]` (the `mod tests { … }` blocks): test code may
    reach anywhere;
  * a file's dependency on a module that contains it or that it contains (a
    parent's `mod` declarations and re-exports of its children, a child using
    its parent's items); so src/lib.rs, which contains everything, adds nothing;
  * comments and string literals.

Reports (a) every circle: a strongly connected component of the file graph with
more than one file, with one cycle path through it and the lines that make each
of its arrows; (b) every arrow from the core (all of src/ except app/, render/,
cli/, lib.rs and main.rs) into app, render or cli. Exits 1 if either is found,
0 otherwise; the last line is a one-line summary. A circle that stays within an
entry of ALLOWED_CIRCLES (below: known, not yet broken) is printed without its
arrows and does not fail. Standard library only.

Usage: python3 scripts/check_imports.py [--edges] [SRC_DIR]
  --edges  also print every counted arrow (file -> file: line)
"""

import os
import re
import sys

EDGE_LAYERS = ("app", "render", "cli")

# Circles not broken yet: one that stays within one of these sets of files is
# printed but does not fail the check; one that reaches any other file does. Remove
# an entry (or files from it) as the circle is broken: the list only shrinks. It is
# empty now: every circle fails the check.
ALLOWED_CIRCLES = []


# --------------------------------------------------------------------------
# Source cleaning: comments, strings and chars become spaces (newlines kept).


def sanitize(text):
    out = []
    i, n = 0, len(text)

    def blank(s):
        return re.sub(r"[^\n]", " ", s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif c in "rb" and re.match(r"(?:br|rb|r)#*\"", text[i:i + 260]) and (
            i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            m = re.match(r"(?:br|rb|r)(#*)\"", text[i:])
            end = text.find('"' + m.group(1), i + m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append(blank(text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i:j + 1]))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'", text[i:i + 16])
            if m:
                out.append(blank(m.group(0)))
                i += m.end()
            else:  # a lifetime or label
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def match_brace(text, open_at):
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(text) - 1


CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
ATTR = re.compile(r"\s*#\s*\[")


def strip_cfg_test(text):
    """Blanks every item under #[cfg(test)] (up to its `;` or its closing brace)."""
    while True:
        m = CFG_TEST.search(text)
        if not m:
            return text
        j = m.end()
        while True:  # further attributes on the same item
            a = ATTR.match(text, j)
            if not a:
                break
            depth, k = 0, a.end() - 1
            while k < len(text):
                if text[k] == "[":
                    depth += 1
                elif text[k] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            j = k + 1
        semi, brace = text.find(";", j), text.find("{", j)
        if brace >= 0 and (semi < 0 or brace < semi):
            end = match_brace(text, brace)
        else:
            end = semi if semi >= 0 else len(text) - 1
        text = text[: m.start()] + re.sub(r"[^\n]", " ", text[m.start():end + 1]) + text[end + 1:]


# --------------------------------------------------------------------------
# Tokens, use trees and paths.

TOKEN = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*|::|\S")
KEYWORD_ROOTS = {"crate", "$crate", "super", "self"}


def tokenize(text):
    toks = []
    line = 1
    pos = 0
    for m in TOKEN.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        toks.append((m.group(0), line))
    return toks


def parse_use_tree(toks, i, prefix, out):
    """Parses one use tree at toks[i]; appends (segments, alias, glob, line)."""
    segs = list(prefix)
    line = toks[i][1] if i < len(toks) else 0
    while i < len(toks):
        t = toks[i][0]
        if t == "{":
            i += 1
            while i < len(toks) and toks[i][0] != "}":
                if toks[i][0] == ",":
                    i += 1
                    continue
                i = parse_use_tree(toks, i, segs, out)
            return i + 1
        if t == "*":
            out.append((segs, None, True, line))
            return i + 1
        if t == "::":
            i += 1
            continue
        if re.match(r"\$?[A-Za-z_]", t):
            if t == "as":
                alias = toks[i + 1][0]
                out.append((segs, alias, False, line))
                return i + 2
            segs = segs + [t]
            i += 1
            continue
        break  # ',' '}' ';'
    if segs:
        out.append((segs, None, False, line))
    return i


class FileScan:
    def __init__(self, rel, modpath):
        self.rel = rel
        self.modpath = modpath
        self.inline_mods = []  # module paths of inline `mod x { … }`
        self.uses = []  # (context module path, segments, alias, glob, line)
        self.paths = []  # (context module path, segments, line)


def scan_file(rel, modpath, text):
    fs = FileScan(rel, modpath)
    toks = tokenize(strip_cfg_test(sanitize(text)))
    stack = [(modpath, 0)]
    depth = 0
    i = 0
    while i < len(toks):
        t, line = toks[i]
        cur = stack[-1][0]
        prev = toks[i - 1][0] if i else ""
        if t == "{":
            depth += 1
        elif t == "}":
            if len(stack) > 1 and depth == stack[-1][1]:
                stack.pop()
            depth -= 1
        elif t == "mod" and i + 2 < len(toks) and toks[i + 2][0] == "{":
            inner = cur + (toks[i + 1][0],)
            fs.inline_mods.append(inner)
            stack.append((inner, depth + 1))
            i += 2
            continue
        elif t == "use" and prev != "::":
            out = []
            j = parse_use_tree(toks, i + 1, [], out)
            for segs, alias, glob, ln in out:
                fs.uses.append((cur, segs, alias, glob, ln))
            while j < len(toks) and toks[j][0] != ";":
                j += 1
            i = j + 1
            continue
        elif prev != "::" and i + 1 < len(toks) and toks[i + 1][0] == "::" and re.match(r"\$?[A-Za-z_]", t):
            segs = [t]
            j = i + 1
            while j + 1 < len(toks) and toks[j][0] == "::" and re.match(r"[A-Za-z_]", toks[j + 1][0]):
                segs.append(toks[j + 1][0])
                j += 2
            fs.paths.append((cur, segs, line))
            i = j
            continue
        i += 1
    return fs


# --------------------------------------------------------------------------
# The crate's modules and the resolution of paths.


def module_path(rel):
    parts = rel[:-3].split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        return ()
    return tuple(parts)


class Crate:
    def __init__(self, scans):
        self.file_of = {}  # module path -> file
        self.reexports = {}  # module path -> {name: (context, segments)}
        for fs in scans:
            self.file_of[fs.modpath] = fs.rel
            for m in fs.inline_mods:
                self.file_of[m] = fs.rel
        for fs in scans:
            for ctx, segs, alias, glob, _ in fs.uses:
                if glob:
                    continue
                name = alias or segs[-1]
                if name == "self":
                    name = segs[-2] if len(segs) > 1 else name
                    segs = segs[:-1]
                if name == "_":
                    continue
                self.reexports.setdefault(ctx, {})[name] = segs

    def absolute(self, ctx, segs):
        """The absolute segments of a path written in module ctx, or None (extern)."""
        first = segs[0]
        if first in ("crate", "$crate"):
            return list(segs[1:])
        if first == "super":
            base = list(ctx)
            k = 0
            while k < len(segs) and segs[k] == "super":
                base = base[:-1]
                k += 1
            return base + list(segs[k:])
        if first == "self":
            return list(ctx) + list(segs[1:])
        if tuple(ctx) + (first,) in self.file_of:  # a child module, by its name
            return list(ctx) + list(segs)
        return None

    def resolve(self, ctx, segs, seen=0):
        """The deepest module a path leads to (through re-exports), or None."""
        if seen > 16:
            return None
        ab = self.absolute(ctx, segs)
        if ab is None:
            return None
        m = ()
        for k, s in enumerate(ab):
            if s == "self":
                continue
            if m + (s,) in self.file_of:
                m = m + (s,)
                continue
            target = self.reexports.get(m, {}).get(s)
            if target:
                r = self.resolve(m, list(target) + list(ab[k + 1:]), seen + 1)
                if r is not None:
                    return r
            break
        return m


def file_aliases(crate, fs):
    """Names brought in by the file's use statements: name -> (context, segments)."""
    al = {}
    for ctx, segs, alias, glob, _ in fs.uses:
        if glob:
            continue
        name = alias or segs[-1]
        s = segs
        if name == "self" and len(segs) > 1:
            name, s = segs[-2], segs[:-1]
        if crate.absolute(ctx, s) is not None:
            al[name] = (ctx, s)
    return al


def collect_edges(crate, scans):
    edges = {}  # (from file, to file) -> [(line, text)]
    for fs in scans:
        if fs.rel == "main.rs":
            continue
        al = file_aliases(crate, fs)
        found = []
        for ctx, segs, alias, glob, line in fs.uses:
            if crate.absolute(ctx, segs) is None:
                continue
            if not glob and (alias or segs[-1]) != "self":
                r = crate.resolve(ctx, segs)
                # A use that names a module only brings a name in; the paths
                # written with it below say what is used.
                ab = crate.absolute(ctx, segs)
                if r is not None and tuple(x for x in ab if x != "self") == r:
                    continue
            found.append((crate.resolve(ctx, segs), line, "use " + "::".join(segs) + ("::*" if glob else "")))
        for ctx, segs, line in fs.paths:
            if segs[0] in KEYWORD_ROOTS:
                found.append((crate.resolve(ctx, segs), line, "::".join(segs)))
            elif segs[0] in al:
                actx, asegs = al[segs[0]]
                found.append((crate.resolve(actx, list(asegs) + segs[1:]), line, "::".join(segs)))
        for target, line, what in found:
            if target is None:
                continue
            a = fs.modpath
            tfile = crate.file_of.get(target)
            tmod = module_path(tfile) if tfile else None
            if tmod is None:
                continue
            if tmod[: len(a)] == a or a[: len(tmod)] == tmod:
                continue  # self, an ancestor or a descendant
            edges.setdefault((fs.rel, tfile), []).append((line, what))
    return edges


# --------------------------------------------------------------------------
# Strongly connected components (Tarjan, iterative) and a cycle through each.


def sccs(nodes, succ):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ.get(root, ())))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(succ.get(w, ()))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def cycle_through(start, comp, succ):
    """A shortest cycle from start back to start inside comp (BFS)."""
    inside = set(comp)
    prev = {start: None}
    queue = [start]
    for v in queue:
        for w in sorted(succ.get(v, ())):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in inside and w not in prev:
                prev[w] = v
                queue.append(w)
    return [start]


def main(argv):
    show_edges = "--edges" in argv
    args = [a for a in argv if not a.startswith("--")]
    src = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    src = os.path.normpath(src)
    scans = []
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if f.endswith(".rs"):
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, src).replace(os.sep, "/")
                with open(full, encoding="utf-8") as fh:
                    scans.append(scan_file(rel, module_path(rel), fh.read()))
    scans.sort(key=lambda s: s.rel)
    crate = Crate(scans)
    edges = collect_edges(crate, scans)

    succ = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
    if show_edges:
        for (a, b), ev in sorted(edges.items()):
            print(f"{a} -> {b}: " + ", ".join(f"{ln} {w}" for ln, w in ev[:3]))

    problems = 0
    circles = [c for c in sccs([s.rel for s in scans], succ) if len(c) > 1]
    allowed = 0
    for comp in sorted(circles):
        path = cycle_through(comp[0], comp, succ)
        if any(set(comp) <= known for known in ALLOWED_CIRCLES):
            allowed += 1
            print(f"allowed circle ({len(comp)} files, see ALLOWED_CIRCLES): " + " -> ".join(path))
            continue
        problems += 1
        print(f"circle ({len(comp)} files): " + " -> ".join(path))
        inside = set(comp)
        for (a, b), ev in sorted(edges.items()):
            if a in inside and b in inside:
                ln, what = ev[0]
                more = f" (+{len(ev) - 1} more)" if len(ev) > 1 else ""
                print(f"    src/{a}:{ln} -> {b}   {what}{more}")

    def layer(rel):
        return rel.split("/")[0].split(".")[0]

    bad = sorted(
        (a, b, ev)
        for (a, b), ev in edges.items()
        if layer(a) not in EDGE_LAYERS and a not in ("lib.rs", "main.rs") and layer(b) in EDGE_LAYERS
    )
    for a, b, ev in bad:
        problems += 1
        ln, what = ev[0]
        print(f"core -> {layer(b)}: src/{a}:{ln} -> {b}   {what}")

    print(
        f"check_imports: {len(scans)} files, {len(edges)} arrows, "
        f"{len(circles) - allowed} circle(s) ({allowed} more allowed), "
        f"{len(bad)} arrow(s) from the core into app/render/cli"
        + (" - FAILED" if problems else " - ok")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
