#!/usr/bin/env python3
"""Measures what debug information and ccache cost and save, side by side in one run.

    python3 bench/std_relink.py --sources ~/uk-mirror                  # lib-musl (the std case)
    python3 bench/std_relink.py --unikraft ~/src/unikraft              # nolibc
    python3 bench/std_relink.py --unikraft … --sources … --runs 9      # both

kraftld is installed and called as in bench/relink.py (a fresh venv, its console script, the
venv first on PATH). For each configuration, in one run:

- warm relink after one object changed, interleaved run by run: kraftld (its fast relink, at
  kraftld's default -g2) vs today's floor (the final link steps Unikraft records with its own
  default debug level, -g3, replayed alone with sh) vs bare make with Unikraft's defaults (the
  same options, -g3, UK_LDFLAGS/UK_LDEPS, in a build folder of its own) — and kraftld's own
  floor (its recorded steps alone) for reference;
- cache entry sizes: kraftld's entry vs the -g3 build folder, and the prelinked libc;
- cold build of a second configuration, one Kconfig option apart from the first: kraftld with
  ccache (its store filled by the first configuration's build), kraftld without ccache, and bare
  make (kraftld's options, no ccache), each in an empty cache or build folder; and the first
  configuration again in a fresh KRAFTLD_CACHE with the same ccache store; ccache hit counts.

It prints medians, ratios, every run, and the issue's targets beside them; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from relink import (
    MUSL_KRAFTFILE,
    Setup,
    bare_make_setup,
    compile_object,
    floor_commands,
    install_kraftld,
    kraftld_env,
    kraftld_link,
    plan_of,
    replay_floor,
    run,
    timed,
)

# The options the second configuration sets: one more library (ukallocregion), which no other
# source reads (but uklibid numbers the libraries again: uk/bits/libid.h, which the object store
# compares by what each compile reaches of it); and one that a single source reads (bbuddy.c).
SECOND_OPTION = "CONFIG_LIBUKALLOCREGION"
THIRD_OPTION = "CONFIG_LIBUKALLOCBBUDDY_FREELIST_SANITY"
KRAFTLD_DEBUG_ROW = "CONFIG_DEBUG_SYMBOLS_LVL2=y"


def disk_usage(path: Path) -> int:
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            info = os.lstat(os.path.join(folder, name))
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def mb(size: int) -> str:
    return f"{size / (1 << 20):.0f} MB"


def ccache_hits(store: Path) -> tuple[int, int, int]:
    """ccache's direct-mode hits, preprocessor-mode hits (a cpp run each), misses so far."""
    out = run(["ccache", "--print-stats"], {**os.environ, "CCACHE_DIR": str(store)}).stdout
    stats = {k: int(v) for k, v in (line.split("\t") for line in out.splitlines())}
    return stats["direct_cache_hit"], stats["preprocessed_cache_hit"], stats["cache_miss"]


def since(after: tuple[int, int, int], before: tuple[int, int, int]) -> tuple[int, int, int]:
    return (after[0] - before[0], after[1] - before[1], after[2] - before[2])


def compiles_of(cache: Path) -> int:
    """The compiles of the one build in this cache (make's CC and AS lines)."""
    (entry,) = (cache / "builds").iterdir()
    lines = (entry / "build.log").read_text().splitlines()
    return sum(1 for line in lines if line.split()[:1] in (["CC"], ["AS"]))


def cold_kraftld(
    setup: Setup, args: list[str], cwd: Path, cache: Path, snapshot: Path, extra: dict[str, str]
) -> tuple[float, tuple[int, int, int], int, int]:
    """A cold kraftld build in an empty cache, its stores a fresh copy of `snapshot`:
    (seconds, ccache's (direct, preprocessed, misses), compiles the object store served, compiles)."""
    store = cache.with_name(cache.name + "-stores")
    shutil.copytree(snapshot, store, symlinks=True)
    before = ccache_hits(store)
    seconds = timed([setup.install.kraftld, *args], kraftld_env(setup, cache, {"CCACHE_DIR": str(store), **extra}), cwd)
    compiles, hits = compiles_of(cache), since(ccache_hits(store), before)
    return seconds, hits, compiles - sum(hits), compiles  # what the store did not serve went to ccache


def with_option(kraftfile: str | None, name: str = SECOND_OPTION) -> str:
    """The Kraftfile of another configuration: the first's, with option `name` set."""
    option = f"  kconfig:\n    {name}: y\n"
    if kraftfile is None:  # kraftld's embedded default: no libraries, qemu/x86_64
        return f"spec: v0.6\nname: app\nunikraft:\n{option}targets:\n  - qemu/x86_64\n"
    assert "unikraft:\n  version: stable\n" in kraftfile
    return kraftfile.replace("unikraft:\n  version: stable\n", f"unikraft:\n  version: stable\n{option}")


def bare_cold(setup: Setup, plan: dict[str, str], folder: Path, defconfig_text: str) -> tuple[float, list[str]]:
    """A bare make cold build (defconfig + build) with the given options; (seconds, build argv)."""
    defconfig, build = bare_make_setup(setup, {**plan, "defconfig": defconfig_text}, folder)
    started = time.perf_counter()
    run(defconfig, setup.environ)
    run(build, setup.environ)
    return time.perf_counter() - started, build


def bench(setup: Setup, kraftfile: str | None, runs: int) -> dict[str, object]:
    work = setup.work
    main_o = work / "main.o"
    compile_object(main_o, "main")
    args = [str(main_o), "-o", str(work / "image")]
    store = work / "ccache-store"
    cache = work / "cache"
    with_ccache = {"CCACHE_DIR": str(store), "KRAFTLD_CCACHE": "1"}
    figures: dict[str, object] = {}

    # The first configuration, cold: kraftld (filling the ccache store), and bare make with
    # Unikraft's defaults (kraftld's options without its debug level row: -g3).
    started = time.perf_counter()
    run([setup.install.kraftld, *args], kraftld_env(setup, cache, with_ccache), work)
    figures["cold_first_kraftld"] = time.perf_counter() - started
    kraftld_link(setup, args, cache)  # records the final steps for fast relinks
    plan = plan_of(setup, args, cache)
    defaults = "\n".join(line for line in plan["defconfig"].splitlines() if line != KRAFTLD_DEBUG_ROW)
    figures["cold_first_bare_g3"], make_g3 = bare_cold(setup, plan, work / "bare-g3", defaults)
    (entry,) = (cache / "builds").iterdir()
    figures["entry_kraftld"] = disk_usage(entry)
    figures["entry_g3"] = disk_usage(work / "bare-g3")
    for name, folder in (("libc_kraftld", entry / "build"), ("libc_g3", work / "bare-g3" / "build")):
        libc = folder / "libmusl.o"
        figures[name] = libc.stat().st_size if libc.exists() else 0

    # Warm relinks, interleaved.
    fast: list[float] = []
    floor_g3: list[float] = []
    make_g3_runs: list[float] = []
    floor_kraftld: list[float] = []
    steps_g3 = floor_commands(work / "bare-g3" / "build")
    steps_kraftld = floor_commands(entry / "build")
    for index in range(runs):
        compile_object(main_o, f"main{index}")
        fast.append(kraftld_link(setup, args, cache))
        floor_g3.append(replay_floor(steps_g3, setup.environ, work / "bare-g3" / "build"))
        os.utime(main_o)
        make_g3_runs.append(timed(make_g3, setup.environ))
        floor_kraftld.append(replay_floor(steps_kraftld, setup.environ, entry / "build"))
    figures.update(relink_kraftld=fast, floor_g3=floor_g3, make_g3=make_g3_runs, floor_kraftld=floor_kraftld)

    # The second configuration, one option apart, cold: as kraftld is, with ccache alone, without
    # either, bare make; each kraftld build from a copy of the stores the first one left.
    snapshot = work / "stores-after-first"
    shutil.copytree(store, snapshot, symlinks=True)
    objects_on = {"KRAFTLD_CCACHE": "1"}
    ccache_only = {"KRAFTLD_CCACHE": "1", "KRAFTLD_OBJECTS": "0"}
    for key, option in (("second", SECOND_OPTION), ("third", THIRD_OPTION)):
        other = work / key
        other.mkdir()
        (other / "Kraftfile").write_text(with_option(kraftfile, option))
        args2 = [str(main_o), "-o", str(other / "image")]
        cache_s = work / f"cache-{key}-s"
        seconds, hits, served, compiles = cold_kraftld(setup, args2, other, cache_s, snapshot, objects_on)
        figures[f"cold_{key}_store"], figures[f"{key}_store_hits"] = seconds, hits
        figures[f"{key}_served"] = (served, compiles)
        if key == "second":
            seconds, hits, _, _ = cold_kraftld(setup, args2, other, work / f"cache-{key}-c", snapshot, ccache_only)
            figures[f"cold_{key}_ccache"], figures[f"{key}_hits"] = seconds, hits
            figures[f"cold_{key}_plain"] = timed(
                [setup.install.kraftld, *args2],
                kraftld_env(setup, work / f"cache-{key}-p", {"KRAFTLD_CCACHE": "0"}),
                other,
            )
        other_setup = Setup(setup.name, setup.environ, other, setup.install)
        plan2 = plan_of(other_setup, args2, cache_s)  # built: its staged inputs are there
        figures[f"cold_{key}_bare"], _ = bare_cold(other_setup, plan2, work / f"bare-{key}", plan2["defconfig"])

    # The first configuration again, in a fresh KRAFTLD_CACHE sharing the stores, and its bare make.
    seconds, hits, served, compiles = cold_kraftld(setup, args, work, work / "cache-fresh-s", snapshot, objects_on)
    figures["cold_fresh_store"], figures["fresh_store_hits"] = seconds, hits
    figures["fresh_served"] = (served, compiles)
    seconds, hits, _, _ = cold_kraftld(setup, args, work, work / "cache-fresh-c", snapshot, ccache_only)
    figures["cold_fresh_cache_ccache"], figures["fresh_hits"] = seconds, hits
    figures["cold_first_bare"], _ = bare_cold(setup, plan, work / "bare-first", plan["defconfig"])
    return figures


def report(name: str, f: dict[str, object]) -> None:
    def seconds(key: str) -> float:
        value = f[key]
        if isinstance(value, list):
            return float(statistics.median(value))
        assert isinstance(value, float)
        return value

    def hits(key: str) -> str:
        value = f[key]
        assert isinstance(value, tuple)
        direct, preprocessed, misses = (int(v) for v in value)
        total = direct + preprocessed + misses
        return (
            f"    ccache: {direct} direct-mode hits, {preprocessed} preprocessor-mode hits, {misses} misses"
            f" ({100 * (direct + preprocessed) / max(1, total):.0f} % hits)"
        )

    def runs(key: str) -> str:
        value = f[key]
        assert isinstance(value, list)
        return " ".join(f"{v:.3f}" for v in value)

    def line(label: str, value: str, target: str = "") -> None:
        print(f"  {label:62} {value:>14}  {target}")

    def size(key: str) -> int:
        value = f[key]
        assert isinstance(value, int)
        return value

    print(f"\n{name}")
    line("warm relink, kraftld (-g2, fast relink; median)", f"{seconds('relink_kraftld'):.3f} s")
    line("warm relink, today's floor (Unikraft's -g3 recorded steps)", f"{seconds('floor_g3'):.3f} s")
    line("warm relink, bare make with Unikraft's defaults (-g3)", f"{seconds('make_g3'):.3f} s")
    line("warm relink, kraftld's own floor (-g2 recorded steps)", f"{seconds('floor_kraftld'):.3f} s")
    line("  kraftld / today's floor", f"{seconds('relink_kraftld') / seconds('floor_g3'):.2f}x", "target <= 0.30x")
    line("  kraftld / bare make (-g3)", f"{seconds('relink_kraftld') / seconds('make_g3'):.2f}x")
    print(f"    kraftld runs:       {runs('relink_kraftld')}")
    print(f"    today's floor runs: {runs('floor_g3')}")
    print(f"    bare make runs:     {runs('make_g3')}")
    print(f"    kraftld floor runs: {runs('floor_kraftld')}")
    line("cache entry: kraftld (-g2)", mb(size("entry_kraftld")), "target <= 300 MB (musl)")
    line("build folder: Unikraft's defaults (-g3)", mb(size("entry_g3")))
    if size("libc_g3"):
        libc = f"{mb(size('libc_kraftld'))} / {mb(size('libc_g3'))}"
        line("prelinked libmusl.o: kraftld / Unikraft's defaults", libc)
    line("cold build, first configuration: kraftld (filling ccache)", f"{seconds('cold_first_kraftld'):.1f} s")
    line("cold build, first configuration: bare make (-g3)", f"{seconds('cold_first_bare_g3'):.1f} s")

    def served(key: str) -> str:
        value = f[key]
        assert isinstance(value, tuple)
        return f"    object store: served {value[0]} of {value[1]} compiles (the others went to ccache)"

    bare = seconds("cold_second_bare")
    line(f"cold build, second configuration ({SECOND_OPTION}): bare make", f"{bare:.1f} s")
    line("  kraftld (object store and ccache)", f"{seconds('cold_second_store'):.1f} s")
    line("  kraftld with ccache alone (KRAFTLD_OBJECTS=0)", f"{seconds('cold_second_ccache'):.1f} s")
    line("  kraftld without either (KRAFTLD_CCACHE=0)", f"{seconds('cold_second_plain'):.1f} s")
    line("  kraftld / bare make", f"{seconds('cold_second_store') / bare:.2f}x", "target <= 0.35x")
    line("  with ccache alone / bare make", f"{seconds('cold_second_ccache') / bare:.2f}x")
    line("  without either / bare make", f"{seconds('cold_second_plain') / bare:.2f}x")
    print(served("second_served"))
    print(hits("second_store_hits"))
    print(hits("second_hits").replace("ccache:", "ccache alone:"))
    third = seconds("cold_third_bare")
    line(f"cold build, third configuration ({THIRD_OPTION}): bare make", f"{third:.1f} s")
    line("  kraftld (object store and ccache)", f"{seconds('cold_third_store'):.1f} s")
    line("  kraftld / bare make", f"{seconds('cold_third_store') / third:.2f}x", "target <= 0.35x")
    print(served("third_served"))
    print(hits("third_store_hits"))
    first = seconds("cold_first_bare")
    line("cold build, first configuration: bare make (kraftld's options)", f"{first:.1f} s")
    line("  kraftld in a fresh KRAFTLD_CACHE (object store and ccache)", f"{seconds('cold_fresh_store'):.1f} s")
    line("  kraftld in a fresh KRAFTLD_CACHE, ccache alone", f"{seconds('cold_fresh_cache_ccache'):.1f} s")
    line("  kraftld / bare make", f"{seconds('cold_fresh_store') / first:.2f}x", "target <= 0.35x")
    line("  ccache alone / bare make", f"{seconds('cold_fresh_cache_ccache') / first:.2f}x")
    print(served("fresh_served"))
    print(hits("fresh_store_hits"))
    print(hits("fresh_hits").replace("ccache:", "ccache alone:"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unikraft", help="a Unikraft tree: benchmark the nolibc helloworld")
    parser.add_argument("--sources", help="an offline mirror (unikraft/, lib-musl/, archives/): benchmark lib-musl")
    parser.add_argument("--runs", type=int, default=7, help="warm relinks per tool (default 7)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to install kraftld for")
    options = parser.parse_args()
    if not options.unikraft and not options.sources:
        parser.error("give --unikraft, --sources, or both")
    if shutil.which("ccache") is None:
        parser.error("ccache is not installed (Debian: apt-get install ccache)")
    with tempfile.TemporaryDirectory(prefix="kraftld-bench-env-") as env_folder:
        install = install_kraftld(options.python, Path(env_folder))
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("KRAFTLD_", "VIRTUAL_ENV", "CCACHE_", "DISTCC_"))
        }
        base["PATH"] = f"{install.bin}{os.pathsep}{base.get('PATH', '')}"
        base["VIRTUAL_ENV"] = str(install.bin.parent)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
        configs: list[tuple[str, dict[str, str], str | None]] = []
        if options.unikraft:
            configs.append(
                (
                    "nolibc helloworld",
                    {"KRAFTLD_UNIKRAFT": options.unikraft, "BENCH_UNIKRAFT_TREE": options.unikraft},
                    None,
                )
            )
        if options.sources:
            tree = str(Path(options.sources) / "unikraft")
            configs.append(
                ("lib-musl", {"KRAFTLD_SOURCES": options.sources, "BENCH_UNIKRAFT_TREE": tree}, MUSL_KRAFTFILE)
            )
        for name, extra, kraftfile in configs:
            with tempfile.TemporaryDirectory(prefix="kraftld-bench-") as folder:
                work = Path(folder)
                if kraftfile:
                    (work / "Kraftfile").write_text(kraftfile)
                setup = Setup(name, {**base, **extra}, work, install)
                report(name, bench(setup, kraftfile, options.runs))
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
