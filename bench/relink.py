#!/usr/bin/env python3
"""Measures kraftld's links against bare make and against the floor, side by side in one run.

    python3 bench/relink.py --unikraft ~/src/unikraft            # the nolibc helloworld
    python3 bench/relink.py --sources ~/unikraft-mirror           # lib-musl (offline mirror)
    python3 bench/relink.py --unikraft … --sources … --runs 9     # both

kraftld is measured as a user runs it: installed from this checkout into a fresh virtual
environment (as pipx would), its `kraftld` console script called, with the environment's bin
folder first on PATH (as `activate` does), so Unikraft's Python scripts (mkbootinfo.py,
multiboot.py) run on that interpreter too, for kraftld, bare make and the floor alike. The
interpreter the bench itself runs on only builds the wheel: its site hooks and version-manager
shims, which every process started through PATH would otherwise pay for, stay out of the figures.

For each configuration, on one warm cache, in one run:
- warm relink after one object changed: kraftld (its fast relink) vs bare make with the same
  UK_LDFLAGS/UK_LDEPS in a build folder of its own (what a user does by hand) vs the floor
  (the four final link commands Unikraft recorded, replayed alone with sh, as make runs them);
  the three are interleaved, run after run, so they share the machine's noise;
- cold build: kraftld on an empty cache vs bare make on an empty build folder (same options),
  --cold-runs times each, alternating which goes first;
- six links sharing one configuration, started together (like `cargo test --no-run`), vs six
  independent builds, one after another (measured with --six-cold, otherwise 6 x the cold build);
- `kraftld --version` start-up, with the environment's `python -c pass` beside it (and the
  bench's own interpreter's, for reference), and kraftld's own peak memory (its process alone,
  not make's) in a warm relink and in a cold build.

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


@dataclass(frozen=True)
class Install:
    """kraftld installed in a virtual environment of its own."""

    bin: Path

    @property
    def kraftld(self) -> str:
        return str(self.bin / "kraftld")

    @property
    def python(self) -> str:
        return str(self.bin / "python")


@dataclass(frozen=True)
class Setup:
    name: str
    environ: dict[str, str]
    work: Path
    install: Install


def install_kraftld(python: str, folder: Path) -> Install:
    """Install this checkout into a new virtual environment, as `pip install .` does."""
    venv = folder / "venv"
    run([python, "-m", "venv", str(venv)])
    install = Install(venv / "bin")
    # pip byte-compiles what it installs, as any regular install does.
    run([install.python, "-m", "pip", "install", "-q", str(ROOT)])
    return install


def run(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"failed: {shlex.join(argv)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
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


def kraftld_env(setup: Setup, cache: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**setup.environ, "KRAFTLD_CACHE": str(cache), **(extra or {})}


def kraftld_link(setup: Setup, args: list[str], cache: Path) -> float:
    """Run the installed `kraftld` as a compiler would; return the seconds it took."""
    return timed([setup.install.kraftld, *args], kraftld_env(setup, cache), setup.work)


def kraftld_measured(setup: Setup, args: list[str], cache: Path) -> tuple[float, int]:
    """Run kraftld's main in the same environment; return (seconds, its own peak RSS in KiB)."""
    started = time.perf_counter()
    result = run([setup.install.python, "-c", MEASURE_SELF, *args], kraftld_env(setup, cache), setup.work)
    seconds = time.perf_counter() - started
    return seconds, int(result.stderr.strip().splitlines()[-1])


def plan_of(setup: Setup, args: list[str], cache: Path) -> dict[str, str]:
    """The make command kraftld would run, from its dry run."""
    env = kraftld_env(setup, cache, {"KRAFTLD_DRY_RUN": "1"})
    out = run([setup.install.kraftld, *args], env, setup.work).stdout
    build = next(shlex.split(line.strip()) for line in out.splitlines() if "UK_LDFLAGS=" in line)
    fields = dict(word.split("=", 1) for word in build if "=" in word and word.split("=", 1)[0].isupper())
    fields["defconfig"] = "\n".join(
        line[2:] for line in out.split("defconfig:\n", 1)[1].split("decisions:")[0].splitlines()
    )
    return fields


def bare_make_setup(setup: Setup, plan: dict[str, str], folder: Path) -> tuple[list[str], list[str]]:
    """A build folder of its own for bare make, configured like kraftld's: (defconfig, build) argv."""
    shutil.rmtree(folder, ignore_errors=True)
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


def replay_floor(steps: list[list[str]], env: dict[str, str], build_dir: Path) -> float:
    """Seconds to run a build folder's recorded final steps once: the floor a relink is held to."""
    started = time.perf_counter()
    for step in steps:
        run(step, env, build_dir)
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench(setup: Setup, runs: int, cold_runs: int, six_cold: bool) -> dict[str, float | list[float]]:
    work = setup.work
    objects = [work / f"p{i}.o" for i in range(6)]
    for i, obj in enumerate(objects):
        compile_object(obj, f"p{i}")
    main_o = work / "main.o"
    compile_object(main_o, "main")
    args = [str(main_o), "-o", str(work / "image")]
    cache = work / "cache"
    bare = work / "bare"

    # Cold: kraftld on an empty cache, bare make on an empty folder (configured the same way),
    # alternating which goes first. The last kraftld cache and bare folder stay for what follows.
    cold_kraftld: list[float] = []
    cold_make: list[float] = []
    rss_cold = 0
    plan: dict[str, str] = {}
    build: list[str] = []
    for index in range(cold_runs):
        order = ("kraftld", "make") if index % 2 == 0 else ("make", "kraftld")
        for tool in order:
            if tool == "kraftld":
                shutil.rmtree(cache, ignore_errors=True)
                seconds, rss = kraftld_measured(setup, args, cache)
                cold_kraftld.append(seconds)
                rss_cold = max(rss_cold, rss)
            else:
                plan = plan or plan_of(setup, args, cache)  # its app folder is in the cache
                defconfig, build = bare_make_setup(setup, plan, bare)
                started = time.perf_counter()
                run(defconfig, setup.environ)
                run(build, setup.environ)
                cold_make.append(time.perf_counter() - started)
    kraftld_link(setup, args, cache)  # the first relink records the final steps for fast relinks

    # Warm relinks after one object changed, interleaved.
    fast, make, floor = [], [], []
    steps = floor_commands(bare / "build")
    for index in range(runs):
        compile_object(main_o, f"main{index}")
        fast.append(kraftld_link(setup, args, cache))
        os.utime(main_o)
        make.append(timed(build, setup.environ))
        floor.append(replay_floor(steps, setup.environ, bare / "build"))
    compile_object(main_o, "main-rss")
    _, rss_warm = kraftld_measured(setup, args, cache)

    # Six links sharing one configuration, started together.
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [setup.install.kraftld, str(obj), "-o", str(work / f"six{i}")],
            env=kraftld_env(setup, cache),
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
            kraftld_link(setup, [str(obj), "-o", str(work / f"alone{i}")], work / f"cache-alone{i}")
        six_alone = time.perf_counter() - started
    else:
        six_alone = 6 * median(cold_kraftld)

    return {
        "cold_kraftld": median(cold_kraftld),
        "cold_make": median(cold_make),
        "cold_kraftld_runs": cold_kraftld,
        "cold_make_runs": cold_make,
        "relink_kraftld": median(fast),
        "relink_make": median(make),
        "relink_floor": median(floor),
        "relink_kraftld_runs": fast,
        "relink_floor_runs": floor,
        "six_shared": six_shared,
        "six_alone": six_alone,
        "six_alone_measured": float(six_cold),
        "rss_warm_mb": rss_warm / 1024,
        "rss_cold_mb": rss_cold / 1024,
    }


def startup(install: Install, environ: dict[str, str], runs: int) -> dict[str, float]:
    """`kraftld --version` and `python -c pass` in kraftld's environment, and the bench's own
    interpreter's start for reference, interleaved; medians in seconds."""
    commands = {
        "kraftld_version": [install.kraftld, "--version"],
        "python": [install.python, "-c", "pass"],
        "bench_python": [sys.executable, "-c", "pass"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(timed(argv, environ))
    return {name: median(values) for name, values in times.items()}


def report(name: str, r: dict[str, float | list[float]]) -> None:
    f = {k: v for k, v in r.items() if isinstance(v, float)}

    def line(label: str, value: str, target: str = "") -> None:
        print(f"  {label:52} {value:>22}  {target}")

    def runs(key: str, digits: int) -> str:
        values = r[key]
        assert isinstance(values, list)
        return " ".join(f"{v:.{digits}f}" for v in values)

    print(f"\n{name}")
    line("warm relink, kraftld (median)", f"{f['relink_kraftld']:.3f} s")
    line("warm relink, bare make with UK_LDFLAGS/UK_LDEPS", f"{f['relink_make']:.3f} s")
    line("warm relink, floor (recorded final steps alone)", f"{f['relink_floor']:.3f} s")
    line("  kraftld / floor", f"{f['relink_kraftld'] / f['relink_floor']:.2f}x", "target <= 1.30x")
    line("  kraftld / bare make", f"{f['relink_kraftld'] / f['relink_make']:.2f}x", "target <= 0.50x")
    print(f"    kraftld runs: {runs('relink_kraftld_runs', 3)}")
    print(f"    floor runs:   {runs('relink_floor_runs', 3)}")
    line("cold build, kraftld (median)", f"{f['cold_kraftld']:.1f} s")
    line("cold build, bare make, defconfig + build (median)", f"{f['cold_make']:.1f} s")
    line("  kraftld / bare make", f"{f['cold_kraftld'] / f['cold_make']:.2f}x", "target <= 1.05x")
    print(f"    kraftld runs: {runs('cold_kraftld_runs', 1)}; bare make runs: {runs('cold_make_runs', 1)}")
    line("six links sharing one configuration, together", f"{f['six_shared']:.2f} s")
    how = "measured" if f["six_alone_measured"] else "6 x cold build"
    line(f"six independent builds ({how})", f"{f['six_alone']:.1f} s")
    line("  shared / independent", f"{f['six_shared'] / f['six_alone']:.3f}x")
    line("kraftld's own peak memory, warm relink", f"{f['rss_warm_mb']:.1f} MB", "target <= 60 MB")
    line("kraftld's own peak memory, cold build", f"{f['rss_cold_mb']:.1f} MB", "target <= 60 MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unikraft", help="a Unikraft tree: benchmark the nolibc helloworld")
    parser.add_argument("--sources", help="an offline mirror (unikraft/, lib-musl/, archives/): benchmark lib-musl")
    parser.add_argument("--runs", type=int, default=7, help="warm relinks per tool (default 7)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold builds per tool (default 3)")
    parser.add_argument("--six-cold", action="store_true", help="really run six independent cold builds")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to install kraftld for")
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()
    if not options.unikraft and not options.sources:
        parser.error("give --unikraft, --sources, or both")

    with tempfile.TemporaryDirectory(prefix="kraftld-bench-env-") as env_folder:
        install = install_kraftld(options.python, Path(env_folder))
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KRAFTLD_", "VIRTUAL_ENV"))}
        base["PATH"] = f"{install.bin}{os.pathsep}{base.get('PATH', '')}"
        base["VIRTUAL_ENV"] = str(install.bin.parent)
        version = run([install.python, "-c", "import platform; print(platform.python_version())"]).stdout.strip()
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
            f"kraftld installed in a new venv, Python {version}"
        )
        start = startup(install, base, 21)
        print(
            f"start-up, medians of 21 (target <= 60 ms):\n"
            f"  kraftld --version {start['kraftld_version'] * 1000:.0f} ms; "
            f"python -c pass {start['python'] * 1000:.0f} ms (the venv's); "
            f"the bench's own interpreter: python -c pass {start['bench_python'] * 1000:.0f} ms"
        )
        results: dict[str, dict[str, float | list[float]]] = {}
        configs: list[tuple[str, dict[str, str], str | None]] = []
        if options.unikraft:
            nolibc = {"KRAFTLD_UNIKRAFT": options.unikraft, "BENCH_UNIKRAFT_TREE": options.unikraft}
            configs.append(("nolibc helloworld", nolibc, None))
        if options.sources:
            tree = str(Path(options.sources) / "unikraft")
            musl = {"KRAFTLD_SOURCES": options.sources, "BENCH_UNIKRAFT_TREE": tree}
            configs.append(("lib-musl", musl, MUSL_KRAFTFILE))
        for name, extra, kraftfile in configs:
            with tempfile.TemporaryDirectory(prefix="kraftld-bench-") as folder:
                work = Path(folder)
                if kraftfile:
                    (work / "Kraftfile").write_text(kraftfile)
                setup = Setup(name, {**base, **extra}, work, install)
                results[name] = bench(setup, options.runs, options.cold_runs, options.six_cold)
                report(name, results[name])
    if options.json:
        figures = {"startup_s": start, **results}
        Path(options.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
