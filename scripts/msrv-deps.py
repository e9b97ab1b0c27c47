#!/usr/bin/env python3
"""Checks that no dependency of the published crates needs a newer Rust than ours.

The workspace claims `rust-version` in Cargo.toml, and CI has only one (newer) toolchain,
so nothing compiles the crates with that version. Two checks stand in for it: clippy's
`incompatible_msrv` lint (our code calls no standard-library API newer than the claim),
and this script: every crate that `async-breaker`, `breaker-macros` or `breaker-runtime`
pulls in as a normal or build dependency (all features on, as locked in Cargo.lock)
declares a `rust-version` no newer than ours, or none at all (listed, not failed: such a
crate makes no claim to check). Dev-dependencies are not checked: users never build them.

    python3 scripts/msrv-deps.py      # exit 1 if a dependency needs a newer Rust
"""

import json
import subprocess
import sys

PUBLISHED = ("async-breaker", "breaker-macros", "breaker-runtime")


def version_tuple(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    roots = [i for i in metadata["workspace_members"] if packages[i]["name"] in PUBLISHED]
    ours = {packages[i]["rust_version"] for i in roots}
    if len(ours) != 1 or None in ours:
        sys.exit(f"the published crates should claim one rust-version, found {sorted(map(str, ours))}")
    claim = ours.pop()

    # Everything reachable from the published crates through normal and build edges.
    seen, stack = set(roots), list(roots)
    while stack:
        for dep in nodes[stack.pop()]["deps"]:
            if any(k["kind"] != "dev" for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])

    too_new, unclaimed = [], []
    for pid in sorted(seen - set(roots), key=lambda i: packages[i]["name"]):
        p = packages[pid]
        if p["rust_version"] is None:
            unclaimed.append(f"{p['name']} {p['version']}")
        elif version_tuple(p["rust_version"]) > version_tuple(claim):
            too_new.append(f"{p['name']} {p['version']} needs Rust {p['rust_version']}")

    print(f"rust-version {claim}: {len(seen) - len(roots)} dependencies checked")
    if unclaimed:
        print(f"  no rust-version declared (not checked): {', '.join(unclaimed)}")
    for line in too_new:
        print(f"  too new: {line}")
    if too_new:
        sys.exit(
            f"{len(too_new)} dependencies need a newer Rust than {claim}: pin an older "
            "version in Cargo.lock (`cargo update -p NAME --precise VERSION`) or raise the claim"
        )


if __name__ == "__main__":
    main()
