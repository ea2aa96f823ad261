"""Zero-config links, for real: no Kraftfile anywhere up the tree, kraftld chooses the libraries.

C programs need only the Unikraft tree; the lwIP and Rust parts need KRAFTLD_TEST_SOURCES (the
offline mirror with lib-musl, lib-lwip and archives/) and, for Rust, a toolchain that builds std
for the target (Debian's at /usr/bin, or KRAFTLD_TEST_RUST_STD_RUSTC). kraftld-sysroot's std is
built once into the test cache (KRAFTLD_TEST_CACHE keeps it between sessions).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kraftld import exports
from realboot import Tools

TARGET = "x86_64-unikraft-linux-musl"
HELLO = '#include <stdio.h>\nint main(int argc, char **argv) { printf("hello from C, %d args\\n", argc); return 5; }\n'
SOCKET = """#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
int main(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(8080);
    int bound = fd >= 0 ? bind(fd, (struct sockaddr *)&addr, sizeof addr) : -1;
    int listening = bound == 0 ? listen(fd, 4) : -1;
    printf("socket %s, bind %d, listen %d\\n", fd >= 0 ? "ok" : "failed", bound, listening);
    return listening == 0 ? 0 : 1;
}
"""
RUST = """use std::collections::HashMap;
use std::{env, fs, thread};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    println!("args {args:?}");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in "a b a c a".split(' ') {
        *counts.entry(word).or_default() += 1;
    }
    println!("a={} b={} c={}", counts["a"], counts["b"], counts["c"]);
    println!("from a thread: {}", thread::spawn(|| (1..=10u32).sum::<u32>()).join().unwrap());
    fs::write("/note.txt", "round trip\\n").unwrap();
    print!("file: {}", fs::read_to_string("/note.txt").unwrap());
    std::process::exit(7);
}
"""


def folder_without_kraftfile(tmp_path: Path) -> Path:
    folder = tmp_path / "prog"
    folder.mkdir()
    probe = folder
    while probe != probe.parent:
        assert not list(probe.glob("Kraftfile*")) and not (probe / "kraft.yaml").exists(), probe
        probe = probe.parent
    return folder


def compile_c(folder: Path, name: str, source: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    subprocess.run(
        [
            "gcc",
            "-c",
            "-O2",
            "-fno-pic",
            "-fno-stack-protector",
            "-o",
            str(folder / f"{name}.o"),
            str(folder / f"{name}.c"),
        ],
        check=True,
    )
    return folder / f"{name}.o"


def sources() -> str:
    mirror = os.environ.get("KRAFTLD_TEST_SOURCES")
    if not mirror:
        pytest.skip("set KRAFTLD_TEST_SOURCES to the offline mirror (lib-musl, lib-lwip, archives/)")
    return mirror


def test_a_plain_c_hello_gets_nolibc_and_boots(tools: Tools, tmp_path: Path) -> None:
    folder = folder_without_kraftfile(tmp_path)
    obj = compile_c(folder, "hello", HELLO)
    dry = tools.kraftld([str(obj), "-o", "hello"], cwd=folder, env={"KRAFTLD_DRY_RUN": "1"})
    assert "libraries: none" in dry.stdout
    assert "libraries chosen from the link's symbols: nolibc" in dry.stdout
    linked = tools.kraftld([str(obj), "-o", "hello", "-v"], cwd=folder)
    assert "needed by hello.o: printf" in linked.stderr
    booted = tools.run(folder / "hello", ["x"])
    assert (booted.returncode, booted.stdout) == (5, b"hello from C, 2 args\n")


def test_a_c_program_calling_socket_gets_lwip_and_boots(tools: Tools, tmp_path: Path) -> None:
    folder = folder_without_kraftfile(tmp_path)
    obj = compile_c(folder, "sock", SOCKET)
    dry = tools.kraftld(
        [str(obj), "-o", "sock"], cwd=folder, env={"KRAFTLD_DRY_RUN": "1", "KRAFTLD_SOURCES": sources()}
    )
    assert re.search(r"^libraries: musl at .*, lwip at ", dry.stdout, re.MULTILINE)
    assert "CONFIG_LWIP_SOCKET=y" in dry.stdout and "CONFIG_LIBVIRTIO_NET=y" in dry.stdout
    assert re.search(r"needed by sock.o: .*socket", dry.stdout)
    tools.kraftld([str(obj), "-o", "sock"], cwd=folder, env={"KRAFTLD_SOURCES": sources()})
    booted = tools.run(folder / "sock", env={"KRAFTLD_SOURCES": sources()})
    assert booted.returncode == 0, booted.stderr
    assert b"socket ok, bind 0, listen 0\n" in booted.stdout


def test_progress_is_one_line_redrawn_on_a_terminal(tools: Tools, tmp_path: Path) -> None:
    """A cold nolibc build in a cache of its own, kraftld's stderr a real pseudo-terminal."""
    folder = folder_without_kraftfile(tmp_path)
    obj = compile_c(folder, "hello", HELLO)
    master, slave = pty.openpty()
    env = {**tools.environ, "KRAFTLD_CACHE": str(tmp_path / "cache")}
    child = subprocess.Popen(
        [sys.executable, "-m", "kraftld", str(obj), "-o", "hello"], cwd=folder, env=env,
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if select.select([master], [], [], 1.0)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: kraftld has exited and closed its side
                break
            if not chunk:
                break
            drawn += chunk
        elif child.poll() is not None:
            break
    os.close(master)
    assert child.wait(timeout=60) == 0, drawn.decode(errors="replace")[-2000:]
    text = drawn.decode(errors="replace")
    updates = [u for u in text.split("\r\x1b[K") if u]
    assert any(re.fullmatch(r"kraftld: building the unikernel \(qemu/x86_64\): libraries, \d+ objects, \d+:\d\d", u)
               for u in updates), updates[:5]  # fmt: skip
    assert "\n" not in text  # one line, redrawn, and cleared at the end
    # The next cold build of the same libraries knows how many objects to expect.
    assert list((tmp_path / "cache" / "progress").glob("*.json"))


@pytest.fixture(scope="module")
def rust_sysroot(tools: Tools) -> tuple[str, str]:
    rustc = os.environ.get("KRAFTLD_TEST_RUST_STD_RUSTC", "/usr/bin/rustc")
    if not os.access(rustc, os.X_OK):
        pytest.skip(f"no rustc for {TARGET} at {rustc}: install Debian's rustc-web cargo-web rust-web-src")
    built = subprocess.run(
        [sys.executable, "-m", "kraftld.sysroot_cli", "--rustc", rustc],
        env=tools.environ, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return rustc, built.stdout.strip()


def test_plain_rustc_with_kraftld_sysroot_links_and_boots(
    tools: Tools, tmp_path: Path, rust_sysroot: tuple[str, str]
) -> None:
    rustc, sysroot = rust_sysroot
    folder = folder_without_kraftfile(tmp_path)
    (folder / "main.rs").write_text(RUST)
    env = {**tools.environ, "KRAFTLD_SOURCES": sources()}
    env.pop("KRAFTLD_UNIKRAFT", None)

    def build(note: str) -> None:
        compiled = subprocess.run(
            [rustc, "--sysroot", sysroot, "--target", TARGET, "-O", "main.rs"],
            cwd=folder, env={**env, "ZC_NOTE": note}, capture_output=True, text=True, timeout=3000,
        )  # fmt: skip
        assert compiled.returncode == 0, compiled.stderr

    def boot() -> None:
        booted = tools.run(folder / "main", ["one", "two words"], env=env)
        assert (
            booted.stdout.decode() == 'args ["one", "two words"]\na=3 b=1 c=1\nfrom a thread: 55\nfile: round trip\n'
        ), booted.stderr
        assert booted.returncode == 7

    # rustc calls `kraftld` (the target's default linker) by name: this one, first on PATH, also
    # asks kraftld for the dry run and the equivalent Kraftfile of the very line rustc passes.
    wrapper = tmp_path / "bin" / "kraftld"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        f'{tools.bin}/kraftld --print-kraftfile "$@" > "{tmp_path}/Kraftfile.$ZC_NOTE" || exit 1\n'
        f'KRAFTLD_DRY_RUN=1 {tools.bin}/kraftld "$@" > "{tmp_path}/dry.$ZC_NOTE" || exit 1\n'
        f'exec {tools.bin}/kraftld "$@"\n'
    )
    wrapper.chmod(0o755)
    env["PATH"] = f"{wrapper.parent}:{env['PATH']}"
    build("auto")
    boot()
    chosen = (tmp_path / "dry.auto").read_text()
    assert "libraries: musl at" in chosen and "lwip" not in chosen.split("defconfig:")[0]
    for option in ("CONFIG_LIBUKBOOT_MAINTHREAD=y", "CONFIG_LIBVFSCORE_AUTOMOUNT_CI_RAMFS=y"):
        assert option in chosen
    # The printed Kraftfile, fed back, builds the same configuration: the same cache entry.
    (folder / "Kraftfile").write_text((tmp_path / "Kraftfile.auto").read_text())
    build("kraftfile")
    boot()
    again = (tmp_path / "dry.kraftfile").read_text()
    assert "libraries chosen" not in again

    def entry(plan: str) -> str:
        return next(line for line in plan.splitlines() if line.startswith("cache folder: "))

    assert entry(again) == entry(chosen)
    # musl's table, read from its sources, holds every public name the built libmusl.o exports.
    built = Path(entry(chosen).split(": ", 1)[1]) / "build"
    real = set()
    for name in ("libmusl.o", "libmuslglue.o"):
        listed = subprocess.run(["nm", "-g", "--defined-only", str(built / name)], capture_output=True, text=True)
        real |= {line.split()[-1] for line in listed.stdout.splitlines() if line.strip()}
    mirror = Path(sources())
    table = exports.musl_exports(str(mirror / "lib-musl"), str(mirror / "archives" / "musl-1.2.3.tar.gz"), None)
    assert len(real) > 1500
    assert sorted(n for n in real - table if not n.startswith("__")) == []
