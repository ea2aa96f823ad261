"""Unikraft's kconfig tools kept once and placed in new build folders (`kconfig_tools`): which tree,
host tools and flags get which tools, what falls back to make, and a full build through main."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from kraftld import kconfig_tools
from kraftld.cli import main
from kraftld.commands import Command, Completed
from kraftld.kconfig_tools import KconfigTools, before_defconfig, keep, plan_tools, prune
from support import FakeRunner


def host_bin(folder: Path) -> Path:
    """gcc, bison and flex as files of their own: a test changes one to stand for another compiler."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("gcc", "bison", "flex"):
        (folder / name).write_text(f"#!/bin/sh\n# {name} 1\n")
        (folder / name).chmod(0o755)
    return folder


def kconfig_tree(root: Path, conf_source: str = "int main(void) { return 0; }\n") -> Path:
    """A tree with what the key reads of Unikraft's: support/kconfig and the Makefile."""
    (root / "support" / "kconfig").mkdir(parents=True, exist_ok=True)
    (root / "support" / "kconfig" / "conf.c").write_text(conf_source)
    (root / "support" / "kconfig" / "Makefile.br").write_text("include Makefile\n")
    (root / "Makefile").write_text("# UK_LDEPS - explicit link-time dependencies\nHOSTCFLAGS = $(CFLAGS_FOR_BUILD)\n")
    return root


def built_by_make(tools: KconfigTools, text: str = "built") -> None:
    """What make's sub-make leaves in the build folder."""
    os.makedirs(tools.kconfig_dir, exist_ok=True)
    for name in kconfig_tools.TOOLS:
        Path(tools.kconfig_dir, name).write_text(f"{name} {text}\n")


@dataclass
class Host:
    tmp: Path
    store: Path
    environ: dict[str, str]

    def tools(self, tree: Path, build: str, **environ: str) -> KconfigTools:
        return plan_tools(str(self.store), str(tree), str(self.tmp / build), {**self.environ, **environ})


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path, tmp_path / "ccache" / kconfig_tools.FOLDER, {"PATH": str(host_bin(tmp_path / "bin"))})


def first_build(host: Host, tree: Path, **environ: str) -> KconfigTools:
    """A build folder whose tools make built (none were kept): they are kept after."""
    tools = host.tools(tree, "first", **environ)
    placed = before_defconfig(tools)
    assert not placed.placed and placed.keep_as is not None
    built_by_make(tools)
    assert keep(tools, placed.keep_as)
    return tools


def test_a_new_build_folder_of_the_same_tree_elsewhere_gets_the_kept_tools(host: Host) -> None:
    first_build(host, kconfig_tree(host.tmp / "uk"))
    # The same sources in another clone: the key is the files', not the tree's path.
    second = host.tools(kconfig_tree(host.tmp / "other-clone"), "second")
    placed = before_defconfig(second)
    assert placed.placed and placed.keep_as is None
    for name in kconfig_tools.TOOLS:
        path = Path(second.kconfig_dir, name)
        assert path.read_text() == f"{name} built\n"
        assert os.access(path, os.X_OK)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda tree, bin: (tree / "support/kconfig/conf.c").write_text("int main(void) { return 1; }\n"), "a source"),
        (lambda tree, bin: (tree / "support/kconfig/lexer.l").write_text("%%\n"), "a new source file"),
        (lambda tree, bin: (tree / "Makefile").write_text("HOSTCFLAGS = -O2\n"), "the Makefile's rules"),
        (lambda tree, bin: (bin / "gcc").write_text("#!/bin/sh\n# gcc 2, a longer file\n"), "the host compiler"),
        (lambda tree, bin: (bin / "bison").write_text("#!/bin/sh\n# bison 2, a longer file\n"), "bison"),
    ],
)
def test_a_tree_or_host_that_differs_does_not_get_the_other_s_tools(
    host: Host, change: Callable[[Path, Path], object], why: str
) -> None:
    first_build(host, kconfig_tree(host.tmp / "uk"))
    other = kconfig_tree(host.tmp / "other")
    change(other, host.tmp / "bin")
    tools = host.tools(other, "second")
    placed = before_defconfig(tools)
    assert not placed.placed, why
    assert not os.path.exists(tools.kconfig_dir), why  # make builds them, as without kraftld
    assert placed.keep_as is not None, why  # and they are kept under their own key after


@pytest.mark.parametrize(
    ("environ", "same"),
    [
        ({"CFLAGS_FOR_BUILD": "-O2"}, False),
        ({"HOSTCC": "gcc -m32"}, False),
        ({"HOST_EXTRACFLAGS": "-DX"}, False),
        ({"HOSTCFLAGS_conf.o": "-DX"}, False),
        ({"CPATH": "/opt/include"}, False),
        ({"MAKEFLAGS": "-- HOSTCC=clang"}, False),  # an outer make's variables reach the sub-make
        # the jobserver's words and make's flags change nothing built
        ({"MAKEFLAGS": " -j2 --jobserver-auth=fifo:/tmp/GMfifo1"}, True),
        ({"CFLAGS": "-O3"}, True),  # the target compiler's: the sub-make is given HOSTCC's
    ],
)
def test_the_flags_make_builds_them_with_are_part_of_the_key(host: Host, environ: dict[str, str], same: bool) -> None:
    tree = kconfig_tree(host.tmp / "uk")
    plain = kconfig_tools.key(host.tools(tree, "a"))
    assert plain is not None
    assert (kconfig_tools.key(host.tools(tree, "b", **environ)) == plain) is same


def test_what_cannot_be_identified_is_left_to_make(host: Host) -> None:
    tree = kconfig_tree(host.tmp / "uk")
    assert kconfig_tools.key(host.tools(tree, "a", HOSTCC="no-such-cc")) is None
    (host.tmp / "nokconfig").mkdir()  # a tree without support/kconfig: not Unikraft's shape
    tools = host.tools(host.tmp / "nokconfig", "b")
    assert before_defconfig(tools) == kconfig_tools.Placed(False)


def test_a_folder_that_has_tools_keeps_its_own_and_nothing_is_kept_from_it(host: Host) -> None:
    tree = kconfig_tree(host.tmp / "uk")
    first_build(host, tree)
    tools = host.tools(tree, "reconfigured")
    built_by_make(tools, "its own")  # built earlier, maybe with other host tools
    assert before_defconfig(tools) == kconfig_tools.Placed(False)
    assert Path(tools.kconfig_dir, "conf").read_text() == "conf its own\n"


def test_a_kept_pair_that_is_not_whole_is_not_placed(host: Host) -> None:
    tree = kconfig_tree(host.tmp / "uk")
    first = first_build(host, tree)
    digest = kconfig_tools.key(first)
    assert digest is not None
    (host.store / digest / "conf").unlink()
    tools = host.tools(tree, "second")
    placed = before_defconfig(tools)
    assert not placed.placed and not os.path.exists(tools.kconfig_dir)


def test_a_copy_that_fails_midway_leaves_no_tool_behind(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = kconfig_tree(host.tmp / "uk")
    first_build(host, tree)
    real_copy = kconfig_tools._copy

    def copy_then_fail(source: str, target: str) -> None:
        if target.endswith("/conf"):
            raise OSError(28, "No space left on device")
        real_copy(source, target)

    monkeypatch.setattr(kconfig_tools, "_copy", copy_then_fail)
    tools = host.tools(tree, "second")
    placed = before_defconfig(tools)
    assert not placed.placed and placed.keep_as is not None
    assert os.listdir(tools.kconfig_dir) == []  # fixdep, placed first, is gone again: make builds both


def test_the_bound_keeps_the_most_recently_used_pairs(host: Host) -> None:
    for number in range(5):
        pair = host.store / f"pair{number}"
        pair.mkdir(parents=True)
        os.utime(pair, (1000 + number, 1000 + number))
    (host.store / "pair9.partial-999999999-abcd").mkdir()  # a writer that is gone
    removed = prune(str(host.store), kept=3)
    assert sorted(os.path.basename(path) for path in removed) == ["pair0", "pair1", "pair9.partial-999999999-abcd"]
    assert sorted(os.listdir(host.store)) == ["pair2", "pair3", "pair4"]


@dataclass
class KconfigMake(FakeRunner):
    """make's defconfig builds the kconfig tools only where the build folder has none, as Unikraft's
    rules without prerequisites do; `built` counts the folders it built them in."""

    built: list[str] = field(default_factory=list)

    def __call__(
        self, command: Command, *, log_file: IO[str] | None = None, on_line: Callable[[str], None] | None = None
    ) -> Completed:
        argv = command.argv
        if argv[0] == "make" and "defconfig" in argv:
            kconfig = Path(next(a[2:] for a in argv if a.startswith("O="))) / "kconfig"
            if not (kconfig / "conf").exists():
                kconfig.mkdir(parents=True, exist_ok=True)
                for name in kconfig_tools.TOOLS:
                    (kconfig / name).write_text(f"{name} from make\n")
                self.built.append(str(kconfig))
        return super().__call__(command, log_file=log_file, on_line=on_line)


# With a compiler cache (on by default, ccache installed or not) and with KRAFTLD_CCACHE=0.
@pytest.mark.parametrize(("compiler_cache", "built"), [({}, 1), ({"KRAFTLD_CCACHE": "0"}, 2)])
def test_a_fresh_cache_sharing_ccache_s_folder_gets_the_tools_the_first_built(
    tmp_path: Path,
    fake_unikraft: Path,
    environ: dict[str, str],
    object_bytes: bytes,
    static_elf: bytes,
    compiler_cache: dict[str, str],
    built: int,
) -> None:
    kconfig_tree(fake_unikraft)
    (tmp_path / "main.o").write_bytes(object_bytes)
    runner = KconfigMake(image_bytes=static_elf)
    path = f"{host_bin(tmp_path / 'bin')}:{environ['PATH']}"
    for cache in ("one", "two"):
        env = {
            **environ,
            "KRAFTLD_CACHE": str(tmp_path / cache),
            "CCACHE_DIR": str(tmp_path / "ccache"),
            **compiler_cache,
            "PATH": path,
        }
        err = io.StringIO()
        status = main(["main.o", "-o", f"out-{cache}"], environ=env, cwd=str(tmp_path), runner=runner, stderr=err)
        assert status == 0, err.getvalue()
    assert len(runner.built) == built  # with a compiler cache, the second build folder got the first's
    (entry,) = (tmp_path / "two" / "builds").iterdir()
    assert (entry / "build" / "kconfig" / "conf").read_text() == "conf from make\n"
