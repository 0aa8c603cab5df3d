#!/usr/bin/env python3
"""Checks that building `api` alone, `bench` alone and the whole workspace
compile every dependency they share with the same features.

Cargo enables a dependency's features from the packages a command selects,
so `cargo run --release -p api` after `cargo run --release -p bench` (or
after `cargo build --release --workspace`) rebuilds every shared crate whose
features differ, and everything above it. `api/Cargo.toml` therefore names
the few features the others add (the workspace-hack pattern of cargo-hakari,
by hand: the list is short). Prints each difference and exits 1 if there is
any. Usage: tools/feature-drift.py
"""

import subprocess
import sys


def features(*selection: str) -> dict[str, set[str]]:
    """Package (name and version) -> the features a build of `selection` enables."""
    out = subprocess.run(
        ["cargo", "tree", *selection, "-e", "normal,build", "--prefix", "none", "--no-dedupe", "-f", "{p}|{f}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, set[str]] = {}
    for line in out.splitlines():
        if "|" not in line:
            continue
        package, feats = line.split("|", 1)
        name = " ".join(package.split()[:2])
        found.setdefault(name, set()).update(f for f in feats.strip().split(",") if f)
    return found


def main() -> int:
    api = features("-p", "api")
    drift = []
    for label, other in [("bench", features("-p", "bench")), ("the workspace", features("--workspace"))]:
        for name in sorted(api.keys() & other.keys()):
            if api[name] != other[name]:
                extra, missing = sorted(other[name] - api[name]), sorted(api[name] - other[name])
                drift.append(f"{name}: {label} adds {extra}, lacks {missing}")
    for line in drift:
        print(line)
    if drift:
        print("name the added features in api/Cargo.toml so -p api builds them too", file=sys.stderr)
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main())
