"""The full build: Unikraft's make with the compiler's inputs in its final link.

`make defconfig` runs when the options changed; then make builds with UK_LDFLAGS and UK_LDEPS,
its output followed into the entry's build log and a progress display. The caller holds the
entry's lock exclusively. A build kraftld did not see end (killed) is undone before the next.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from .. import downloads, kconfig_tools, objects
from ..atomic import write_if_changed
from ..background import alongside
from ..commands import Command, Completed, describe_failure
from ..compiled import ensure_compiled
from ..errors import BuildError, ImageError
from ..logs import log
from ..runtime import ensure_runtime
from ..staging import stage
from .deliver import deliver_link
from .replay import Prebuilt, record_after_build

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from ..commands import ProcessRunner
    from ..plan import LinkPlan


class Progress:
    """Receives make's output lines while a build runs (a terminal display, or nothing)."""

    def start(self, title: str) -> None: ...

    def line(self, text: str) -> None: ...

    def finish(self) -> None: ...


def build_and_link(plan: LinkPlan, runner: ProcessRunner, progress: Progress) -> Prebuilt | None:
    """Build with make, deliver the image; return the record it left for fast relinks."""
    for path, text in plan.app_files:
        write_if_changed(path, text)
    if plan.object_store is not None:
        objects.prepare(plan.object_store)
    # Both compile while make configures: the runtime object is for the final link only, and the
    # launcher (make's CC) is first run when the build parses Unikraft's makefiles (CC_INFO);
    # `make defconfig` reads no configuration, so it never asks CC for its version.
    launcher = plan.launcher
    with (
        alongside(lambda: ensure_runtime(plan.runtime, runner)) as runtime_compile,
        alongside(lambda: launcher is None or ensure_compiled(launcher, runner)) as launcher_compile,
    ):
        configure(plan, runner)
        runtime_compile.wait()
        launcher_compile.wait()
    if plan.mirror_fetch is not None:
        downloads.prepare(plan.mirror_fetch)
    stage(plan.paths.inputs, staged_names(plan))
    for written, _ in plan.side_outputs:
        os.makedirs(os.path.dirname(written), exist_ok=True)
    write_if_changed(plan.paths.manifest, plan.manifest + _input_stamps(plan))
    _build(plan, runner, progress)
    if plan.object_store is not None:
        objects.prune(plan.object_store)
    image, debug_image = find_image(plan.build_dir)
    deliver_link(plan, image, debug_image, plan.side_outputs)
    return record_after_build(plan, image, runner)


def staged_names(plan: LinkPlan) -> list[tuple[str, str]]:
    """(name in the staging folder, the file it links to) of every staged input."""
    return [(os.path.basename(staged.link), staged.target) for staged in plan.staged]


def configure(plan: LinkPlan, runner: ProcessRunner) -> None:
    """Run `make defconfig` when the wanted options changed or no .config exists yet."""
    paths = plan.paths
    if os.path.isfile(paths.config):
        try:
            with open(paths.defconfig, encoding="utf-8") as handle:
                if handle.read() == plan.config.defconfig:
                    return
        except FileNotFoundError:
            pass
    # make reads the options from a pending copy: only a finished configuration is recorded.
    write_if_changed(paths.pending_defconfig, plan.config.defconfig)
    tools = plan.kconfig_tools
    placed = kconfig_tools.before_defconfig(tools) if tools is not None else kconfig_tools.Placed(False)
    if tools is not None and placed.placed:
        log.info("kconfig tools copied from %s: make does not build them", tools.store)
    completed = _run_logged(plan, runner, plan.defconfig_command, None)
    if completed.returncode != 0:
        raise BuildError(
            "Unikraft's configuration step failed",
            "check the Kraftfile's kconfig options and libraries",
            details=describe_failure(completed),
        )
    # make built them in this new folder: kept for the next one.
    if tools is not None and placed.keep_as is not None and kconfig_tools.keep(tools, placed.keep_as):
        kconfig_tools.prune(tools.store)
    os.replace(paths.pending_defconfig, paths.defconfig)


def _input_stamps(plan: LinkPlan) -> str:
    # A file replaced by an older one (same path) must relink too: record what each one is.
    lines = []
    for staged in plan.staged:
        info = os.stat(staged.target)
        lines.append(f"stamp {staged.target} {info.st_size} {info.st_mtime_ns} {info.st_ino}")
    return "\n".join(lines) + "\n" if lines else ""


def _build(plan: LinkPlan, runner: ProcessRunner, progress: Progress) -> None:
    _recover_from_killed_build(plan)
    progress.start(f"building the unikernel ({plan.config.target.label})")
    marker = plan.paths.build_marker
    with open(marker, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    try:
        completed = _run_logged(plan, runner, plan.build_command, progress.line)
    finally:
        progress.finish()
    # Only a build that ended (well or not) removes the marker: a killed kraftld leaves it.
    os.unlink(marker)
    if completed.returncode != 0:
        # A file the mirror lacks is the cause, whatever make printed after it (see downloads.py).
        wanted = downloads.missing(plan.mirror_fetch) if plan.mirror_fetch is not None else None
        if wanted is not None:
            raise wanted.error()
        raise BuildError(
            "the Unikraft build failed",
            _build_hint(completed),
            details=[*describe_failure(completed), f"full log: {plan.paths.log}"],
        )


def _recover_from_killed_build(plan: LinkPlan) -> None:
    """Undo what a build that was killed mid-way may have left half-written.

    The marker is written before make starts and removed when it ends; holding the entry's lock,
    a link that finds one knows that build's kraftld died. make was told to stop (it removes its
    half-written targets), but to be sure every file the interrupted build wrote is removed, so
    make writes it again.
    """
    try:
        since = os.stat(plan.paths.build_marker).st_mtime_ns
    except FileNotFoundError:
        return
    log.info("a build in this cache was interrupted; rebuilding what it had written")
    for folder, _, names in os.walk(plan.build_dir):
        for name in names:
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(path).st_mtime_ns >= since:
                    os.unlink(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(plan.paths.record)
    os.unlink(plan.paths.build_marker)


def _build_hint(completed: Completed) -> str:
    if completed.returncode == 127:
        return f"{completed.command.argv[0]} is not installed (Debian: apt-get install make gcc flex bison)"
    text = "\n".join(completed.tail)
    if "undefined reference" in text:
        return (
            "a symbol the program uses is defined nowhere in the unikernel: enable the Unikraft "
            "library that provides it, or link the archive that does"
        )
    if "No space left on device" in text:
        return "the disk holding the cache is full: free space or point KRAFTLD_CACHE elsewhere"
    return "the build log's tail is below; the full log names the failing step"


def _run_logged(
    plan: LinkPlan, runner: ProcessRunner, command: Command, on_line: Callable[[str], None] | None
) -> Completed:
    with open(plan.paths.log, "a", encoding="utf-8", errors="replace") as log_file:
        log_file.write(f"$ {command.shell_quoted()}\n")
        log_file.flush()
        return runner(command, log_file=log_file, on_line=on_line)


def find_image(build_dir: str) -> tuple[str, str]:
    """The image the build produced, from its debug image's name: never assumed."""
    debug_images = sorted(os.path.join(build_dir, n) for n in os.listdir(build_dir) if n.endswith(".dbg"))
    images = [(d[: -len(".dbg")], d) for d in debug_images if os.path.isfile(d[: -len(".dbg")])]
    if not images:
        raise ImageError(
            f"the build finished but left no image in {build_dir}",
            "check that the Kraftfile's target selects a platform Unikraft builds images for",
        )
    if len(images) > 1:
        # Several platforms built at once: take the most recent, which this link produced.
        images.sort(key=lambda pair: os.stat(pair[0]).st_mtime_ns)
    return images[-1]
