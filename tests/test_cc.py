"""kraftld-cc's unit layer: how a gcc line is classified, what the compile and the link are given,
which of the build's recorded flags a user's compile keeps, and which configuration a project gets."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kraftld.cc import arguments, cli, configuration, driver
from kraftld.cc.arguments import Mode, classify, link_line
from kraftld.cc.unikraft_flags import BuildFlags, compiler_words, filter_flags, read_build_flags
from kraftld.commands import Command, Completed
from kraftld.errors import UsageError
from kraftld.flags import GCC_OPTIONS, Form, GccOption
from kraftld.kraftfile import DEFAULT_KRAFTFILE
from kraftld.settings import Settings

# argv → (mode, sources, output, what gcc is given for compiling/preprocessing)
CLASSIFIED = [
    (["-c", "x.c"], Mode.COMPILE, ["x.c"], None, ["-c", "x.c"]),
    (["-c", "-O2", "-g", "x.c", "-o", "x.o"], Mode.COMPILE, ["x.c"], "x.o", ["-c", "-O2", "-g", "x.c", "-o", "x.o"]),
    (["-S", "x.c"], Mode.ASSEMBLY, ["x.c"], None, ["-S", "x.c"]),
    (["-E", "conftest.c"], Mode.PREPROCESS, ["conftest.c"], None, ["-E", "conftest.c"]),
    (["-E", "-"], Mode.PREPROCESS, ["-"], None, ["-E", "-"]),
    (["-E", "-c", "x.c"], Mode.PREPROCESS, ["x.c"], None, ["-E", "-c", "x.c"]),  # gcc stops at the earliest
    (["-MM", "a.c", "b.c"], Mode.PREPROCESS, ["a.c", "b.c"], None, ["-MM", "a.c", "b.c"]),
    (["-M", "a.c"], Mode.PREPROCESS, ["a.c"], None, ["-M", "a.c"]),
    # automake's depcomp: -MD writes the .d beside a real compile
    (
        ["-MT", "a.o", "-MD", "-MP", "-MF", ".deps/a.Tpo", "-c", "-o", "a.o", "a.c"],
        Mode.COMPILE,
        ["a.c"],
        "a.o",
        ["-MT", "a.o", "-MD", "-MP", "-MF", ".deps/a.Tpo", "-c", "-o", "a.o", "a.c"],
    ),
    # link-only words never reach gcc's compile
    (["-c", "x.c", "-lm", "-L/lib", "-Wl,--gc-sections"], Mode.COMPILE, ["x.c"], None, ["-c", "x.c"]),
    (["-c", "-x", "c", "conf.in"], Mode.COMPILE, ["conf.in"], None, ["-c", "-x", "c", "conf.in"]),
    # gcc's -B and --sysroot take the next argument as their value: it is no input
    (["-c", "-B", "/opt/bin", "x.c"], Mode.COMPILE, ["x.c"], None, ["-c", "-B", "/opt/bin", "x.c"]),
    (["--sysroot", "/sr", "a.o", "-o", "p"], Mode.LINK, [], "p", ["--sysroot", "/sr", "-o", "p"]),
    (["x.c", "-o", "prog"], Mode.LINK, ["x.c"], "prog", ["x.c", "-o", "prog"]),
    (["a.o", "libz.a", "-o", "prog"], Mode.LINK, [], "prog", ["-o", "prog"]),
    (["-oprog", "a.o"], Mode.LINK, [], "prog", ["-oprog"]),
    (["--version"], Mode.QUERY, [], None, ["--version"]),
    (["-v"], Mode.QUERY, [], None, ["-v"]),
    (["-print-prog-name=ld"], Mode.QUERY, [], None, ["-print-prog-name=ld"]),
    (["-dumpmachine"], Mode.QUERY, [], None, ["-dumpmachine"]),
    ([], Mode.QUERY, [], None, []),
]


@pytest.mark.parametrize(("argv", "mode", "sources", "output", "gcc"), CLASSIFIED)
def test_classify(argv: list[str], mode: Mode, sources: list[str], output: str | None, gcc: list[str]) -> None:
    invocation = classify(argv)
    assert invocation.mode is mode
    assert [s.path for s in invocation.sources] == sources
    assert invocation.output == output
    assert invocation.gcc_line() == gcc


# argv, the objects its sources became → what kraftld links
LINKED = [
    (["x.c", "-o", "p"], ["/t/0-x.o"], ["/t/0-x.o", "-o", "p"]),
    # inputs keep their places, compile-only options stay out, link options stay in
    (
        ["-O2", "-DX=1", "-I", "inc", "a.c", "b.o", "-Lout", "-lz", "c.c", "-Wl,--gc-sections", "-o", "p", "-Wall"],
        ["/t/0-a.o", "/t/1-c.o"],
        ["-O2", "/t/0-a.o", "b.o", "-Lout", "-lz", "/t/1-c.o", "-Wl,--gc-sections", "-o", "p"],
    ),
    (
        ["-MD", "-MF", "x.d", "-std=c99", "-include", "cfg.h", "x.c", "-fno-pic", "-pthread"],
        ["/t/0-x.o"],
        ["/t/0-x.o", "-fno-pic", "-pthread"],
    ),
    (["-x", "c", "conftest.in", "-o", "conftest"], ["/t/0-conftest.o"], ["/t/0-conftest.o", "-o", "conftest"]),
]


@pytest.mark.parametrize(("argv", "objects", "expected"), LINKED)
def test_link_line(argv: list[str], objects: list[str], expected: list[str]) -> None:
    assert link_line(classify(argv), objects) == expected


# argv → one source's compile options (no inputs, no -o, no -x: each source gets its own)
COMPILE_ARGS = [
    (["-O2", "-DX", "a.c", "-o", "p", "-lz"], ["-O2", "-DX"]),
    (["-x", "c", "a.in", "-Wall", "-o", "p"], ["-Wall"]),
    (["-include", "c.h", "-isystem", "/s", "a.c"], ["-include", "c.h", "-isystem", "/s"]),
]


@pytest.mark.parametrize(("argv", "expected"), COMPILE_ARGS)
def test_compile_args(argv: list[str], expected: list[str]) -> None:
    assert classify(argv).compile_args() == expected


def _spelled(option: GccOption) -> list[str]:
    """The option as a line spells it, with a value where its form takes one."""
    if option.form is Form.FLAG:
        return [option.name]
    if option.form is Form.JOINED:
        return [option.name + "v"]
    return [option.name, "v"]


@pytest.mark.parametrize("option", GCC_OPTIONS, ids=lambda option: option.name)
def test_each_option_goes_to_the_steps_its_row_names(option: GccOption) -> None:
    # kraftld-cc reads the phase from gcc's one table, the table kraftld's link judges by too.
    words = classify([*_spelled(option), "x.c"]).words
    assert [word.phase for word in words if word.args == tuple(_spelled(option))] == [option.phase]


def test_source_keeps_its_language() -> None:
    source = classify(["-x", "c", "conftest.in", "-o", "p"]).sources[0]
    assert arguments.source_args(source) == ["-x", "c", "conftest.in"]
    assert arguments.object_name("src/lua.c") == "lua.o"


@pytest.mark.parametrize("argv", [["-o"], ["-c", "x.c", "-include"], ["-MF"]])
def test_missing_value_is_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(UsageError, match="needs a value"):
        classify(argv)


# What make recorded for kraftld's application object (shortened from a real lib-musl build).
RECORDED = (
    "sh /c/builds/k/cc-launcher.sh /c/builds/k/build /usr/bin/ccache gcc -nostdlib -U __linux__ -nostdinc "
    '-fno-stack-protector -Wall -Wextra -D __Unikraft__ -DUK_CODENAME="Calypso" -DUK_VERSION=0.17 -O2 '
    "-fno-omit-frame-pointer -fno-PIC -I/c/builds/k/build/include -I/uk/include "
    "-I/c/builds/k/build/libmusl/origin/musl-1.2.3//arch/x86_64 -I /uk/lib-musl/include "
    "-D__X86_64__ -m64 -mno-red-zone -Wno-unused-parameter -DUK_LIBPARAM_LIBPREFIX=kraftld -g2 "
    "-D__LIBNAME__=appkraftld -D__BASENAME__=kraftld_params.c -c /c/builds/k/app/kraftld_params.c "
    "-o /c/builds/k/build/appkraftld/kraftld_params.o -Wp,-MD,/c/builds/k/build/appkraftld/.kraftld_params.o.d"
)


def test_recorded_flags_are_filtered() -> None:
    words = compiler_words(RECORDED)
    assert words[0] == "-nostdlib" and "-c" not in words and "/c/builds/k/app/kraftld_params.c" not in words
    flags = filter_flags(words, "/usr/lib/gcc/x86_64-linux-gnu/12/include")
    assert flags.flags == (
        "-U",
        "__linux__",
        "-nostdinc",
        "-fno-stack-protector",
        "-D",
        "__Unikraft__",
        "-DUK_CODENAME=Calypso",
        "-DUK_VERSION=0.17",
        "-fno-omit-frame-pointer",
        "-fno-PIC",
        "-D__X86_64__",
        "-m64",
        "-mno-red-zone",
    )
    # every include folder becomes a system folder, in order, gcc's own last
    assert flags.includes == (
        "-isystem",
        "/c/builds/k/build/include",
        "-isystem",
        "/uk/include",
        "-isystem",
        "/c/builds/k/build/libmusl/origin/musl-1.2.3//arch/x86_64",
        "-isystem",
        "/uk/lib-musl/include",
        "-isystem",
        "/usr/lib/gcc/x86_64-linux-gnu/12/include",
    )
    for word in ("-O2", "-g2", "-Wall", "-nostdlib", "-DUK_LIBPARAM_LIBPREFIX=kraftld", "-D__LIBNAME__=appkraftld"):
        assert word in flags.dropped


def test_read_build_flags(tmp_path: Path) -> None:
    assert read_build_flags(str(tmp_path), None) is None  # not built yet
    (tmp_path / "appkraftld").mkdir()
    (tmp_path / "appkraftld" / "kraftld_params.o.cmd").write_text(RECORDED + "\n")
    flags = read_build_flags(str(tmp_path), None)
    assert flags is not None and flags.source.endswith("kraftld_params.o.cmd")
    assert flags.includes[-1] == "/uk/lib-musl/include"


def _settings(tmp_path: Path, *, musl: bool) -> Settings:
    sources = tmp_path / "mirror"
    (sources / "unikraft").mkdir(parents=True)
    if musl:
        (sources / "lib-musl").mkdir()
    return Settings.from_environ({"KRAFTLD_SOURCES": str(sources), "KRAFTLD_CACHE": str(tmp_path / "cache")})


def test_default_configuration_is_lib_musl_with_a_c_programs_options(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    kraftfile = configuration.project_kraftfile(str(project), _settings(tmp_path, musl=True))
    assert [lib.name for lib in kraftfile.libraries] == ["musl"]
    options = dict(kraftfile.unikraft.kconfig)
    for option in (
        "CONFIG_LIBPOSIX_PROCESS",
        "CONFIG_LIBUKBOOT_MAINTHREAD",
        "CONFIG_LIBPOSIX_ENVIRON",
        "CONFIG_LIBRAMFS",
    ):
        assert options[option] == "y"
    assert not kraftfile.auto_libraries


def test_without_lib_musl_the_default_is_nolibc(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    kraftfile = configuration.project_kraftfile(str(project), _settings(tmp_path, musl=False))
    assert kraftfile.libraries == () and kraftfile.unikraft.kconfig == ()


@pytest.mark.parametrize(
    ("libraries", "expected"), [("libraries: {}", []), ("libraries:\n  musl: {}\n  lwip: {}", ["musl", "lwip"])]
)
def test_a_kraftfile_naming_its_libraries_is_the_configuration(
    tmp_path: Path, libraries: str, expected: list[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Kraftfile").write_text(f"spec: v0.6\nname: p\nunikraft: {{}}\n{libraries}\ntargets: [qemu/x86_64]\n")
    kraftfile = configuration.project_kraftfile(str(project), _settings(tmp_path, musl=True))
    assert [lib.name for lib in kraftfile.libraries] == expected


def test_auto_kraftfile_gets_the_default_libraries(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Kraftfile").write_text("spec: v0.6\nname: p\nunikraft: {}\nlibraries: auto\ntargets: [qemu/x86_64]\n")
    kraftfile = configuration.project_kraftfile(str(project), _settings(tmp_path, musl=True))
    assert [lib.name for lib in kraftfile.libraries] == ["musl"] and kraftfile.name == "p"


FLAGS = BuildFlags(("-nostdinc", "-fno-PIC"), ("-isystem", "/musl/include", "-isystem", "/gcc/include"), "x.cmd")


class Recorder:
    def __init__(self) -> None:
        self.commands: list[Command] = []

    def __call__(self, command: Command) -> int:
        self.commands.append(command)
        return 0


def _no_process(command: Command, **_: object) -> Completed:
    raise AssertionError(f"no process expected: {command.argv}")


NO_CCACHE = {"KRAFTLD_CCACHE": "0"}


def test_compile_puts_the_builds_flags_around_the_users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver, "compile_flags", lambda *a, **k: FLAGS)
    passthrough = Recorder()
    status = cli.main(
        ["-c", "-O2", "-Iinc", "x.c", "-o", "x.o", "-lz"],
        environ=NO_CCACHE,
        cwd="/p",
        runner=_no_process,
        passthrough=passthrough,
        stderr=io.StringIO(),
    )
    assert status == 0
    assert passthrough.commands == [
        Command(
            (
                "gcc",
                "-nostdinc",
                "-fno-PIC",
                "-c",
                "-O2",
                "-Iinc",
                "x.c",
                "-o",
                "x.o",
                "-isystem",
                "/musl/include",
                "-isystem",
                "/gcc/include",
            ),
            cwd="/p",
            env=NO_CCACHE,
        )
    ]


def _fake_ccache(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH finds a `ccache` (never run: the passthrough records) and
    whose kraftld cache is in tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ccache").write_text("#!/bin/sh\nexit 99\n")
    (bin_dir / "ccache").chmod(0o755)
    return {"PATH": str(bin_dir), "KRAFTLD_CACHE": str(tmp_path / "cache")}


# argv → whether gcc runs behind ccache: only compiles to objects are cached (ccache passes -E,
# -M and -S through to the compiler anyway)
CACHED = [
    (["-c", "x.c"], True),
    (["-c", "-MD", "-MF", "x.d", "x.c", "-o", "x.o"], True),
    (["-E", "x.c"], False),
    (["-MM", "x.c"], False),
    (["-S", "x.c"], False),
]


@pytest.mark.parametrize(("argv", "cached"), CACHED)
def test_compiles_to_objects_go_through_ccache_by_kraftlds_rules(
    argv: list[str], cached: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(driver, "compile_flags", lambda *a, **k: FLAGS)
    env = _fake_ccache(tmp_path)
    passthrough = Recorder()
    assert cli.main(argv, environ=env, cwd="/p", runner=_no_process, passthrough=passthrough) == 0
    (command,) = passthrough.commands
    gcc = ("gcc", *FLAGS.flags, *argv, *FLAGS.includes)
    if cached:  # kraftld's own build's store and bound, as for Unikraft's objects
        assert command.argv == (str(tmp_path / "bin" / "ccache"), *gcc)
        assert command.env == {**env, "CCACHE_DIR": str(tmp_path / "cache" / "ccache"), "CCACHE_MAXSIZE": "2G"}
    else:
        assert (command.argv, command.env) == (gcc, env)
    # KRAFTLD_CCACHE=0 turns it off; a user's CCACHE_DIR is kept
    off = Recorder()
    cli.main(argv, environ={**env, **NO_CCACHE}, cwd="/p", runner=_no_process, passthrough=off)
    assert off.commands[0].argv == gcc
    own = Recorder()
    cli.main(argv, environ={**env, "CCACHE_DIR": "/mine"}, cwd="/p", runner=_no_process, passthrough=own)
    assert own.commands[0].env == {**env, "CCACHE_DIR": "/mine"}  # and no bound of kraftld's on the user's store


def test_kraftld_ccache_1_without_ccache_is_kraftlds_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(driver, "compile_flags", lambda *a, **k: FLAGS)
    err = io.StringIO()
    env = {"PATH": str(tmp_path), "KRAFTLD_CCACHE": "1"}
    assert cli.main(["-c", "x.c"], environ=env, cwd="/p", runner=_no_process, passthrough=Recorder(), stderr=err) == 1
    assert err.getvalue().startswith("kraftld-cc: error: KRAFTLD_CCACHE=1 but ccache is not installed\nhint: ")


def test_queries_go_to_gcc_unchanged() -> None:
    passthrough = Recorder()
    assert cli.main(["--version"], environ={}, cwd="/p", runner=_no_process, passthrough=passthrough) == 0
    assert passthrough.commands == [Command(("gcc", "--version"), cwd="/p", env={})]


def test_a_failed_compile_keeps_gccs_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver, "compile_flags", lambda *a, **k: FLAGS)
    monkeypatch.setattr(driver, "project_kraftfile", lambda *a, **k: DEFAULT_KRAFTFILE)
    links: list[object] = []
    monkeypatch.setattr("kraftld.pipeline.link", lambda *a, **k: links.append(a))
    status = cli.main(
        ["a.c", "-o", "p"],
        environ=NO_CCACHE,
        cwd="/p",
        runner=_no_process,
        passthrough=lambda c: 1,
        stderr=io.StringIO(),
    )
    assert status == 1 and links == []  # nothing is linked after a failed compile


def test_link_compiles_sources_then_links_with_the_same_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    kraftfile = DEFAULT_KRAFTFILE
    monkeypatch.setattr(driver, "compile_flags", lambda *a, **k: FLAGS)
    monkeypatch.setattr(driver, "project_kraftfile", lambda *a, **k: kraftfile)
    links: list[tuple[list[str], object]] = []
    monkeypatch.setattr("kraftld.pipeline.link", lambda args, *a, **k: links.append((list(args), k["kraftfile"])))
    passthrough = Recorder()
    status = cli.main(
        ["-O2", "a.c", "b.o", "-lz"], environ=NO_CCACHE, cwd="/p", runner=_no_process, passthrough=passthrough
    )
    assert status == 0
    (compiled,) = passthrough.commands
    obj = compiled.argv[compiled.argv.index("-o") + 1]
    assert compiled.argv[:6] == ("gcc", "-nostdinc", "-fno-PIC", "-O2", "a.c", "-c") and obj.endswith("0-a.o")
    assert links == [(["-O2", obj, "b.o", "-lz", "-o", "a.out"], kraftfile)]


def test_kraftld_errors_are_kraftld_ccs() -> None:
    err = io.StringIO()
    assert cli.main(["-c", "x.c", "-MF"], environ={}, cwd="/p", runner=_no_process, stderr=err) == 1
    assert err.getvalue().startswith("kraftld-cc: error: -MF needs a value after it\nhint: ")


def test_a_given_configuration_is_built_as_it_is(tmp_path: Path, environ: dict[str, str]) -> None:
    """kraftld-cc's links hand the pipeline their configuration: no library is chosen from the
    link's symbols (zero-config would add vfscore for `open`; a probe would get a build of its own)."""
    from kraftld import pipeline
    from support import FakeRunner

    (tmp_path / "main.c").write_text('int open(const char *, int); int main(void) { return open("/f", 0); }\n')
    subprocess.run(["gcc", "-c", "-fno-pic", "-o", str(tmp_path / "main.o"), str(tmp_path / "main.c")], check=True)
    env = {**environ, "KRAFTLD_DRY_RUN": "1"}
    args = ["main.o", "-o", "app"]
    chosen = pipeline.link(args, env, str(tmp_path), FakeRunner(), log_stream=io.StringIO())
    given = pipeline.link(args, env, str(tmp_path), FakeRunner(), log_stream=io.StringIO(), kraftfile=DEFAULT_KRAFTFILE)
    assert chosen.probed is not None and chosen.probed.selection is not None
    assert "CONFIG_LIBVFSCORE=y" in chosen.probed.config.defconfig
    assert given.probed is not None and given.probed.selection is None
    assert "CONFIG_LIBVFSCORE" not in given.probed.config.defconfig


def _git(tree: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True
    )


class Resolutions:
    """configured_build's stand-in: a build entry with a recorded compile line, and one real git
    tree probed as the pipeline probes it; counts how often kraftld-cc resolves."""

    def __init__(self, tmp_path: Path) -> None:
        from kraftld.layout import EntryLayout

        self.tree = tmp_path / "unikraft"
        self.tree.mkdir()
        (self.tree / "Makefile").write_text("all:\n")
        _git(self.tree, "init", "-q")
        _git(self.tree, "add", "Makefile")
        _git(self.tree, "commit", "-q", "-m", "one")
        self.entry = EntryLayout(str(tmp_path / "cache" / "builds" / "k"))
        self.recorded = Path(self.entry.build) / "appkraftld" / "kraftld_params.o.cmd"
        self.recorded.parent.mkdir(parents=True)
        self.recorded.write_text("cmd := gcc -nostdinc -I/uk/include -fno-PIC -c -o x.o x.c\n")
        self.count = 0

    def __call__(self, environ: object, cwd: str, runner: object, **_: object) -> configuration.Configured:
        from kraftld.cc.note import Tree
        from kraftld.process import run_process
        from kraftld.sources import git_commit, worktree_state

        self.count += 1
        commit = git_commit(str(self.tree), run_process)
        state = worktree_state(str(self.tree), commit, run_process, untracked=False)
        flags = read_build_flags(self.entry.build, "/gcc/include")
        assert flags is not None
        return configuration.Configured(
            DEFAULT_KRAFTFILE, self.entry, flags, (Tree(str(self.tree), commit, state, False),)
        )


def _edit_tracked(r: Resolutions, env: dict[str, str], cwd: Path) -> None:
    (r.tree / "Makefile").write_text("all: x\n")


def _commit(r: Resolutions, env: dict[str, str], cwd: Path) -> None:
    (r.tree / "Makefile").write_text("all: y\n")
    _git(r.tree, "commit", "-q", "-am", "two")


def _kraftfile(r: Resolutions, env: dict[str, str], cwd: Path) -> None:
    (cwd / "Kraftfile").write_text("spec: v0.6\nname: p\nlibraries: {}\n")


def _variable(r: Resolutions, env: dict[str, str], cwd: Path) -> None:
    env["KRAFTLD_TARGET"] = "qemu/x86_64"


def _log_level(r: Resolutions, env: dict[str, str], cwd: Path) -> None:
    env["KRAFTLD_LOG"] = "debug"


def _recorded_line(r: Resolutions, env: dict[str, str], cwd: Path) -> None:
    r.recorded.write_text("cmd := gcc -nostdinc -I/uk/include -fstack-protector -c -o x.o x.c\n")


def _rewritten_same_line(r: Resolutions, env: dict[str, str], cwd: Path) -> None:
    r.recorded.write_text(r.recorded.read_text())  # a link rebuilt kraftld's object: same line


def _building(r: Resolutions, env: dict[str, str], cwd: Path) -> None:
    Path(r.entry.build_marker).write_text("")


def _nothing(r: Resolutions, env: dict[str, str], cwd: Path) -> None:
    pass


# what changes between two compiles → whether the second resolves the configuration again
CHANGES = [
    (_nothing, False),
    (_log_level, False),
    (_rewritten_same_line, False),
    (_edit_tracked, True),  # an edited tree is another build (worktree_state)
    (_commit, True),
    (_kraftfile, True),
    (_variable, True),
    (_recorded_line, True),  # the build's flags changed (a Kraftfile option, a rebuilt entry)
    (_building, True),  # the entry is being built: its recorded line may be about to change
]


@pytest.mark.parametrize(("change", "resolves"), CHANGES, ids=[c.__name__.strip("_") for c, _ in CHANGES])
def test_a_note_serves_compiles_while_what_decided_it_holds(
    change: Callable[[Resolutions, dict[str, str], Path], None],
    resolves: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kraftld.process import run_process

    resolutions = Resolutions(tmp_path)
    monkeypatch.setattr(configuration, "configured_build", resolutions)
    cwd = tmp_path / "project"
    cwd.mkdir()
    env = {"KRAFTLD_CACHE": str(tmp_path / "cache"), "PATH": os.environ.get("PATH", "")}
    first = configuration.compile_flags(dict(env), str(cwd), run_process, log_stream=io.StringIO())
    again = configuration.compile_flags(dict(env), str(cwd), run_process, log_stream=io.StringIO())
    assert (resolutions.count, again) == (1, first)  # the second compile read the note
    change(resolutions, env, cwd)
    after = configuration.compile_flags(dict(env), str(cwd), run_process, log_stream=io.StringIO())
    assert resolutions.count == (2 if resolves else 1)
    expected = read_build_flags(resolutions.entry.build, "/gcc/include")
    assert after == expected  # with a note or without, the flags are the build's own


@pytest.mark.parametrize(
    "argv", [["-c", "x.cpp"], ["x.cc", "-o", "p"], ["-x", "c++", "-c", "conftest.c"], ["-E", "y.C"]]
)
def test_cxx_is_refused_with_the_reason(argv: list[str]) -> None:
    with pytest.raises(UsageError, match="is C\\+\\+: kraftld-cc compiles C only") as raised:
        classify(argv)
    assert "lib-libcxx" in raised.value.hint


def test_x_none_ends_cxx() -> None:
    assert [s.path for s in classify(["-x", "c++", "-x", "none", "-c", "a.c"]).sources] == ["a.c"]


def test_a_cache_that_cannot_take_the_note_still_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kraftld.process import run_process

    resolutions = Resolutions(tmp_path)
    monkeypatch.setattr(configuration, "configured_build", resolutions)

    def refuse(path: str, note: object) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(configuration, "write_note", refuse)
    env = {"KRAFTLD_CACHE": str(tmp_path / "cache"), "PATH": os.environ.get("PATH", "")}
    for count in (1, 2):  # each compile resolves: there is no note to read
        flags = configuration.compile_flags(env, str(tmp_path), run_process, log_stream=io.StringIO())
        assert (resolutions.count, flags) == (count, read_build_flags(resolutions.entry.build, "/gcc/include"))
