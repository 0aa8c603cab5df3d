#!/usr/bin/env python3
"""Lists the import cycles between the modules (files) of each crate.

A module depends on another when it names it through `crate::`, `super::`,
`self::` or a child's name (in a `use`; the first three inline too), test modules (`#[cfg(test)] mod x { … }`) left
out. Prints each strongly connected component of more than one module and
exits 1 if there is any. Usage: tools/module-cycles.py [CRATE_DIR …]
"""

import re
import sys
from pathlib import Path

CRATES = ["domain", "rules", "api", "workers", "entity", "migration"]


def modules(src: Path) -> dict[tuple[str, ...], Path]:
    """Module path (relative to the crate root) -> file."""
    out = {}
    for f in src.rglob("*.rs"):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        if f.relative_to(src).parts[0] == "bin":
            continue
        out[tuple(parts)] = f
    return out


def code(f: Path) -> str:
    text = f.read_text()
    text = re.sub(r"#\[cfg\(test\)\]\s*mod \w+ \{.*", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand(tree: str) -> list[str]:
    """`a::{b, c::{d, self}}` -> ["a::b", "a::c::d", "a::c"]."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    if "{" not in tree:
        return [re.sub(r"::self$", "", tree)]
    head, body = tree.split("{", 1)
    body = body[: body.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for part in parts if part for p in expand(head + part)]


def edges(mod: tuple[str, ...], text: str, known) -> set[tuple[str, ...]]:
    paths = [p for u in re.findall(r"\buse\s+([^;]+);", text) for p in expand(u)]
    paths += re.findall(r"\b(?:crate|super|self)(?:::\w+)+", re.sub(r"\buse\s+[^;]+;", "", text))
    out = set()
    for p in paths:
        segs = p.split("::")
        if segs[0] == "crate":
            base, rest = (), segs[1:]
        elif segs[0] in ("super", "self"):
            base = list(mod)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
            base, rest = tuple(base), segs
        elif mod + (segs[0],) in known:  # `use child::…` in a parent module
            base, rest = mod, segs
        else:
            continue
        target = base
        for s in rest:
            if base + (s,) in known:
                base = base + (s,)
                target = base
            else:
                break
        if target != mod and target in known:
            out.add(target)
    return out


def sccs(graph):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    root = Path(__file__).resolve().parent.parent
    found = False
    for crate in sys.argv[1:] or CRATES:
        src = root / crate / "src"
        if not src.is_dir():
            continue
        known = modules(src)
        graph = {}
        for mod, f in known.items():
            graph[mod] = edges(mod, code(f), known)
        for comp in sccs(graph):
            if len(comp) > 1:
                found = True
                names = sorted("::".join(m) or "(root)" for m in comp)
                print(f"{crate}: cycle of {len(comp)}: {', '.join(names)}")
    if not found:
        print("no module cycles")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
