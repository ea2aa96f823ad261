#!/usr/bin/env python3
"""Measures what a configure probe costs through kraftld-cc, side by side with gcc and kraftld, in one run.

    KRAFTLD_SOURCES=~/unikraft-mirror python3 bench/cc_probe.py --runs 7

In a folder without a Kraftfile (kraftld-cc's default lib-musl configuration; give --kraftfile
FILE for another), on a warm cache (the first, unmeasured round builds the configuration if
needed), interleaved run after run so the three share the machine's noise:
- a compile probe: `kraftld-cc -c conftest.c` vs the host's `gcc -c conftest.c`;
- a link probe: `kraftld-cc conftest.c -o conftest` (compile and image) vs `kraftld conftest.o`
  (the same configuration's fast relink alone, on an object kraftld-cc compiled).
The `kraftld-cc`, `kraftld` and `gcc` on PATH are measured. It prints medians and ratios and
asserts nothing (the machine is noisy: read the ratios, rerun when in doubt).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

PROBE = '#include <stdio.h>\n#include <fcntl.h>\nint main(void) { return fcntl(0, F_GETFD) == -2 ? puts("x") : 0; }\n'


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kraftfile", type=Path, help="a Kraftfile for the probe's folder (default: none)")
    options = parser.parse_args()
    for tool in ("kraftld-cc", "kraftld", "gcc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH")
    with tempfile.TemporaryDirectory(prefix="kraftld-cc-bench-") as name:
        folder = Path(name)
        (folder / "conftest.c").write_text(PROBE)
        if options.kraftfile:
            shutil.copy(options.kraftfile, folder / "Kraftfile")
        runs: dict[str, list[float]] = {k: [] for k in ("cc -c", "gcc -c", "cc link", "kraftld link")}
        for round_ in range(options.runs + 1):
            figures = {
                "cc -c": timed(["kraftld-cc", "-c", "conftest.c", "-o", "cc.o"], folder),
                "gcc -c": timed(["gcc", "-c", "conftest.c", "-o", "gcc.o"], folder),
                "cc link": timed(["kraftld-cc", "conftest.c", "-o", "conftest"], folder),
                "kraftld link": timed(["kraftld", "cc.o", "-o", "conftest2"], folder),
            }
            if round_:  # the first round warms the cache (and may build the configuration)
                for key, value in figures.items():
                    runs[key].append(value)
    median = {key: statistics.median(values) for key, values in runs.items()}
    print(f"medians of {options.runs} runs:")
    for key, value in median.items():
        print(f"  {key:13} {value:6.3f} s")
    print(f"compile probe: kraftld-cc / gcc        {median['cc -c'] / median['gcc -c']:5.1f}x")
    print(f"link probe:    kraftld-cc / kraftld    {median['cc link'] / median['kraftld link']:5.2f}x")


if __name__ == "__main__":
    main()
