#!/usr/bin/env python3
"""Measures a C project's `CC=kraftld-cc ./configure` and `make` under kraftld-cc's variants, side by side in one run.

    KRAFTLD_SOURCES=~/unikraft-mirror python3 bench/cc_project.py ~/src/zlib-1.2.13 --before ~/kraftld-old/src

Each round copies the project afresh and builds it once per variant, interleaved so they share
the machine's noise:
- `before`: the kraftld-cc of another checkout (`--before SRC`, its `src` folder, run with
  PYTHONPATH), e.g. one without the note and without ccache — only with --before;
- `no ccache`: this kraftld-cc with KRAFTLD_CCACHE=0 (the note, no compiler cache);
- `fresh store`: with ccache, its store (CCACHE_DIR) new for the round: every compile a miss;
- `warm store`: with ccache, a store the unmeasured first round filled: make's compiles are hits
  (configure's probes are mostly misses: their file names hold configure's process id, which gcc
  writes into the object).
The configuration is warmed in the first round too (built if the cache has not got it). It prints,
for configure and for make, the median wall time and the median CPU time of all processes
(user + system, which the machine's load disturbs less than wall time), and ratios to the first
variant. It asserts nothing: read the ratios, rerun when in doubt.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) of one command, which must succeed."""
    cpu = children_cpu()
    start = time.perf_counter()
    completed = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}:\n{completed.stderr.decode(errors='replace')[-3000:]}")
    return wall, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("project", type=Path, help="the unpacked source folder (copied, never changed)")
    parser.add_argument("--before", type=Path, help="the src folder of another kraftld checkout to compare with")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="make -j")
    parser.add_argument("--configure", default="./configure", help="the configure command (split on spaces)")
    options = parser.parse_args()
    if shutil.which("kraftld-cc") is None:
        raise SystemExit("kraftld-cc is not on PATH")
    with tempfile.TemporaryDirectory(prefix="kraftld-cc-project-") as name:
        work = Path(name)
        # `before` runs another checkout's kraftld-cc through a wrapper of its own on PATH
        before_bin = work / "before-bin"
        before_bin.mkdir()
        (before_bin / "kraftld-cc").write_text(f'#!/bin/sh\nexec {sys.executable} -m kraftld.cc "$@"\n')
        (before_bin / "kraftld-cc").chmod(0o755)
        base = {**os.environ, "CC": "kraftld-cc"}
        warm_store = work / "ccache-warm"
        variants: dict[str, dict[str, str]] = {}
        if options.before:
            variants["before"] = {
                **base,
                "PYTHONPATH": str(options.before.resolve()),
                "PATH": f"{before_bin}{os.pathsep}{base['PATH']}",
                "KRAFTLD_CCACHE": "0",
            }
        variants["no ccache"] = {**base, "KRAFTLD_CCACHE": "0"}
        variants["fresh store"] = {**base, "KRAFTLD_CCACHE": "1"}  # CCACHE_DIR set per round below
        variants["warm store"] = {**base, "KRAFTLD_CCACHE": "1", "CCACHE_DIR": str(warm_store)}
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_ in range(options.runs + 1):
            for variant, env in variants.items():
                if variant == "fresh store":
                    env = {**env, "CCACHE_DIR": str(work / f"ccache-fresh-{round_}")}
                tree = work / "tree"
                shutil.rmtree(tree, ignore_errors=True)
                shutil.copytree(options.project, tree, symlinks=True)
                configure = timed(options.configure.split(), tree, env)
                make = timed(["make", f"-j{options.jobs}"], tree, env)
                if round_:  # the first round warms the configuration and the warm store
                    figures.setdefault((variant, "configure"), []).append(configure)
                    figures.setdefault((variant, "make"), []).append(make)
                    print(
                        f"round {round_} {variant:12} configure {configure[0]:6.1f} s  make {make[0]:6.1f} s",
                        flush=True,
                    )
    print(f"medians of {options.runs} rounds (wall / CPU of all processes):")
    for step in ("configure", "make"):
        first = None
        for variant in variants:
            wall = statistics.median(w for w, _ in figures[(variant, step)])
            cpu = statistics.median(c for _, c in figures[(variant, step)])
            first = first or (wall, cpu)
            ratio = f"{wall / first[0]:5.2f}x / {cpu / first[1]:5.2f}x"
            print(f"  {step:9} {variant:12} {wall:6.1f} s / {cpu:6.1f} s   {ratio}")


if __name__ == "__main__":
    main()
