"""The linker issue's proof, for real: gcc and rustc output linked by kraftld, booted under QEMU."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from realboot import PROGRAMS, Tools
from support import read_args, relocate


def test_c_program_boots_and_prints_its_arguments(tools: Tools, behave_image: Path) -> None:
    assert (behave_image.parent / "behave.dbg").is_file()
    result = tools.run(behave_image, ["a", "b c", 'd"e', "it's"])
    assert result.stdout.decode() == "program behave argc=5\narg[1]=<a>\narg[2]=<b c>\narg[3]=<d\"e>\narg[4]=<it's>\n"
    assert result.returncode == 0, result.stderr


def test_a_runaway_recursion_in_main_is_reported_as_a_stack_overflow(tools: Tools, tmp_path: Path) -> None:
    # nolibc's image has no main thread: main runs on Unikraft's boot stack (4 MiB with kraftld's
    # default), whose lowest 16 KiB the runtime guards.
    obj = tools.compile_c(PROGRAMS / "runaway.c", tmp_path / "runaway.o")
    tools.kraftld([str(obj), "-o", str(tmp_path / "runaway")], cwd=tmp_path)
    result = tools.run(tmp_path / "runaway")
    lines = result.stdout.decode(errors="replace").splitlines()
    assert result.returncode == 134, lines
    assert lines[0] == "runaway recursion in main"
    assert lines[-1].startswith("kraftld: main overflowed its stack of 4096 KiB (stack overflow); "), lines
    assert not any("Unhandled Trap" in line for line in lines), lines


PAGING_KRAFTFILE = """spec: v0.6
name: paging
unikraft:
  version: stable
  kconfig:
    CONFIG_LIBUKVMEM: y
    CONFIG_LIBUKBOOT_MAINTHREAD: y
targets:
  - qemu/x86_64
"""


def test_a_runaway_recursion_under_paging_is_reported_as_a_stack_overflow(tools: Tools, tmp_path: Path) -> None:
    # With ukvmem, main's stack has ukvmem's guard page; the runtime only watches it. Before,
    # Unikraft's crash report looped (47,578 lines in 30 s, the guest never ended).
    (tmp_path / "Kraftfile").write_text(PAGING_KRAFTFILE)
    obj = tools.compile_c(PROGRAMS / "runaway.c", tmp_path / "runaway.o")
    tools.kraftld([str(obj), "-o", str(tmp_path / "runaway")], cwd=tmp_path)
    result = tools.run(tmp_path / "runaway")
    lines = result.stdout.decode(errors="replace").splitlines()
    assert result.returncode == 134, lines[:20]
    assert lines[-1].startswith("kraftld: main overflowed its stack of 4096 KiB (stack overflow); "), lines[:20]


def test_nolibc_stderr_reaches_the_runners_stderr(tools: Tools, tmp_path: Path) -> None:
    # Before, nolibc's stderr went to stdout, and this program did not link: gcc's fwrite for
    # fprintf(stderr, "literal\n") is nolibc's only with vfscore ("undefined reference to fwrite").
    obj = tools.compile_c(PROGRAMS / "stderr.c", tmp_path / "stderr.o")
    tools.kraftld([str(obj), "-o", str(tmp_path / "stderr")], cwd=tmp_path)
    result = tools.run(tmp_path / "stderr")
    assert (result.returncode, result.stdout.decode()) == (0, "out 1\nout 2\nout 3\n"), result.stderr
    assert result.stderr.decode() == "err 7 seven\nerr fputs\nerr literal\nerr via %s\n!\n"


def test_no_std_rust_program_boots(tools: Tools, tmp_path: Path) -> None:
    rustc = shutil.which("rustc")
    if rustc is None:
        pytest.skip("rustc (rustup's, for the host target) is not installed")
    kraftld = tmp_path / "kraftld"
    # rustc runs the linker by name: give it this checkout's kraftld.
    kraftld.write_text(f'#!/bin/sh\nexec {shutil.which("python3") or "python3"} -m kraftld "$@"\n')
    kraftld.chmod(0o755)
    result = subprocess.run(
        [
            rustc,
            "-C",
            "panic=abort",
            "-C",
            "opt-level=1",
            "-C",
            f"linker={kraftld}",
            "-o",
            str(tmp_path / "nostd"),
            str(PROGRAMS / "nostd.rs"),
        ],
        env=tools.environ,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    booted = tools.run(tmp_path / "nostd", ["x", "y z"])
    assert booted.stdout.decode() == "no_std Rust says hello, argc=3\narg[1]=<x>\narg[2]=<y z>\n"
    assert booted.returncode == 13


@pytest.mark.parametrize("fixture", ["kraftkit-612/rustc-main.args", "kraftkit-612/cargo-unikraft-demo.args"])
def test_kraftkit_612_lines_plan_against_the_real_tree(fixture: str, tools: Tools, tmp_path: Path) -> None:
    obj = tools.compile_c(PROGRAMS / "extra_ctor.c", tmp_path / "real.o")
    args = []
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for arg in read_args(fixture):
        new = relocate(arg, tmp_path / "root")
        if arg.endswith((".o", ".rlib")):
            target = Path(new) if Path(new).is_absolute() else cwd / new
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(obj, target)
        elif new.startswith(str(tmp_path / "root")):
            Path(new).parent.mkdir(parents=True, exist_ok=True)
        args.append(new)
    result = tools.kraftld(args, cwd=cwd, env={"KRAFTLD_DRY_RUN": "1"})
    plan = result.stdout
    assert "unikraft: " + tools.environ["KRAFTLD_UNIKRAFT"] in plan and "version 0.17" in plan
    assert "target: qemu/x86_64" in plan
    staged = [line for line in plan.splitlines() if "/inputs/" in line and " -> " in line]
    assert len(staged) == sum(a.endswith((".o", ".rlib")) for a in args)
    assert "drop    -lgcc_s" in plan and "drop    -lc" in plan
    assert not (cwd / "main").exists()


def test_input_removed_from_the_line_relinks_for_real(tools: Tools, tmp_path: Path) -> None:
    main_o = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.o", '-DPROGRAM_NAME="relink"')
    extra_o = tools.compile_c(PROGRAMS / "extra_ctor.c", tmp_path / "extra.o")
    tools.kraftld([str(main_o), str(extra_o), "-o", str(tmp_path / "with")])
    assert tools.run(tmp_path / "with").stdout.decode().startswith("extra object present\n")
    started = time.monotonic()
    tools.kraftld([str(main_o), "-o", str(tmp_path / "without")])
    relink = time.monotonic() - started
    assert "extra object present" not in tools.run(tmp_path / "without").stdout.decode()
    print(f"relink after removing an input: {relink:.2f} s")


def test_paths_are_data_never_code(tools: Tools, tmp_path: Path) -> None:
    folder = tmp_path / "odd $(shell touch PWNED) `touch PWNED2`; dir #1 %:"
    folder.mkdir()
    obj = tools.compile_c(PROGRAMS / "behave.c", folder / "main 'x' $$.o", '-DPROGRAM_NAME="odd"')
    output = folder / "image with spaces"
    tools.kraftld([str(obj), "-o", str(output)], cwd=tmp_path)
    result = tools.run(output, ["return", "5"])
    assert result.stdout.decode().startswith("program odd")
    assert result.returncode == 5
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path(tools.environ["KRAFTLD_CACHE"]).rglob("PWNED*"))


def test_two_programs_linked_at_once_on_one_cache(tools: Tools, tmp_path: Path) -> None:
    objects = [tools.compile_c(PROGRAMS / "behave.c", tmp_path / f"p{i}.o", f'-DPROGRAM_NAME="p{i}"') for i in range(2)]
    results: list[subprocess.CompletedProcess[str]] = []

    def link(i: int) -> None:
        results.append(tools.kraftld([str(objects[i]), "-o", str(tmp_path / f"p{i}")], check=False))

    threads = [threading.Thread(target=link, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    for i in range(2):
        assert tools.run(tmp_path / f"p{i}").stdout.decode().startswith(f"program p{i} ")


def test_undefined_symbol_reaches_the_user(tools: Tools, tmp_path: Path) -> None:
    source = tmp_path / "undef.c"
    source.write_text("int kraftld_missing_function(void);\nint main(void) { return kraftld_missing_function(); }\n")
    obj = tools.compile_c(source, tmp_path / "undef.o")
    (tmp_path / "app").write_text("stale")
    # A Kraftfile that names the libraries (none): left to choose, kraftld would take a symbol it
    # cannot place for musl's, whose table it reads only from a mirror or a first musl build.
    kraftfile = "spec: v0.6\nname: undef\nunikraft:\n  version: stable\ntargets:\n  - qemu/x86_64\n"
    (tmp_path / "Kraftfile").write_text(kraftfile)
    result = tools.kraftld([str(obj), "-o", str(tmp_path / "app")], cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("kraftld: error: the Unikraft build failed\nhint: ")
    assert "undefined reference to `kraftld_missing_function'" in result.stderr
    assert not (tmp_path / "app").exists()
