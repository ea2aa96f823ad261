#!/usr/bin/env python3
"""Measures what the cache bound's walk costs: every kind of item against the builds alone, side by side.

    python3 bench/cache_walk.py ~/.cache/kraftld             # 5 rounds
    python3 bench/cache_walk.py /path/to/cache --runs 9

After every full build, `cache_prune.prune` measures every item the bound covers (a walk over
each file: `disk_usage`) and reads the builds' records and the notes. Before the bound covered
clones, sysroots and notes, it walked the builds alone. This reads the cache only (it lists and
measures, removes nothing), alternating the two walks run after run so they share the machine's
noise, and prints medians and their ratio; it asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time
from collections.abc import Callable

from kraftld import cache_prune


def timed(walk: Callable[[], object]) -> float:
    start = time.perf_counter()
    walk()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", help="a kraftld cache folder (KRAFTLD_CACHE); only read")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    items = cache_prune.list_items(options.cache)  # also warms the file system's cache for both
    counts: collections.Counter[str] = collections.Counter(item.kind for item in items)
    sizes: collections.Counter[str] = collections.Counter()
    for item in items:
        sizes[item.kind] += item.size
    for kind in counts:
        print(f"{kind:10} {counts[kind]:5} items  {cache_prune.human(sizes[kind])}")
    times: dict[str, list[float]] = {"every": [], "builds": []}
    walks: list[tuple[str, Callable[[], object]]] = [
        ("every", lambda: cache_prune.list_items(options.cache)),
        ("builds", lambda: cache_prune.list_entries(options.cache)),
    ]
    for run in range(options.runs):
        for name, walk in walks if run % 2 == 0 else reversed(walks):
            times[name].append(timed(walk))
    every, builds = statistics.median(times["every"]), statistics.median(times["builds"])
    print(f"every kind: median {every:.2f} s; builds alone: median {builds:.2f} s; ratio {every / builds:.2f}x")
    print(f"({options.runs} runs each, alternating which goes first)")


if __name__ == "__main__":
    main()
