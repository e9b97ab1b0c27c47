#!/usr/bin/env python3
"""Checks that the modules of breaker-runtime depend on each other one way: no import
cycle. Prints the dependency graph (module -> modules it uses) and exits 1 on a cycle.

A module uses another when its non-test code (comments aside) names `crate::other` or an item that lib.rs
re-exports from `other` (`crate::CircuitBreaker` is `breaker`). Test modules and the loom
models are left out: tests may reach anywhere.
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "breaker-runtime" / "src"


def modules():
    """Module name -> source text without its test module."""
    lib = (SRC / "lib.rs").read_text()
    found = {}
    for m in re.finditer(r'(?:#\[path = "([^"]+)"\]\s*)?(?:pub(?:\(crate\))? )?mod (\w+);', lib):
        path, name = m.group(1), m.group(2)
        if name == "loom_models":
            continue
        file = SRC / (path or f"{name}.rs")
        text = file.read_text()
        cut = re.search(r"^#\[cfg\((?:all\()?test", text, re.M)
        text = text[: cut.start()] if cut else text
        # Comments, doc links among them, are not dependencies.
        found[name] = re.sub(r"//.*", "", text)
    return lib, found


def reexports(lib):
    """Item name -> the module lib.rs re-exports it from."""
    items = {}
    for m in re.finditer(r"pub use (\w+)::(\{[^}]*\}|\w+);", lib, re.S):
        module, names = m.group(1), m.group(2)
        for name in re.findall(r"\w+", names):
            items[name] = module
    return items


def graph():
    lib, found = modules()
    items = reexports(lib)
    deps = {}
    for name, text in found.items():
        used = set()
        # Paths and use trees: `crate::a::b`, `crate::{a, b::c}`.
        for m in re.finditer(r"crate::(\{[^;]*?\}|\w+)", text, re.S):
            for first in re.findall(r"(?:^|[{,]\s*)(\w+)", m.group(1)) or [m.group(1)]:
                target = first if first in found else items.get(first)
                if target and target != name:
                    used.add(target)
        deps[name] = sorted(used)
    return deps


def cycle(deps):
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in deps.get(node, []):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(deps):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def main():
    deps = graph()
    for name in sorted(deps):
        print(f"{name:14} -> {', '.join(deps[name]) or '-'}")
    found = cycle(deps)
    if found:
        print("import cycle: " + " -> ".join(found), file=sys.stderr)
        return 1
    print("no import cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
