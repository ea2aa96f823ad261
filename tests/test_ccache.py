"""How Unikraft's build compiles: kraftld's launcher (compiled and run for real) and the ccache/distcc choice."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kraftld.ccache import DEBUG_PREFIX, compiler_setup, plan_launcher
from kraftld.compiled import ensure_compiled
from kraftld.errors import ConfigError
from kraftld.process import run_process

# A stand-in compiler: records its folder and arguments, writes a dependency file as gcc does
# (the names as it was given them, relative ones relative to its folder).
FAKE_GCC = """#!/bin/sh
pwd -P > "$RECORD"
for word; do printf '%s\\n' "$word"; done >> "$RECORD"
for word; do
	case $word in
	-Wp,-MD,*)
		if [ -n "$DEPTEXT" ]; then printf '%s' "$DEPTEXT" > "${word#-Wp,-MD,}"
		else printf 'x.o: %s \\\\\\n /usr/include/stdio.h include/uk/config.h\\n' "$SOURCE" > "${word#-Wp,-MD,}"; fi ;;
	esac
done
exit "${STATUS:-0}"
"""


@pytest.fixture
def tools(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("ccache", "distcc", "fakegcc"):
        tool = bin_dir / name
        tool.write_text(FAKE_GCC if name == "fakegcc" else '#!/bin/sh\nexec "$@"\n')
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> str:
    """kraftld's launcher, compiled by kraftld's own planned command with the host's gcc."""
    return ensure_compiled(plan_launcher(str(tmp_path_factory.mktemp("cache"))), run_process)


@pytest.fixture
def run_launcher(launcher: str, tools: dict[str, str], tmp_path: Path) -> Launch:
    def launch(
        build: Path, args: list[str], status: int = 0, source: str = "", deptext: str = ""
    ) -> tuple[int, list[str]]:
        return _launch(launcher, tmp_path, build, args, status, source, deptext)

    return launch


Launch = Callable[..., tuple[int, list[str]]]


def _launch(
    launcher: str, tmp_path: Path, build: Path, args: list[str], status: int, source: str, deptext: str
) -> tuple[int, list[str]]:
    record = tmp_path / "record"
    env = {
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        "RECORD": str(record),
        "SOURCE": source,  # the source's name as the compiler is given it
        "STATUS": str(status),
        "DEPTEXT": deptext,  # the dependency file's whole text, when given
    }
    completed = subprocess.run([launcher, str(build), "fakegcc", *args], env=env, cwd="/")
    return completed.returncode, record.read_text().splitlines()


def test_the_launcher_compiles_in_the_build_folder_with_its_paths_relative(
    run_launcher: Launch, tmp_path: Path
) -> None:
    build = tmp_path / "cache" / "builds" / "key" / "build"
    (build / "libmusl").mkdir(parents=True)
    tree = "/work/unikraft"
    args = [
        f"-I{build}/include",
        f"-I{tree}/include",
        "-D__LIBNAME__=libmusl",
        "-c",
        f"{build}/libmusl/origin/src/qsort.c",
        "-o",
        f"{build}/libmusl/qsort.o",
        f"-Wp,-MD,{build}/libmusl/.qsort.o.d",
    ]
    status, record = run_launcher(build, args, source="libmusl/origin/src/qsort.c")
    assert status == 0
    assert record[0] == str(build.resolve())  # compiled in the build folder
    assert record[1:] == [
        "-Iinclude",
        f"-I{tree}/include",  # the trees' paths are the same for every build: kept
        "-D__LIBNAME__=libmusl",
        "-c",
        "libmusl/origin/src/qsort.c",
        "-o",
        "libmusl/qsort.o",
        "-Wp,-MD,libmusl/.qsort.o.d",
        "-fno-working-directory",
        f"-fdebug-prefix-map={build.resolve()}={DEBUG_PREFIX}",
    ]
    # make runs in the Unikraft tree: the dependency file names every file absolutely again.
    depfile = (build / "libmusl" / ".qsort.o.d").read_text()
    real = build.resolve()
    assert depfile == f"x.o: {real}/libmusl/origin/src/qsort.c \\\n /usr/include/stdio.h {real}/include/uk/config.h\n"


@pytest.mark.parametrize(
    ("written", "rewritten"),
    [
        # a name after a space is relative unless it starts with '/'
        ("a.o: b.c c.h\n", "a.o: B/b.c B/c.h\n"),
        ("a.o: /abs/b.c \\\n /abs/c.h\n", "a.o: /abs/b.c \\\n /abs/c.h\n"),
        # two spaces: only the second is followed by a name; a space ending a line or the file is kept
        ("a.o:  b.c \n c.h ", "a.o:  B/b.c \n B/c.h "),
        # a backslash after a space (a continuation) is not a name; the target has no space before it
        ("x.o: \\\n y.h\n\ny.h:\n", "x.o: \\\n B/y.h\n\ny.h:\n"),
        ("a.o:\n", "a.o:\n"),
    ],
)
def test_the_launcher_makes_the_dependency_file_s_names_absolute(
    run_launcher: Launch, tmp_path: Path, written: str, rewritten: str
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    status, _ = run_launcher(build, ["-c", "x.c", f"-Wp,-MD,{build}/.x.o.d"], deptext=written)
    assert status == 0
    assert (build / ".x.o.d").read_text() == rewritten.replace("B/", f"{build.resolve()}/")


def test_the_launcher_says_so_when_the_compiler_is_missing(launcher: str, tmp_path: Path) -> None:
    completed = subprocess.run(
        [launcher, str(tmp_path), "no-such-compiler", "-c", "x.c"], capture_output=True, text=True
    )
    assert completed.returncode == 127 and "no-such-compiler" in completed.stderr


def test_the_launcher_keeps_the_compiler_s_status(run_launcher: Launch, tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    status, _ = run_launcher(build, ["-c", f"{build}/x.c"], status=3)
    assert status == 3


def test_the_launcher_runs_the_compiler_as_is_before_the_build_folder_exists(
    run_launcher: Launch, tmp_path: Path
) -> None:
    # Unikraft's cc-version.sh asks `$(CC) -E -P -x c -` while make reads its makefiles.
    status, record = run_launcher(tmp_path / "not-yet", ["-E", "-P", "-x", "c", "-"])
    assert status == 0 and record == ["/", "-E", "-P", "-x", "c", "-"]


def test_the_launcher_resolves_a_build_folder_reached_through_a_link(run_launcher: Launch, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "alias")
    # make names the build folder by its real path (Unikraft's Makefile: realpath of O=).
    _, record = run_launcher(tmp_path / "alias", ["-c", f"{real}/x.c", "-o", f"{real}/x.o"])
    assert record[1:5] == ["-c", "x.c", "-o", "x.o"]


STORE = ["--objects=/c/ccache/kraftld-objects", "--config=include/uk/bits/config.h"]


@pytest.mark.parametrize(
    ("environ", "cc_words", "added"),
    [
        # ccache installed: used, its store in kraftld's cache, bounded; the object store beside it.
        ({}, [*STORE, "ccache", "gcc"], {"CCACHE_DIR": "/c/ccache", "CCACHE_MAXSIZE": "2G"}),
        ({"KRAFTLD_CCACHE": "1"}, [*STORE, "ccache", "gcc"], {"CCACHE_DIR": "/c/ccache", "CCACHE_MAXSIZE": "2G"}),
        ({"KRAFTLD_CCACHE": "0"}, ["gcc"], {}),
        ({"KRAFTLD_OBJECTS": "0"}, ["ccache", "gcc"], {"CCACHE_DIR": "/c/ccache", "CCACHE_MAXSIZE": "2G"}),
        # The user's own store and its settings win.
        ({"CCACHE_DIR": "/mine"}, ["--objects=/mine/kraftld-objects", STORE[1], "ccache", "gcc"], {}),
        ({"CCACHE_MAXSIZE": "9G"}, [*STORE, "ccache", "gcc"], {"CCACHE_DIR": "/c/ccache"}),
        # distcc: behind ccache (its misses), or alone.
        (
            {"DISTCC_HOSTS": "127.0.0.1"},
            [*STORE, "ccache", "gcc"],
            {"CCACHE_DIR": "/c/ccache", "CCACHE_MAXSIZE": "2G", "CCACHE_PREFIX": "distcc"},
        ),
        ({"DISTCC_HOSTS": "127.0.0.1", "KRAFTLD_CCACHE": "0"}, ["distcc", "gcc"], {}),
    ],
)
def test_compiler_choice(
    tools: dict[str, str], environ: dict[str, str], cc_words: list[str], added: dict[str, str]
) -> None:
    setup = compiler_setup({**tools, **environ}, "/c")
    launcher = plan_launcher("/c").output
    assert launcher.startswith("/c/runtime/kraftld_cc_launcher-")
    words = setup.cc_variable(launcher, "/c/builds/k/build").split(" ")
    assert words[:2] == [f"CC={launcher}", "/c/builds/k/build"]
    assert [w if w.startswith("--") else os.path.basename(w) for w in words[2:]] == cc_words
    assert {k: os.path.basename(v) if k == "CCACHE_PREFIX" else v for k, v in setup.environ} == added


def test_ccache_not_installed(tmp_path: Path) -> None:
    empty = {"PATH": str(tmp_path)}
    assert compiler_setup(empty, "/c").ccache is None  # not installed, not asked for: plain gcc
    with pytest.raises(ConfigError, match="ccache is not installed") as raised:
        compiler_setup({**empty, "KRAFTLD_CCACHE": "1"}, "/c")
    assert "apt-get install ccache" in raised.value.hint
    with pytest.raises(ConfigError, match="distcc is not installed"):
        compiler_setup({**empty, "DISTCC_HOSTS": "localhost"}, "/c")
    with pytest.raises(ConfigError, match="not a yes/no value"):
        compiler_setup({**empty, "KRAFTLD_CCACHE": "maybe"}, "/c")
