"""kraftld's command line, in-process: dry runs of real link lines, errors, and the link steps."""

from __future__ import annotations

import io
import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kraftld import __version__
from kraftld.cli import main
from kraftld.process import Command, Completed
from support import FakeRunner, RealLine, read_args


def run(args: list[str], environ: dict[str, str], cwd: Path, runner: FakeRunner | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(args, environ=environ, cwd=str(cwd), runner=runner or FakeRunner(), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def ldflags(command_argv: tuple[str, ...]) -> list[str]:
    (value,) = [a[len("UK_LDFLAGS=") :] for a in command_argv if a.startswith("UK_LDFLAGS=")]
    return value.split()


def build_line(plan_text: str) -> tuple[str, ...]:
    (line,) = [line.strip() for line in plan_text.splitlines() if "UK_LDFLAGS=" in line]
    return tuple(shlex.split(line))


@pytest.mark.parametrize("fixture", ["kraftkit-612/rustc-main.args", "kraftkit-612/cargo-unikraft-demo.args"])
def test_kraftkit_612_lines_dry_run(
    fixture: str, make_real: Callable[[list[str]], RealLine], environ: dict[str, str]
) -> None:
    line = make_real(read_args(fixture))
    status, out, err = run(line.args, {**environ, "KRAFTLD_DRY_RUN": "1"}, line.cwd)
    assert (status, err) == (0, "")
    assert "nothing is built" in out
    flags = ldflags(build_line(out))
    inputs = [a for a in line.args if a.endswith((".o", ".rlib"))]
    staged = [f for f in flags if "/inputs/" in f]
    # Every input staged, in the compiler's order, under a plain name.
    assert len(staged) == len(inputs)
    assert [os.path.basename(s).split("-", 1)[1] for s in staged] == [os.path.basename(i) for i in inputs]
    wraps = [
        "-Wl,--wrap=exit",
        "-Wl,--wrap=_exit",
        "-Wl,--wrap=_Exit",
        "-Wl,--wrap=getrandom",
        "-Wl,--wrap=syscall",
        "-Wl,--wrap=clock_nanosleep",
        "-Wl,--wrap=uk_syscall_r_write",
        "-Wl,--wrap=uk_syscall_r_writev",
        "-Wl,--wrap=fprintf",
        "-Wl,--wrap=vfprintf",
        "-Wl,--wrap=fputs",
        "-Wl,--wrap=fputc",
        "-Wl,--wrap=fwrite",
        "-Wl,--wrap=uk_syscall_r_open",
        "-Wl,--wrap=uk_syscall_r_openat",
        "-Wl,--wrap=readdir",
        "-Wl,--wrap=readdir64",
        "-Wl,--wrap=readdir_r",
        "-Wl,--wrap=readdir64_r",
        "-Wl,--wrap=linkat",
        "-Wl,--wrap=pthread_create",
        "-Wl,--wrap=pthread_exit",
        "-Wl,--wrap=uk_syscall_r_clock_gettime",
        "-Wl,--wrap=uk_syscall_r_clock_getres",
    ]
    assert flags[: len(wraps)] == wraps
    assert [f for f in flags if "/inputs/" not in f][len(wraps) : -1] == [
        "-m64",
        "-Wl,--eh-frame-hdr",
        "-Wl,-z,noexecstack",
        "-Wl,--gc-sections",
    ]
    assert "kraftld_runtime-" in flags[-1]
    assert "drop    -lgcc_s" in out and "drop    -lc" in out
    assert not (line.cwd / "main").exists(), "a dry run builds nothing"


@pytest.mark.parametrize(
    "fixture",
    [
        "rustc/rustc196-std-debug.args",
        "rustc/rustc196-std-release.args",
        "rustc/rustc196-std-bin-b.args",
        "rustc/rustc196-std-test-unittests.args",
        "rustc/rustc195-host-nostd.args",
        "rustc/rustc195-host-nostd-cargo.args",
        "rustc/rustc196-std-link-arg.args",
    ],
)
def test_captured_rustc_lines_dry_run(
    fixture: str, make_real: Callable[[list[str]], RealLine], environ: dict[str, str]
) -> None:
    args = read_args(fixture)
    # rustc's raw-dylibs folder and the sysroot's lib folder may not exist; -L only matters to -l.
    line = make_real(args)
    status, out, err = run(line.args, {**environ, "KRAFTLD_DRY_RUN": "1"}, line.cwd)
    assert status == 0, err
    assert "staged inputs:" in out


def test_link_with_fake_make(tmp_path: Path, environ: dict[str, str], object_bytes: bytes, static_elf: bytes) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    runner = FakeRunner(image_bytes=static_elf)
    status, out, err = run(["main.o", "-o", "app"], environ, tmp_path, runner)
    assert (status, out, err) == (0, "", "")
    assert (tmp_path / "app").read_bytes() == static_elf
    assert (tmp_path / "app.dbg").read_bytes() == static_elf
    assert os.access(tmp_path / "app", os.X_OK)
    defconfig, build = runner.makes()
    assert defconfig.argv[-1] == "defconfig"
    # Same N= and C= for both, or .config churns.
    assert [a for a in defconfig.argv if a[:2] in ("N=", "C=", "O=", "A=")] == [
        a for a in build.argv if a[:2] in ("N=", "C=", "O=", "A=")
    ]
    # A second link with the same configuration does not configure again.
    runner.commands.clear()
    assert run(["main.o", "-o", "app2"], environ, tmp_path, runner)[0] == 0
    assert [c.argv[-1] for c in runner.makes()] != ["defconfig"]
    assert len(runner.makes()) == 1


def test_failed_build_shows_the_undefined_symbol_and_leaves_no_output(
    tmp_path: Path, environ: dict[str, str], object_bytes: bytes, static_elf: bytes
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    (tmp_path / "app").write_text("old image")
    (tmp_path / "app.dbg").write_text("old debug image")
    status, _, err = run(
        ["main.o", "-o", "app"], environ, tmp_path, FakeRunner(fail_build=True, image_bytes=static_elf)
    )
    assert status == 1
    assert err.startswith(
        "kraftld: error: the Unikraft build failed\nhint: a symbol the program uses is defined nowhere"
    )
    assert "undefined reference to `missing_function'" in err
    assert "command: make -C" in err
    assert not (tmp_path / "app").exists() and not (tmp_path / "app.dbg").exists()


class MirrorMake(FakeRunner):
    """The build's make runs its WGET as Unikraft's download recipe does, for lib-x's archive."""

    def __call__(self, command: Command, **kwargs: object) -> Completed:
        argv = command.argv
        wget = next((a[len("WGET=") :] for a in argv if a.startswith("WGET=")), None)
        if argv[0] != "make" or "defconfig" in argv or wget is None:
            return super().__call__(command, **kwargs)  # type: ignore[arg-type]
        self.commands.append(command)
        build = Path(next(a[2:] for a in argv if a.startswith("O=")))
        (build / "libx").mkdir(parents=True, exist_ok=True)
        destination = build / "libx" / "x-1.0.tar.gz"
        fetched = subprocess.run([*wget.split(" "), "-O", str(destination), "https://example.org/x-1.0.tar.gz"])
        if fetched.returncode != 0:  # `|| $(RM) FILE`, then unpacking it fails
            destination.unlink(missing_ok=True)
            return Completed(command, 2, ("tar: x-1.0.tar.gz: Cannot open: No such file or directory",))
        self.commands.pop()
        return super().__call__(command, **kwargs)  # type: ignore[arg-type]


def test_a_download_the_mirror_lacks_is_named_and_one_it_has_is_copied(
    tmp_path: Path, environ: dict[str, str], object_bytes: bytes, static_elf: bytes
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    archives = tmp_path / "mirror" / "archives"
    archives.mkdir(parents=True)
    environ = {**environ, "KRAFTLD_SOURCES": str(tmp_path / "mirror")}
    status, _, err = run(["main.o", "-o", "app"], environ, tmp_path, MirrorMake(image_bytes=static_elf))
    assert status == 1
    assert err.startswith(
        "kraftld: error: KRAFTLD_SOURCES has no x-1.0.tar.gz, which the build would download from "
        f"https://example.org/x-1.0.tar.gz\nhint: put the file at {archives}/x-1.0.tar.gz; "
        "kraftld never downloads when KRAFTLD_SOURCES is set\n"
    ), err
    assert not (tmp_path / "app").exists()
    (archives / "x-1.0.tar.gz").write_bytes(b"x's sources")
    runner = MirrorMake(image_bytes=static_elf)
    status, _, err = run(["main.o", "-o", "app"], environ, tmp_path, runner)
    assert (status, err) == (0, "")
    build = Path(next(a[2:] for a in runner.makes()[-1].argv if a.startswith("O=")))
    assert (build / "libx" / "x-1.0.tar.gz").read_bytes() == b"x's sources"


def test_the_dry_run_shows_make_s_wget_with_a_mirror(
    tmp_path: Path, environ: dict[str, str], object_bytes: bytes
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    environ = {**environ, "KRAFTLD_SOURCES": str(tmp_path / "mirror"), "KRAFTLD_DRY_RUN": "1"}
    status, out, err = run(["main.o", "-o", "app"], environ, tmp_path)
    assert status == 0, err
    script = f"{tmp_path}/cache/runtime/kraftld_fetch-"
    assert f"downloads: none; make's WGET is {script}" in out and f"from {tmp_path}/mirror/archives" in out
    build = out.splitlines()[-1]
    assert f"'WGET={script}" in build and "downloads.missing'" in build
    assert "-n fetch" not in out and not (tmp_path / "cache" / "runtime").exists()  # nothing written


def test_dynamic_image_is_refused(tmp_path: Path, environ: dict[str, str], object_bytes: bytes) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    dynamic = Path("/bin/true").read_bytes()
    status, _, err = run(["main.o", "-o", "app"], environ, tmp_path, FakeRunner(image_bytes=dynamic))
    assert status == 1
    assert "is not static" in err and "program interpreter" in err
    assert not (tmp_path / "app").exists()


def test_input_removed_from_the_line_relinks(
    tmp_path: Path, environ: dict[str, str], object_bytes: bytes, static_elf: bytes
) -> None:
    for name in ("a.o", "b.o"):
        (tmp_path / name).write_bytes(object_bytes)
    runner = FakeRunner(image_bytes=static_elf)
    assert run(["a.o", "b.o", "-o", "app"], environ, tmp_path, runner)[0] == 0
    (manifest,) = (tmp_path / "cache" / "builds").glob("*/link.manifest")
    first = manifest.read_text()
    assert run(["a.o", "-o", "app"], environ, tmp_path, runner)[0] == 0
    second = manifest.read_text()
    assert first != second and "/b.o" in first and "/b.o" not in second
    (_, build) = runner.makes()[:2]
    assert str(manifest) in next(a for a in build.argv if a.startswith("UK_LDEPS="))


@pytest.mark.parametrize(
    "name",
    [
        "with space.o",
        "dollar$(shell touch PWNED).o",
        "hash#.o",
        "percent%.o",
        "colon:.o",
        "quote'\".o",
        "back`tick`.o",
        "semi;colon|pipe.o",
        "new\nline.o",
    ],
)
def test_hostile_input_names_are_staged_under_plain_names(
    name: str, tmp_path: Path, environ: dict[str, str], object_bytes: bytes
) -> None:
    folder = tmp_path / "odd $(dir) #1"
    folder.mkdir()
    (folder / name).write_bytes(object_bytes)
    status, out, err = run(
        [
            str(folder / name),
            "-o",
            str(folder / "out put"),
        ],
        {**environ, "KRAFTLD_DRY_RUN": "1"},
        tmp_path,
    )
    assert status == 0, err
    for word in ldflags(build_line(out)):
        assert all(c.isalnum() or c in "_./,=+:@%-" for c in word), word
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.o", "-o", "app"], "input not found: missing.o"),
        (["main.o"], "no output named"),
        (["-o", "app"], "no input files"),
        (["main.o", "-o", "no/such/folder/app"], "folder of the output does not exist"),
        (["main.o", "libx.so", "-o", "app"], "is a shared object"),
        (["main.o", "-lnothere", "-o", "app"], "cannot find -lnothere"),
        (["main.o", "-shared", "-o", "app"], "not supported in a unikernel link"),
        (["@missing.rsp"], "response file not found"),
    ],
)
def test_errors_are_one_line_with_a_hint(
    args: list[str], message: str, tmp_path: Path, environ: dict[str, str], object_bytes: bytes
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    (tmp_path / "libx.so").write_bytes(Path("/bin/true").read_bytes()[:64].replace(b"\x02\x00>", b"\x03\x00>", 1))
    status, out, err = run(args, environ, tmp_path)
    assert status == 1 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("kraftld: error: ") and message in lines[0]
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in err


def test_library_found_in_search_dirs(
    tmp_path: Path, environ: dict[str, str], object_bytes: bytes, archive_bytes: bytes
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libfoo.a").write_bytes(archive_bytes)
    (tmp_path / "lib" / "libbar.so").write_bytes(b"\x7fELF")
    status, out, _ = run(["main.o", "-lfoo", "-Llib", "-o", "app"], {**environ, "KRAFTLD_DRY_RUN": "1"}, tmp_path)
    assert status == 0
    assert f"-> {tmp_path / 'lib' / 'libfoo.a'}" in out
    status, _, err = run(["main.o", "-lbar", "-Llib", "-o", "app"], environ, tmp_path)
    assert status == 1 and "only a shared library was found" in err


def test_version_help_and_flag_table(tmp_path: Path, environ: dict[str, str]) -> None:
    assert run(["--version"], environ, tmp_path)[1] == f"kraftld {__version__}\n"
    assert run(["-v"], environ, tmp_path)[1] == f"kraftld {__version__}\n"
    assert "usage: kraftld" in run(["--help"], environ, tmp_path)[1]
    status, out, _ = run(["--explain-flags"], environ, tmp_path)
    assert status == 0 and "-fuse-ld=" in out and "GNU ld" in out


def test_verbose_lists_decisions_and_commands(
    tmp_path: Path, environ: dict[str, str], object_bytes: bytes, static_elf: bytes
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    status, _, err = run(
        ["-v", "main.o", "-Wl,--as-needed", "-o", "app"], environ, tmp_path, FakeRunner(image_bytes=static_elf)
    )
    assert status == 0
    assert "drop    --as-needed" in err
    assert "run: make -C" in err


def test_debug_log_shell_quotes_commands(
    tmp_path: Path, environ: dict[str, str], object_bytes: bytes, static_elf: bytes
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    status, _, err = run(
        ["main.o", "-o", "app"], {**environ, "KRAFTLD_LOG": "debug"}, tmp_path, FakeRunner(image_bytes=static_elf)
    )
    assert status == 0
    (line,) = [line for line in err.splitlines() if "UK_LDFLAGS" in line]
    assert "'UK_LDFLAGS=-Wl,--wrap=exit" in line


def test_not_a_unikraft_tree(tmp_path: Path, environ: dict[str, str], object_bytes: bytes) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    status, _, err = run(["main.o", "-o", "app"], {**environ, "KRAFTLD_UNIKRAFT": str(tmp_path)}, tmp_path)
    assert status == 1 and "not a Unikraft tree" in err


def test_unikraft_too_old(tmp_path: Path, environ: dict[str, str], fake_unikraft: Path, object_bytes: bytes) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    (fake_unikraft / "Makefile").write_text("# no link dependencies here\n")
    status, _, err = run(["main.o", "-o", "app"], environ, tmp_path)
    assert status == 1 and "too old" in err and "UK_LDEPS" in err


def test_jobserver_from_cargo_is_used(
    tmp_path: Path, environ: dict[str, str], object_bytes: bytes, static_elf: bytes
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    read_fd, write_fd = os.pipe()
    try:
        flags = f"-j --jobserver-fds={read_fd},{write_fd} --jobserver-auth={read_fd},{write_fd}"
        runner = FakeRunner(image_bytes=static_elf)
        env = {**environ, "CARGO_MAKEFLAGS": flags, "MAKEFLAGS": "stale"}
        assert run(["main.o", "-o", "app"], env, tmp_path, runner)[0] == 0
        build = runner.makes()[-1]
        assert build.env is not None and build.env["MAKEFLAGS"] == flags
        assert build.pass_fds == (read_fd, write_fd)
        assert not any(a.startswith("-j") for a in build.argv)
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_outer_make_flags_are_not_inherited(
    tmp_path: Path, environ: dict[str, str], object_bytes: bytes, static_elf: bytes
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    runner = FakeRunner(image_bytes=static_elf)
    assert run(["main.o", "-o", "app"], {**environ, "MAKEFLAGS": "--jobserver-auth=98,99"}, tmp_path, runner)[0] == 0
    build = runner.makes()[-1]
    assert build.env is not None and "MAKEFLAGS" not in build.env
    assert any(a.startswith("-j") for a in build.argv)
