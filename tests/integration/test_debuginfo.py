"""kraftld's default debug level serves gdb: a musl image debugged through QEMU's gdb stub.

kraftld builds Unikraft with gcc's -g2 instead of Unikraft's -g3 (see config.py). The `.dbg`
must still give gdb what a person debugging asks for: breakpoints by name, source lines,
backtraces and locals, in the program and in musl's and Unikraft's own functions.

Needs KRAFTLD_TEST_SOURCES (an offline mirror with lib-musl and the musl archive) and gdb.
The image uses the rust-std example's Kraftfile, so it shares that test's Unikraft build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netboot import free_port
from realboot import PROGRAMS, Tools

KRAFTFILE = Path(__file__).parent.parent.parent / "examples" / "rust-std" / "Kraftfile"
# The guest runs under TCG on every host: QEMU's breakpoints then behave the same everywhere,
# and a KVM that aborts on a host's first boot (as on this project's build machines) cannot cut
# a gdb session short. QEMU takes the last -machine/-cpu it is given.
TCG = {"KRAFTLD_QEMU_ARGS": "-machine accel=tcg -cpu max"}


@pytest.fixture(scope="module")
def musl_image(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    sources = os.environ.get("KRAFTLD_TEST_SOURCES")
    if not sources:
        pytest.skip("set KRAFTLD_TEST_SOURCES to an offline mirror with unikraft/, lib-musl/ and archives/")
    folder = tmp_path_factory.mktemp("debugme")
    shutil.copy(KRAFTFILE, folder / "Kraftfile")
    env = {"KRAFTLD_UNIKRAFT": "", "KRAFTLD_SOURCES": sources}
    obj = folder / "debugme.o"
    subprocess.run(
        ["gcc", "-c", "-g", "-O0", "-fno-pic", "-fno-stack-protector", "-o", str(obj), str(PROGRAMS / "debugme.c")],
        check=True,
    )
    tools.kraftld([str(obj), "-o", str(folder / "debugme")], cwd=folder, env=env)
    booted = tools.run(folder / "debugme", env={**env, **TCG})
    assert booted.stdout.decode().strip().endswith("sorted 1 3 88 after 14 comparisons"), booted
    assert booted.returncode == 1
    return folder / "debugme", env


def section_names(path: Path) -> set[str]:
    listing = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True, check=True).stdout
    return {word for line in listing.splitlines() for word in line.split() if word.startswith(".debug")}


def test_the_default_debug_level_leaves_out_macros_only(musl_image: tuple[Path, dict[str, str]]) -> None:
    image, _ = musl_image
    sections = section_names(Path(f"{image}.dbg"))
    assert {".debug_info", ".debug_line", ".debug_frame"} <= sections or {".debug_info", ".debug_line"} <= sections
    assert ".debug_macro" not in sections  # what -g3 adds, and the bulk of a musl relink's reading


def test_gdb_breaks_in_musl_and_unikraft_with_backtraces_and_locals(
    tools: Tools, musl_image: tuple[Path, dict[str, str]]
) -> None:
    gdb = shutil.which("gdb")
    assert gdb, "gdb is not installed (Debian: apt-get install gdb)"
    image, env = musl_image
    port = free_port()
    # QEMU's gdb stub on the loopback interface only, the guest stopped before its first instruction.
    qemu_args = ("-gdb", f"tcp:127.0.0.1:{port}", "-S")
    guest = subprocess.Popen(
        [sys.executable, "-m", "kraftld.run", *(w for a in qemu_args for w in ("--qemu-arg", a)), str(image)],
        env={**tools.environ, **env, **TCG},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Hardware breakpoints: the boot loader copies the kernel into place after gdb attaches,
        # over any breakpoint written into memory before that.
        commands = [
            "set pagination off",
            "set tcp connect-timeout 60",  # gdb retries until QEMU listens
            f"target remote 127.0.0.1:{port}",
            "hbreak __qsort_r",  # musl (qsort is its wrapper)
            "continue",
            "bt",
            "info locals",
            "delete",
            "hbreak by_value",  # the program, called back from musl
            "continue",
            "bt",
            "info locals",
            "delete",
            "hbreak uk_syscall_r_writev",  # Unikraft, as printf reaches it through musl's stdio
            "continue",
            "bt",
            "delete",
            "continue",  # to the end: the program exits, QEMU with it
        ]
        session = subprocess.run(
            [gdb, "-nx", "-batch", f"{image}.dbg", *(w for c in commands for w in ("-ex", c))],
            capture_output=True,
            text=True,
            timeout=300,
        )
        out, err = guest.communicate(timeout=120)
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()
    transcript = session.stdout + session.stderr
    print(transcript)  # shown with -s: the session the README quotes
    assert "Breakpoint 3" in transcript, transcript
    musl = transcript.split("Breakpoint 1,", 1)[1].split("Breakpoint 2,", 1)[0]
    app, unikraft = transcript.split("Breakpoint 2,", 1)[1].split("Breakpoint 3", 1)
    # musl: its source file and line, the caller in the program, locals by name.
    assert "__qsort_r (" in musl and "qsort.c:" in musl, musl
    assert "in main () at" in musl and "debugme.c:21" in musl, musl
    assert "size = " in musl and "head = " in musl and "pshift = " in musl, musl
    # The program, called back from musl: its frame and locals, musl's frames below it.
    assert "by_value (a=" in app and "debugme.c:" in app, app
    assert "__qsort_r (" in app and "qsort.c:" in app and "main () at" in app, app
    assert "left = " in app and "right = " in app, app
    # Unikraft: its own source file, reached from main through musl's stdio.
    assert "uk_syscall_r_writev (" in unikraft and "fd-shim.c:" in unikraft, unikraft
    assert "__stdio_write (" in unikraft and "printf (" in unikraft and "debugme.c:22" in unikraft, unikraft
    assert out.decode().strip().endswith("sorted 1 3 88 after 14 comparisons"), out
    assert guest.returncode == 1, err.decode()
