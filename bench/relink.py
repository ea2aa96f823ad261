#!/usr/bin/env python3
"""Measures kraftld's links against bare make and against the floor, side by side in one run.

    python3 bench/relink.py --unikraft ~/src/unikraft            # the nolibc helloworld
    python3 bench/relink.py --sources ~/unikraft-mirror           # lib-musl (offline mirror)
    python3 bench/relink.py --unikraft … --sources … --runs 9     # both

For each configuration, on one warm cache, in one run:
- warm relink after one object changed: kraftld (its fast relink) vs bare make with the same
  UK_LDFLAGS/UK_LDEPS in a build folder of its own (what a user does by hand) vs the floor
  (the four final link commands Unikraft recorded, replayed alone with sh, as make runs them);
  the three are interleaved, run after run, so they share the machine's noise;
- cold build: kraftld on an empty cache vs bare make on an empty build folder (same options);
- six links sharing one configuration, started together (like `cargo test --no-run`), vs six
  independent builds, one after another (measured with --six-cold, otherwise 6 x the cold build);
- `kraftld --version` start-up, with Python's own start-up beside it, and kraftld's own peak
  memory (its process alone, not make's) in a warm relink and in a cold build.

It prints medians and ratios, and the issue's targets beside them; it asserts nothing (the
machine is noisy: read the ratios, rerun when in doubt).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "tests" / "programs" / "behave.c"
MUSL_KRAFTFILE = """\
spec: v0.6
name: bench
unikraft:
  version: stable
libraries:
  musl:
    version: stable
targets:
  - qemu/x86_64
"""
# kraftld's own process, its peak resident memory printed as the last line (KiB).
MEASURE_SELF = (
    "import resource, sys\n"
    "from kraftld.cli import main\n"
    "status = main(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(status)\n"
)


@dataclass
class Setup:
    name: str
    environ: dict[str, str]
    work: Path


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    run(argv, env, cwd)
    return time.perf_counter() - started


def compile_object(output: Path, name: str) -> None:
    subprocess.run(
        [
            "gcc",
            "-c",
            "-O2",
            "-fno-pic",
            "-fno-stack-protector",
            f'-DPROGRAM_NAME="{name}"',
            "-o",
            str(output),
            str(PROGRAM),
        ],
        check=True,
    )


def kraftld_run(setup: Setup, args: list[str], cache: Path, extra: dict[str, str] | None = None) -> tuple[float, int]:
    """Run kraftld; return (seconds, kraftld's own peak RSS in KiB)."""
    env = {**setup.environ, "KRAFTLD_CACHE": str(cache), **(extra or {})}
    started = time.perf_counter()
    result = run([sys.executable, "-c", MEASURE_SELF, *args], env, setup.work)
    seconds = time.perf_counter() - started
    return seconds, int(result.stderr.strip().splitlines()[-1])


def plan_of(setup: Setup, args: list[str], cache: Path) -> dict[str, str]:
    """The make command kraftld would run, from its dry run."""
    env = {**setup.environ, "KRAFTLD_CACHE": str(cache), "KRAFTLD_DRY_RUN": "1"}
    out = run([sys.executable, "-m", "kraftld", *args], env, setup.work).stdout
    build = next(shlex.split(line.strip()) for line in out.splitlines() if "UK_LDFLAGS=" in line)
    fields = dict(word.split("=", 1) for word in build if "=" in word and word.split("=", 1)[0].isupper())
    fields["defconfig"] = "\n".join(
        line[2:] for line in out.split("defconfig:\n", 1)[1].split("decisions:")[0].splitlines()
    )
    return fields


def bare_make_setup(setup: Setup, plan: dict[str, str], folder: Path) -> tuple[list[str], list[str]]:
    """A build folder of its own for bare make, configured like kraftld's: (defconfig, build) argv."""
    folder.mkdir(parents=True)
    (folder / "defconfig").write_text(plan["defconfig"] + "\n")
    build_dir = folder / "build"
    base = [
        "make",
        "-C",
        setup.environ["BENCH_UNIKRAFT_TREE"],
        f"A={plan['A']}",
        f"O={build_dir}",
        f"C={folder / 'config'}",
        f"N={plan['N']}",
    ]
    if "L" in plan:
        base.append(f"L={plan['L']}")
    archives = setup.environ.get("KRAFTLD_SOURCES")
    if archives:
        (build_dir / "libmusl").mkdir(parents=True)
        shutil.copy(Path(archives) / "archives" / "musl-1.2.3.tar.gz", build_dir / "libmusl")
    defconfig = [*base, f"UK_DEFCONFIG={folder / 'defconfig'}", "defconfig"]
    build = [*base, f"-j{os.cpu_count() or 1}", f"UK_LDFLAGS={plan['UK_LDFLAGS']}", f"UK_LDEPS={plan['UK_LDEPS']}"]
    return defconfig, build


def floor_commands(build_dir: Path) -> list[list[str]]:
    """Unikraft's recorded final link steps, run with sh as make runs them."""
    images = [p for p in build_dir.glob("*.dbg")]
    image = images[0].with_suffix("")
    scripts = [f"{image}.dbg.cmd", f"{image}.cmd", f"{image}.bootinfo.cmd", f"{image}.multiboot.cmd"]
    return [["sh", script] for script in scripts if os.path.exists(script)]


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench(setup: Setup, runs: int, six_cold: bool) -> dict[str, float]:
    work = setup.work
    objects = [work / f"p{i}.o" for i in range(6)]
    for i, obj in enumerate(objects):
        compile_object(obj, f"p{i}")
    main_o = work / "main.o"
    compile_object(main_o, "main")
    args = [str(main_o), "-o", str(work / "image")]
    cache = work / "cache"

    # Cold: kraftld on an empty cache, bare make on an empty folder (configured the same way).
    cold_kraftld, rss_cold = kraftld_run(setup, args, cache)
    plan = plan_of(setup, args, cache)
    bare = work / "bare"
    defconfig, build = bare_make_setup(setup, plan, bare)
    started = time.perf_counter()
    run(defconfig, setup.environ)
    run(build, setup.environ)
    cold_make = time.perf_counter() - started
    kraftld_run(setup, args, cache)  # the first relink records the final steps for fast relinks

    # Warm relinks after one object changed, interleaved.
    fast, make, floor, rss_warm = [], [], [], []
    steps = floor_commands(bare / "build")
    for index in range(runs):
        compile_object(main_o, f"main{index}")
        seconds, rss = kraftld_run(setup, args, cache)
        fast.append(seconds)
        rss_warm.append(rss)
        os.utime(main_o)
        make.append(timed(build, setup.environ))
        started = time.perf_counter()
        for step in steps:
            run(step, setup.environ, bare / "build")
        floor.append(time.perf_counter() - started)

    # Six links sharing one configuration, started together.
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "kraftld", str(obj), "-o", str(work / f"six{i}")],
            env={**setup.environ, "KRAFTLD_CACHE": str(cache)},
            cwd=work,
        )
        for i, obj in enumerate(objects)
    ]
    if any(child.wait() != 0 for child in children):
        raise SystemExit("a shared-configuration link failed")
    six_shared = time.perf_counter() - started
    if six_cold:
        started = time.perf_counter()
        for i, obj in enumerate(objects):
            kraftld_run(setup, [str(obj), "-o", str(work / f"alone{i}")], work / f"cache-alone{i}")
        six_alone = time.perf_counter() - started
    else:
        six_alone = 6 * cold_kraftld

    return {
        "cold_kraftld": cold_kraftld,
        "cold_make": cold_make,
        "relink_kraftld": median(fast),
        "relink_make": median(make),
        "relink_floor": median(floor),
        "six_shared": six_shared,
        "six_alone": six_alone,
        "six_alone_measured": float(six_cold),
        "rss_warm_mb": max(rss_warm) / 1024,
        "rss_cold_mb": rss_cold / 1024,
    }


def startup(runs: int) -> tuple[float, float, float, float]:
    """kraftld --version and bare Python, with site (as installed) and without (python -S).

    The second pair shows kraftld's own start-up apart from whatever the interpreter's site
    packages run at every start (`.pth` hooks).
    """
    script = shutil.which("kraftld")
    command = [script, "--version"] if script else [sys.executable, "-m", "kraftld", "--version"]
    package_parent = str(Path(__import__("kraftld").__file__).resolve().parent.parent)
    bare = [
        sys.executable,
        "-S",
        "-c",
        f"import sys; sys.path.insert(0, {package_parent!r}); from kraftld.cli import main; main(['--version'])",
    ]
    times: list[list[float]] = [[], [], [], []]
    for _ in range(runs):
        times[0].append(timed(command, dict(os.environ)))
        times[1].append(timed([sys.executable, "-c", "pass"], dict(os.environ)))
        times[2].append(timed(bare, dict(os.environ)))
        times[3].append(timed([sys.executable, "-S", "-c", "pass"], dict(os.environ)))
    return median(times[0]), median(times[1]), median(times[2]), median(times[3])


def report(name: str, r: dict[str, float]) -> None:
    def line(label: str, value: str, target: str = "") -> None:
        print(f"  {label:52} {value:>22}  {target}")

    print(f"\n{name}")
    line("warm relink, kraftld (median)", f"{r['relink_kraftld']:.3f} s")
    line("warm relink, bare make with UK_LDFLAGS/UK_LDEPS", f"{r['relink_make']:.3f} s")
    line("warm relink, floor (recorded final steps alone)", f"{r['relink_floor']:.3f} s")
    line("  kraftld / floor", f"{r['relink_kraftld'] / r['relink_floor']:.2f}x", "target <= 1.30x")
    line("  kraftld / bare make", f"{r['relink_kraftld'] / r['relink_make']:.2f}x", "target <= 0.50x")
    line("cold build, kraftld", f"{r['cold_kraftld']:.1f} s")
    line("cold build, bare make (defconfig + build)", f"{r['cold_make']:.1f} s")
    line("  kraftld / bare make", f"{r['cold_kraftld'] / r['cold_make']:.2f}x", "target <= 1.05x")
    line("six links sharing one configuration, together", f"{r['six_shared']:.2f} s")
    how = "measured" if r["six_alone_measured"] else "6 x cold build"
    line(f"six independent builds ({how})", f"{r['six_alone']:.1f} s")
    line("  shared / independent", f"{r['six_shared'] / r['six_alone']:.3f}x")
    line("kraftld's own peak memory, warm relink", f"{r['rss_warm_mb']:.1f} MB", "target <= 60 MB")
    line("kraftld's own peak memory, cold build", f"{r['rss_cold_mb']:.1f} MB", "target <= 60 MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unikraft", help="a Unikraft tree: benchmark the nolibc helloworld")
    parser.add_argument("--sources", help="an offline mirror (unikraft/, lib-musl/, archives/): benchmark lib-musl")
    parser.add_argument("--runs", type=int, default=7, help="warm relinks per tool (default 7)")
    parser.add_argument("--six-cold", action="store_true", help="really run six independent cold builds")
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()
    if not options.unikraft and not options.sources:
        parser.error("give --unikraft, --sources, or both")

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )
    version, python_floor, version_bare, python_bare = startup(21)
    print(
        f"start-up, medians of 21 (target <= 60 ms):\n"
        f"  kraftld --version {version * 1000:.0f} ms; python -c pass {python_floor * 1000:.0f} ms\n"
        f"  without site hooks (python -S): kraftld --version {version_bare * 1000:.0f} ms; "
        f"python -c pass {python_bare * 1000:.0f} ms"
    )
    # A regular install byte-compiles kraftld (pip does); an editable one under
    # PYTHONDONTWRITEBYTECODE never would, and every run would compile it afresh.
    import compileall

    compileall.compile_dir(str(Path(__import__("kraftld").__file__).parent), quiet=1)
    base = {k: v for k, v in os.environ.items() if not k.startswith("KRAFTLD_")}
    results: dict[str, dict[str, float]] = {}
    configs = []
    if options.unikraft:
        configs.append(
            ("nolibc helloworld", {"KRAFTLD_UNIKRAFT": options.unikraft, "BENCH_UNIKRAFT_TREE": options.unikraft}, None)
        )
    if options.sources:
        tree = str(Path(options.sources) / "unikraft")
        configs.append(("lib-musl", {"KRAFTLD_SOURCES": options.sources, "BENCH_UNIKRAFT_TREE": tree}, MUSL_KRAFTFILE))
    for name, extra, kraftfile in configs:
        with tempfile.TemporaryDirectory(prefix="kraftld-bench-") as folder:
            work = Path(folder)
            if kraftfile:
                (work / "Kraftfile").write_text(kraftfile)
            setup = Setup(name, {**base, **extra}, work)
            results[name] = bench(setup, options.runs, options.six_cold)
            report(name, results[name])
    if options.json:
        Path(options.json).write_text(json.dumps({"startup_s": version, "python_s": python_floor, **results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
