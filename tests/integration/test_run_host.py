"""kraftld-run gives the guest the host's things, for real: environment variables (--env), host
folders (--volume, read-write and read-only), a debugger (--gdb, with gdb in batch mode), and
clear errors when the image lacks what they need."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kraftld.runner.image import read_image
from realboot import PROGRAMS, Tools

# The Kraftfile README.md shows for --env and --volume on a C program (nolibc), and a network card.
HOST_KRAFTFILE = """\
spec: v0.6
name: hostio
unikraft:
  version: stable
  kconfig:
    CONFIG_LIBPOSIX_ENVIRON: y
    CONFIG_LIBPOSIX_ENVIRON_LIBPARAM: y
    CONFIG_LIBVFSCORE: y
    CONFIG_LIBRAMFS: y
    CONFIG_LIBVFSCORE_AUTOMOUNT_CI: y
    CONFIG_LIBVFSCORE_AUTOMOUNT_CI_RAMFS: y
    CONFIG_LIBVFSCORE_AUTOMOUNT_UP: y
    CONFIG_LIBUK9P: y
    CONFIG_LIB9PFS: y
    CONFIG_LIBVIRTIO_9P: y
    CONFIG_LIBVIRTIO_PCI: y
    # A network card without a stack: enough for the runner's own part of --publish.
    CONFIG_LIBUKNETDEV: y
    CONFIG_LIBUKNETDEV_EINFO_LIBPARAM: y
    CONFIG_LIBVIRTIO_NET: y
targets:
  - qemu/x86_64
"""


@pytest.fixture(scope="module")
def hostio(tools: Tools) -> Path:
    project = tools.work / "hostio-project"
    project.mkdir(exist_ok=True)
    (project / "Kraftfile").write_text(HOST_KRAFTFILE)
    obj = tools.compile_c(PROGRAMS / "hostio.c", project / "hostio.o")
    tools.kraftld([str(obj), "-o", str(project / "hostio")], cwd=project)
    return project / "hostio"


def test_the_image_tells_what_it_has(hostio: Path, behave_image: Path) -> None:
    facts = read_image(str(hostio))
    assert facts is not None
    assert {"env.vars", "vfs.fstab", "kraftld.seed"} <= set(facts.params)
    assert facts.has("lib9pfs", "libvirtio_9p", "libposix_environ")
    plain = read_image(str(behave_image))
    assert plain is not None and "env.vars" not in plain.params and not plain.has("lib9pfs")


@pytest.mark.parametrize(
    "value",
    ["plain", "with spaces  and\ttab", 'it\'s "quoted" \\ back', "a=b=c", "[not a list]", "né — 日本", "$HOME `x`", ""],
)
def test_env_values_arrive_intact(tools: Tools, hostio: Path, value: str) -> None:
    result = runner(tools, "-e", f"VALUE={value}", str(hostio), "env", "VALUE")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == f"VALUE=<{value}>\n"


def test_env_from_the_host_and_repeated(tools: Tools, hostio: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kraftld.run",
            "--env",
            "FROM_HOST",
            "--env=SECOND=2",
            "-e",
            "ABSENT_ON_HOST",
            "-e",
            "SECOND=last wins",
            str(hostio),
            "env",
            "FROM_HOST",
            "SECOND",
            "ABSENT_ON_HOST",
        ],
        env={**tools.environ, "FROM_HOST": "host value"},
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "FROM_HOST=<host value>",
        "SECOND=<last wins>",
        "ABSENT_ON_HOST unset",
    ]


def runner(tools: Tools, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "kraftld.run", *args], env=tools.environ, capture_output=True, timeout=120
    )


def test_volume_read_write(tools: Tools, hostio: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared dir"
    shared.mkdir()
    (shared / "in.txt").write_text("from the host")
    read = runner(tools, "-v", f"{shared}:/data", str(hostio), "read", "/data/in.txt")
    assert (read.returncode, read.stdout) == (0, b"<from the host>\n"), read.stderr
    written = runner(
        tools, "--volume", f"{shared}:/mnt/deep/out", str(hostio), "write", "/mnt/deep/out/new.txt", "guest"
    )
    assert written.returncode == 0, written.stdout + written.stderr
    assert (shared / "new.txt").read_text() == "guest"
    listed = runner(tools, "-v", f"{shared}:/data", str(hostio), "list", "/data")
    assert sorted(listed.stdout.decode().split()) == ["in.txt", "new.txt"]


def test_volume_read_only_is_read_only(tools: Tools, hostio: Path, tmp_path: Path) -> None:
    shared = tmp_path / "ro"
    shared.mkdir()
    (shared / "keep.txt").write_text("unchanged")
    write = runner(tools, "-v", f"{shared}:/data:ro", str(hostio), "write", "/data/keep.txt", "changed")
    assert write.returncode == 2
    assert b"open /data/keep.txt failed: errno 30" in write.stdout  # EROFS
    create = runner(tools, "-v", f"{shared}:/data:ro", str(hostio), "write", "/data/new.txt", "x")
    assert create.returncode == 2
    assert (shared / "keep.txt").read_text() == "unchanged" and sorted(os.listdir(shared)) == ["keep.txt"]
    read = runner(tools, "-v", f"{shared}:/data:ro", str(hostio), "read", "/data/keep.txt")
    assert read.stdout == b"<unchanged>\n"


def test_only_the_named_folder_is_reachable(tools: Tools, hostio: Path, tmp_path: Path) -> None:
    shared = tmp_path / "inner"
    shared.mkdir()
    (tmp_path / "secret.txt").write_text("outside")
    result = runner(tools, "-v", f"{shared}:/data", str(hostio), "read", "/data/../secret.txt")
    assert b"outside" not in result.stdout
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "A=1"], "no env.vars boot parameter"),
        (["-v", "{tmp}:/data"], "no vfs.fstab boot parameter"),
    ],
)
def test_an_image_without_the_feature_is_an_error_before_boot(
    tools: Tools, behave_image: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner(tools, *(a.replace("{tmp}", str(tmp_path)) for a in args), str(behave_image))
    assert result.returncode == 125
    stderr = result.stderr.decode()
    assert message in stderr and "CONFIG_LIB" in stderr
    assert result.stdout == b""


def test_a_missing_host_folder_is_an_error_before_boot(tools: Tools, hostio: Path, tmp_path: Path) -> None:
    result = runner(tools, "-v", f"{tmp_path / 'nowhere'}:/data", str(hostio), "list", "/data")
    assert result.returncode == 125 and b"no folder" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_gdb_attaches_breaks_at_main_and_the_status_comes_back(tools: Tools, behave_image: Path) -> None:
    gdb = shutil.which("gdb")
    assert gdb is not None, "gdb is installed in CI (see the README's setup command)"
    port = free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "kraftld.run", f"--gdb={port}", str(behave_image), "return", "9"],
        env=tools.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert run.stderr is not None
        line = run.stderr.readline().decode()
        match = re.search(r"gdb (\S+) -ex 'target remote localhost:(\d+)'", line)
        assert match, line
        assert match[1] == f"{behave_image}.dbg" and int(match[2]) == port
        debugger = subprocess.run(
            [
                gdb,
                "--batch",
                "-nx",
                "-ex",
                f"target remote localhost:{port}",
                "-ex",
                "break main",
                "-ex",
                "continue",
                "-ex",
                "bt",
                "-ex",
                "continue",
                match[1],
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert re.search(r"#0 .*main \(", debugger.stdout), debugger.stdout + debugger.stderr
        status = run.wait(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert status == 9


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_publish_a_busy_host_port_is_an_error_before_boot(tools: Tools, hostio: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner(tools, "-p", f"{port}:80", str(hostio), "env")
    assert result.returncode == 125
    lines = result.stderr.decode().splitlines()
    assert f"host port 127.0.0.1:{port}/tcp is not free" in lines[0] and len(lines) == 2
    assert result.stdout == b""


def test_publish_without_a_network_driver_is_an_error_before_boot(tools: Tools, behave_image: Path) -> None:
    result = runner(tools, "-p", f"{free_port()}:80", str(behave_image))
    assert result.returncode == 125 and b"lacks libuknetdev" in result.stderr


def test_published_port_is_held_while_the_guest_runs_and_freed_by_sigterm(tools: Tools, hostio: Path) -> None:
    port = free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "kraftld.run", "--verbose", "-p", f"{port}:8080", str(hostio), "hang"],
        env=tools.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert run.stdout is not None
        assert run.stdout.readline() == b"running\n"
        assert not port_is_free(port), "QEMU forwards the host port while the guest runs"
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 128 + signal.SIGTERM
        assert port_is_free(port), "the port is free as soon as the runner is gone"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.stderr is not None
    log = run.stderr.read().decode()
    assert f"published 127.0.0.1:{port} -> guest port 8080/tcp" in log
    assert "netdev.ip=10.0.2.15/24:10.0.2.2" in log  # the guest is given its address
    assert f"hostfwd=tcp:127.0.0.1:{port}-:8080" in log and "virtio-net-pci" in log


def test_net_none_gives_no_card(tools: Tools, hostio: Path) -> None:
    result = runner(tools, "--verbose", "--net", "none", str(hostio), "env")
    assert result.returncode == 0
    assert b"virtio-net-pci" not in result.stderr and b"netdev.ip" not in result.stderr
    with_card = runner(tools, "--verbose", str(hostio), "env")
    assert b"virtio-net-pci" in with_card.stderr
