"""The execution stage in the unit layer: full builds and fast relinks through a make that acts
as Unikraft's (its final steps really run: gcc and strip, recorded in `.cmd` files), the
head-start note made from a plan, and the pure stages called directly."""

from __future__ import annotations

import fcntl
import io
import os
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from kraftld import headstart
from kraftld.cli import main
from kraftld.commands import Command, Completed
from kraftld.errors import KraftldError
from kraftld.execute import execute, replay
from kraftld.headstart import LINK_DIR_MARK
from kraftld.layout import CacheLayout
from kraftld.linkline import parse_link_line
from kraftld.pipeline import make_setup, plan_from_line, shipped_app_texts
from kraftld.plan import APP_FILES, APP_FOLDER, LinkPlan, app_folder_is_plain, plan_link
from kraftld.process import run_process
from kraftld.progress import TerminalProgress
from kraftld.progress import terminal_progress as real_terminal_progress  # before conftest replaces it
from kraftld.resolve import StagedFile, resolve_link
from kraftld.settings import Settings
from support import FakeRunner

IMAGE = "app_qemu-x86_64"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class UnikraftLike(FakeRunner):
    """make writes the image by running final steps of Unikraft's shape, and records them in
    `.cmd` files as Unikraft does; the fast relink's replay of them runs for real too."""

    object_bytes: bytes = b""
    git_status: tuple[str, ...] = ()  # what `git status` says of every tree

    def __call__(
        self, command: Command, *, log_file: IO[str] | None = None, on_line: Callable[[str], None] | None = None
    ) -> Completed:
        argv = command.argv
        if argv[0] == "git":
            self.commands.append(command)
            return Completed(command, 0, self.git_status)
        if argv[0] == "gcc" and "-c" in argv:  # the runtime object: any x86_64 object will do here
            self.commands.append(command)
            Path(argv[argv.index("-o") + 1]).write_bytes(self.object_bytes)
            return Completed(command, 0)
        if argv[0] in ("gcc", "strip"):  # a final step, replayed
            self.commands.append(command)
            return run_process(command)
        if argv[0] == "make" and "defconfig" not in argv:
            self.commands.append(command)
            build = Path(next(a[2:] for a in argv if a.startswith("O=")))
            build.mkdir(parents=True, exist_ok=True)
            ldflags = next(a[len("UK_LDFLAGS=") :] for a in argv if a.startswith("UK_LDFLAGS=")).split()
            image = build / IMAGE
            ld = ("gcc", "-nostdlib", "-static", "-no-pie", "-Wl,-e,0", "-Wl,--unresolved-symbols=ignore-all")
            steps = {
                f"{image}.dbg": (*ld, *ldflags, "-o", f"{image}.dbg"),
                str(image): ("strip", "-s", f"{image}.dbg", "-o", str(image)),
            }
            for made, step in steps.items():
                Path(f"{made}.cmd").write_text(shlex.join(step) + "\n")
                completed = run_process(Command(step, cwd=str(build)))
                assert completed.returncode == 0, completed.tail
            return Completed(command, 0)
        return super().__call__(command, log_file=log_file, on_line=on_line)

    def steps(self) -> list[Command]:
        return [c for c in self.commands if c.argv[0] == "strip" or (c.argv[0] == "gcc" and "-c" not in c.argv)]


@pytest.fixture(scope="session")
def runtime_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An x86_64 object standing for kraftld's runtime object (its symbols are no test's)."""
    folder = tmp_path_factory.mktemp("runtime")
    (folder / "runtime.c").write_text("int kraftld_test_runtime(void) { return 0; }\n")
    run_process(Command(("gcc", "-c", "-o", str(folder / "runtime.o"), str(folder / "runtime.c"))))
    return (folder / "runtime.o").read_bytes()


@pytest.fixture
def git_unikraft(fake_unikraft: Path) -> Path:
    """The fake tree as a git checkout (a fast relink needs one): its HEAD is read directly."""
    (fake_unikraft / ".git").mkdir()
    (fake_unikraft / ".git" / "HEAD").write_text(COMMIT + "\n")
    return fake_unikraft


@dataclass
class Linker:
    environ: dict[str, str]
    cwd: Path
    runner: UnikraftLike

    def link(self, args: list[str], *, head_start: bool = False) -> str:
        out, err = io.StringIO(), io.StringIO()
        environ = {**self.environ, "KRAFTLD_LOG": "debug"}
        status = main(
            args, environ=environ, cwd=str(self.cwd), runner=self.runner, stdout=out, stderr=err, head_start=head_start
        )
        assert status == 0, err.getvalue()
        return err.getvalue()

    def plan(self, args: list[str]) -> LinkPlan:
        settings = Settings.from_environ(self.environ)
        plan, _ = plan_from_line(parse_link_line(args), settings, self.environ, str(self.cwd), self.runner)
        return plan


@pytest.fixture
def linker(
    tmp_path: Path, environ: dict[str, str], git_unikraft: Path, object_bytes: bytes, runtime_bytes: bytes
) -> Linker:
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "main.o").write_bytes(object_bytes)
    return Linker(environ, cwd, UnikraftLike(object_bytes=runtime_bytes))


def test_a_full_build_records_and_the_next_link_replays_its_steps(linker: Linker) -> None:
    built = linker.link(["main.o", "-Wl,-Map,app.map", "-o", "app"])
    assert "with make" in built and len(linker.runner.makes()) == 2  # defconfig, build
    linker.runner.commands.clear()
    (linker.cwd / "main.o").write_bytes((linker.cwd / "main.o").read_bytes())  # rebuilt by the compiler
    relinked = linker.link(["main.o", "-Wl,-Map,app.map", "-o", "app"])
    assert "replaying the final link steps" in relinked
    assert linker.runner.makes() == []
    ld, strip = linker.runner.steps()
    link_dir = Path(ld.argv[ld.argv.index("-o") + 1]).parent
    assert link_dir.parent.name == "links"
    # The staged input and the -Map file are the fast relink folder's own, not the entry's.
    assert str(link_dir / "inputs" / "0000-main.o") in ld.argv
    assert f"-Wl,-Map,{link_dir}/outputs/0000-app.map" in ld.argv
    assert strip.argv[-1] == str(link_dir / IMAGE)
    assert (linker.cwd / "app").read_bytes()[:4] == b"\x7fELF" and (linker.cwd / "app.map").is_file()
    assert not link_dir.exists()


def test_a_changed_tree_sends_the_link_to_make(linker: Linker) -> None:
    linker.link(["main.o", "-o", "app"])
    before = linker.plan(["main.o", "-o", "app"]).entry
    linker.runner.commands.clear()
    linker.runner.git_status = (" M lib/ukboot/boot.c",)
    # Uncommitted changes key the build: the edited tree gets a build of its own, by make.
    assert "with make" in linker.link(["main.o", "-o", "app"])
    assert linker.runner.makes()[0].argv[-1] == "defconfig"  # a new entry: configured anew
    assert len(linker.runner.makes()) == 2
    assert linker.plan(["main.o", "-o", "app"]).entry != before


def test_the_note_stands_for_the_plan_with_the_inputs_places(linker: Linker) -> None:
    args = ["-nostartfiles", "main.o", "-o", "app"]
    linker.link(args)
    plan = linker.plan(args)
    prebuilt = replay.load_prebuilt(plan.paths.record, plan.config.key)
    assert prebuilt is not None
    note = headstart.note_for(plan, replay.steps_for(plan, prebuilt, LINK_DIR_MARK)[0], args, str(linker.cwd))
    assert note is not None
    assert (note.output, note.cwd, note.length, note.entry) == ("app", str(linker.cwd), 4, plan.entry)
    assert note.inputs == ((1, "0000-main.o", str(linker.cwd / "main.o")),)
    ld = note.steps[0][0]
    assert f"{LINK_DIR_MARK}/inputs/0000-main.o" in ld and ld[ld.index("-o") + 1] == f"{LINK_DIR_MARK}/{IMAGE}.dbg"
    assert plan.relocated_path(plan.staged[0].link, "/l") == "/l/inputs/0000-main.o"
    assert plan.relocated_path("/elsewhere/x.o", "/l") == "/elsewhere/x.o"


def test_the_head_start_runs_the_noted_steps_and_the_plan_adopts_them(linker: Linker, object_bytes: bytes) -> None:
    linker.link(["main.o", "-o", "app"], head_start=True)  # a full build notes its steps
    assert list(Path(CacheLayout(linker.environ["KRAFTLD_CACHE"]).headstart).iterdir())
    renamed = linker.cwd / "main.1jyu7mp.rcgu.o"  # rustc names its objects anew at every build
    renamed.write_bytes(object_bytes)
    linker.runner.commands.clear()
    relinked = linker.link([renamed.name, "-o", "app"], head_start=True)
    assert "ran (started before planning)" in relinked
    assert linker.runner.steps() == []  # the steps ran ahead, not through the runner
    assert (linker.cwd / "app").read_bytes()[:4] == b"\x7fELF"


def test_without_the_switch_no_note_is_left(linker: Linker) -> None:
    linker.link(["main.o", "-o", "app"], head_start=False)
    assert not Path(CacheLayout(linker.environ["KRAFTLD_CACHE"]).headstart).exists()


def test_the_tree_check_is_joined_when_the_fast_relink_fails_early(linker: Linker) -> None:
    """The check's thread is started inside the block that waits for it: a failure right after
    it starts (here: the links folder cannot be made) still waits for it before returning."""
    linker.link(["main.o", "-o", "app"])
    plan = linker.plan(["main.o", "-o", "app"])
    events: list[str] = []

    def slow_git(command: Command, **kwargs: object) -> Completed:
        assert command.argv[0] == "git"
        time.sleep(0.3)  # the check is still running when the failure comes
        events.append("tree checked")
        return Completed(command, 0)

    assert not Path(plan.paths.links).exists()
    Path(plan.paths.links).write_text("a file where the links folder goes")
    with pytest.raises(KraftldError, match="cannot use"):
        execute(plan, slow_git)
    events.append("execute returned")
    assert events == ["tree checked", "execute returned"]


def test_pure_stages_keep_each_inputs_place_on_the_line(linker: Linker) -> None:
    line = parse_link_line(["-nostartfiles", "main.o", "-Wl,main.o", "-o", "app"])
    link = resolve_link(line, str(linker.cwd))
    staged = [item for item in link.items if isinstance(item, StagedFile)]
    assert [item.position for item in staged] == [1, -1]  # the second came inside -Wl,
    plan = linker.plan(["-nostartfiles", "main.o", "-Wl,main.o", "-o", "app"])
    assert [s.position for s in plan.staged] == [1, -1]
    assert plan.paths.root == os.path.join(linker.environ["KRAFTLD_CACHE"], "builds", plan.config.key)


def test_progress_opens_the_terminal_only_for_a_build_and_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[int] = []
    real_open = os.open

    def fake_open(path: str, flags: int, mode: int = 0o777) -> int:
        if path == "/dev/tty":
            read, write = os.pipe()
            os.close(read)
            opened.append(write)
            return write
        return real_open(path, flags, mode)

    monkeypatch.setattr("kraftld.progress.os.open", fake_open)
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal: /dev/tty would be used
    progress = real_terminal_progress()
    assert isinstance(progress, TerminalProgress)
    assert opened == []  # a link that builds nothing (a fast relink, a dry run) opens no terminal
    progress.start("building")
    assert len(opened) == 1
    progress.finish()
    with pytest.raises(OSError):
        os.fstat(opened[0])  # closed


def test_a_note_that_does_not_fit_the_plan_is_dropped_and_the_steps_run_again(linker: Linker) -> None:
    linker.link(["main.o", "-o", "app"], head_start=True)
    path = Path(headstart.note_path(linker.environ, "app", str(linker.cwd)))
    note = headstart.read_note(linker.environ, "app", str(linker.cwd))
    assert note is not None
    (argv, folder), *rest = note.steps
    headstart.remember(linker.environ, note.replaced(steps=(((*argv, "-Wl,--gc-sections"), folder), *rest)))
    assert path.is_file()
    linker.runner.commands.clear()
    relinked = linker.link(["main.o", "-o", "app"], head_start=True)
    assert "the steps started ahead are not this link's" in relinked
    assert "replaying the final link steps" in relinked and linker.runner.makes() == []
    assert len(linker.runner.steps()) == 2  # run again, through the runner


def test_a_link_that_waited_for_a_build_relinks_on_its_record(linker: Linker) -> None:
    """Links started together on a cold cache: one builds, the others wait for it, then relink
    fast on what it recorded instead of running make again."""
    linker.link(["main.o", "-o", "app"])
    plan = linker.plan(["main.o", "-o", "app"])
    record = Path(plan.paths.record)
    saved = record.read_bytes()
    record.unlink()  # as if the build were still under way
    holder = open(plan.paths.lock, "a+")  # noqa: SIM115 - released by `builder_done`
    fcntl.flock(holder, fcntl.LOCK_SH)
    said: list[str] = []

    def builder_done(message: str) -> None:
        # Called as this link starts to wait: the "other link" finishes its build meanwhile.
        said.append(message)

        def finish() -> None:
            time.sleep(0.2)
            record.write_bytes(saved)
            holder.close()

        threading.Thread(target=finish).start()

    linker.runner.commands.clear()
    result = execute(plan, linker.runner, notify=builder_done)
    assert said == ["waiting for another link that uses the same Unikraft build"]
    assert result.fast and linker.runner.makes() == []


def test_every_build_names_the_shipped_application_so_its_config_header_is_the_same_in_every_cache(
    linker: Linker, tmp_path: Path
) -> None:
    plan = linker.plan(["main.o", "-o", "app"])
    build_words = plan.build_command.argv
    assert f"A={APP_FOLDER}" in build_words and f"A={APP_FOLDER}" in plan.defconfig_command.argv
    assert not any(path.startswith(plan.paths.app) for path, _ in plan.app_files)  # nothing copied
    assert sorted(os.listdir(APP_FOLDER)) == sorted(APP_FILES)
    other = Linker({**linker.environ, "KRAFTLD_CACHE": str(tmp_path / "other-cache")}, linker.cwd, linker.runner)
    assert f"A={APP_FOLDER}" in other.plan(["main.o", "-o", "app"]).build_command.argv


@pytest.mark.parametrize(
    ("folder", "plain"),
    [
        ("/usr/lib/python3/dist-packages/kraftld/unikraft_app", True),
        ("/home/a user/.venv/lib/kraftld/unikraft_app", False),  # make splits A= on the space
        ("/opt/k:raft/kraftld/unikraft_app", False),  # `:` ends a make target
    ],
)
def test_a_package_path_make_cannot_take_gets_a_copy_in_the_entry(folder: str, plain: bool) -> None:
    assert app_folder_is_plain(folder) is plain


def test_the_copy_in_the_entry_is_what_make_is_given_then(linker: Linker) -> None:
    settings = Settings.from_environ(linker.environ)
    plan, _ = plan_from_line(
        parse_link_line(["main.o", "-o", "app"]), settings, linker.environ, str(linker.cwd), linker.runner
    )
    copy = shipped_app_texts()
    assert set(copy) == set(APP_FILES) and "kraftld.seed" in copy["kraftld_params.c"]
    copied = plan_link(
        resolve_link(parse_link_line(["main.o", "-o", "app"]), str(linker.cwd)),
        plan.config,
        settings.cache,
        plan.runtime,
        make_setup(linker.environ),
        copy,
    )
    assert f"A={copied.paths.app}" in copied.build_command.argv
    assert {os.path.join(copied.paths.app, name) for name in APP_FILES} <= {path for path, _ in copied.app_files}
