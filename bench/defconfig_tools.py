#!/usr/bin/env python3
"""Measures `make defconfig` in a new build folder with the kept kconfig tools placed against without, side by side.

    python3 bench/defconfig_tools.py /path/to/unikraft            # 5 rounds, nolibc's options
    python3 bench/defconfig_tools.py /path/to/unikraft --runs 9 --library /path/to/lib-musl

Every run is a new build folder, as a cold build's: one where make builds conf and fixdep
(Unikraft's kconfig tools) with HOSTCC, one where `kconfig_tools` placed the pair a first run
kept. The two alternate so they share the machine's noise; the script prints medians and their
ratio, and checks that both made the same .config. It asserts nothing about times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from kraftld import kconfig_tools
from kraftld.plan import APP_FOLDER

# What kraftld's default nolibc Kraftfile configures (a cache entry's `defconfig`).
DEFCONFIG = """\
CONFIG_PLAT_KVM=y
CONFIG_KVM_VMM_QEMU=y
CONFIG_ARCH_X86_64=y
CONFIG_LIBUKBOOT_BANNER_NONE=y
CONFIG_LIBUKDEBUG_PRINTK_CRIT=y
CONFIG_LIBUKLIBPARAM=y
# CONFIG_LIBUKRANDOM is not set
CONFIG_DEBUG_SYMBOLS_LVL2=y
# CONFIG_LIBUKLIBID_INFO_COMPILEDATE is not set
CONFIG_STACK_SIZE_PAGE_ORDER=10
"""


def defconfig(unikraft: str, folder: Path, libraries: list[str]) -> tuple[float, bytes]:
    """`make defconfig` as kraftld runs it, in `folder`: seconds, and the .config it made."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "defconfig").write_text(DEFCONFIG)
    argv = ["make", "-C", unikraft, f"A={APP_FOLDER}", f"O={folder / 'build'}", f"C={folder / 'config'}", "N=app"]
    argv += [f"L={':'.join(libraries)}"] if libraries else []
    start = time.perf_counter()
    subprocess.run([*argv, f"UK_DEFCONFIG={folder / 'defconfig'}", "defconfig"], check=True, capture_output=True)
    return time.perf_counter() - start, (folder / "config").read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("unikraft", help="a Unikraft tree (read only)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--library", action="append", default=[], help="a library's folder (make's L=)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kraftld-defconfig-") as scratch:
        root = Path(scratch)
        store = str(root / "store")

        def tools(name: str) -> kconfig_tools.KconfigTools:
            return kconfig_tools.plan_tools(store, options.unikraft, str(root / name / "build"), os.environ)

        first = tools("first")
        placed = kconfig_tools.before_defconfig(first)
        defconfig(options.unikraft, root / "first", options.library)
        assert placed.keep_as is not None and kconfig_tools.keep(first, placed.keep_as), "no tools to keep"
        built: list[float] = []
        given: list[float] = []
        placing: list[float] = []
        configs: set[bytes] = set()
        for run in range(options.runs):
            seconds, config = defconfig(options.unikraft, root / f"built{run}", options.library)
            built.append(seconds)
            configs.add(config)
            start = time.perf_counter()  # kraftld's own part counts: the key's hashing and the copy
            assert kconfig_tools.before_defconfig(tools(f"given{run}")).placed, "the kept tools were not placed"
            placing.append(time.perf_counter() - start)
            seconds, config = defconfig(options.unikraft, root / f"given{run}", options.library)
            given.append(placing[-1] + seconds)
            configs.add(config)
    print(f"make defconfig in a new build folder, {options.runs} runs each, alternating:")
    print(f"  make builds the kconfig tools: median {statistics.median(built):.2f} s  {sorted(built)}")
    print(f"  kept tools placed:             median {statistics.median(given):.2f} s  {sorted(given)}")
    print(f"  of which the key and the copy: median {statistics.median(placing) * 1000:.1f} ms")
    print(f"  ratio placed/built: {statistics.median(given) / statistics.median(built):.2f}x")
    print(f"  the same .config every run: {len(configs) == 1}")


if __name__ == "__main__":
    main()
