#!/usr/bin/env python3
"""BENCHMARKS.md's tables from the last `make bench`: criterion's median of
each benchmark (its `estimates.json`), under target/criterion/ (or the
directory given as the only argument)."""
import json
import os
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "criterion")

# (group prefix, our subject, peer subject, peer label)
ROWS = [
    ("kv", "kv-session", "MemoryStore", "", "tower-sessions MemoryStore"),
    ("cookie-private", "cookie-session", "cookie-jar", "", "cookie PrivateJar (AES-256-GCM)"),
    ("cookie-private", "cookie-session", "cookie-jar-same-bytes", "-same-bytes",
     "cookie PrivateJar, same bytes"),
    ("cookie-signed", "cookie-session", "cookie-jar", "", "cookie SignedJar (HMAC-SHA256)"),
    ("cookie-signed", "cookie-session", "cookie-jar-same-bytes", "-same-bytes",
     "cookie SignedJar, same bytes"),
]
OPS = ["create", "load", "update", "touch", "destroy"]


def median(*parts):
    path = os.path.join(ROOT, *parts, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def shown(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def main():
    measured = {}
    print("| case | plugin (through the harness) | native peer | peer | ratio |")
    print("|---|---:|---|---:|---:|")
    for size in ["64", "1k", "3k"]:
        for group, ours, peer, suffix, label in ROWS:
            group_dir = f"{group}_{size}"
            # The floor is a seal and an open: its other rows add nothing.
            for op in OPS if not suffix else ["create", "load"]:
                o, p = median(group_dir, ours, op), median(group_dir, peer, op)
                measured[(group + suffix, size, op)] = (o, p)
                print(f"| {group}{suffix}.{op}.{size} | {shown(o)} | {label} | {shown(p)} | {o / p:.2f}x |")
    print()
    figures = [
        ("fresh instantiation", median("instance", "instantiate")),
        ("pooled call (info)", median("instance", "pooled-call")),
        ("cold load (compile)", median("load", "cold-compile")),
        ("cached load", median("load", "cached")),
    ]
    for name, ns in figures:
        print(f"{name}: {shown(ns)}")
    for op in ["load", "update"]:
        one, two = median("threads", f"kv-{op}-1k", "1"), median("threads", f"kv-{op}-1k", "2")
        print(f"{op} 1 KiB, 1 -> 2 threads: {shown(one)} -> {shown(two)} per op: {one / two:.2f}x")
    for g in ["cookie-private", "cookie-signed", "cookie-private-same-bytes", "cookie-signed-same-bytes"]:
        (c, pc), (l, pl) = measured[(g, "1k", "create")], measured[(g, "1k", "load")]
        print(f"{g} seal+open 1 KiB: ({shown(c)} + {shown(l)}) / ({shown(pc)} + {shown(pl)}) = {(c + l) / (pc + pl):.2f}x")


if __name__ == "__main__":
    main()
