"""Carries out a link plan: the only stage that writes files and runs make.

Links that share a cache entry take its lock for the whole build-and-deliver step, so each gets
the image built from its own inputs. The image reaches `-o` by rename, never half-written, and a
failed link leaves nothing at `-o` (as ld does).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .elf import dynamic_linking_marks
from .errors import BuildError, ImageError, KraftldError
from .plan import LinkPlan
from .process import Command, Completed, ProcessRunner, describe_failure
from .runtime import ensure_runtime

log = logging.getLogger("kraftld")

Notify = Callable[[str], None]


@dataclass(frozen=True)
class LinkResult:
    image: str
    debug_image: str
    configured: bool  # whether `make defconfig` ran


class Progress:
    """Receives make's output lines while a build runs (a terminal display, or nothing)."""

    def start(self, title: str) -> None: ...

    def line(self, text: str) -> None: ...

    def finish(self) -> None: ...


def execute(
    plan: LinkPlan, runner: ProcessRunner, progress: Progress | None = None, notify: Notify | None = None
) -> LinkResult:
    try:
        os.makedirs(plan.entry, exist_ok=True)
        with _locked(plan.lock_path, notify):
            return _link(plan, runner, progress or Progress())
    except BaseException:
        for path in (plan.output, plan.debug_output):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        raise


@contextlib.contextmanager
def _locked(path: str, notify: Notify | None) -> Iterator[None]:
    # flock: the kernel releases it when the holder dies, even by SIGKILL, so no stale lock stays.
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if notify:
                notify("waiting for another link that uses the same Unikraft build")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _link(plan: LinkPlan, runner: ProcessRunner, progress: Progress) -> LinkResult:
    for path, text in plan.app_files:
        write_if_changed(path, text)
    ensure_runtime(plan.runtime, runner)
    configured = _configure(plan, runner)
    _preseed(plan)
    _stage(plan)
    for written, _ in plan.side_outputs:
        os.makedirs(os.path.dirname(written), exist_ok=True)
    write_if_changed(plan.manifest_path, plan.manifest + _input_stamps(plan))
    _build(plan, runner, progress)
    image, debug_image = find_image(plan.build_dir)
    check_static(image)
    check_static(debug_image)
    for written, wanted in plan.side_outputs:
        if os.path.isfile(written):
            deliver(written, wanted, executable=False)
    deliver(debug_image, plan.debug_output)
    deliver(image, plan.output)
    return LinkResult(plan.output, plan.debug_output, configured)


def write_if_changed(path: str, text: str) -> bool:
    """Write a file only when its text differs, so make sees no change where there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    _atomic_write(path, text.encode())
    return True


def _atomic_write(path: str, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".kraftld-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _configure(plan: LinkPlan, runner: ProcessRunner) -> bool:
    """Run `make defconfig` when the wanted options changed or no .config exists yet."""
    if os.path.isfile(plan.config_path):
        try:
            with open(plan.defconfig_path, encoding="utf-8") as handle:
                if handle.read() == plan.config.defconfig:
                    return False
        except FileNotFoundError:
            pass
    # make reads the options from a pending copy: only a finished configuration is recorded.
    write_if_changed(plan.pending_defconfig_path, plan.config.defconfig)
    completed = _run_logged(plan, runner, plan.defconfig_command, None)
    if completed.returncode != 0:
        raise BuildError(
            "Unikraft's configuration step failed",
            "check the Kraftfile's kconfig options and libraries",
            details=describe_failure(completed),
        )
    os.replace(plan.pending_defconfig_path, plan.defconfig_path)
    return True


def _preseed(plan: LinkPlan) -> None:
    for archive, destination in plan.preseeded:
        if os.path.exists(destination):
            continue
        if not os.path.isfile(archive):
            raise BuildError(
                f"KRAFTLD_SOURCES has no {os.path.basename(archive)}, which the build would download",
                f"put the file at {archive}; kraftld never downloads when KRAFTLD_SOURCES is set",
            )
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copyfile(archive, destination + ".kraftld-tmp")
        os.replace(destination + ".kraftld-tmp", destination)


def _stage(plan: LinkPlan) -> None:
    """Give every input a plain name in the staging folder: a symbolic link to the real file.

    make follows the links when it compares times, and the compiler's own files stay where they
    are (rustc deletes its symbols.o right after the link; nothing here needs it later).
    """
    shutil.rmtree(plan.stage_dir, ignore_errors=True)
    os.makedirs(plan.stage_dir)
    for stage in plan.staged:
        os.symlink(stage.target, stage.link)


def _input_stamps(plan: LinkPlan) -> str:
    # A file replaced by an older one (same path) must relink too: record what each one is.
    lines = []
    for stage in plan.staged:
        info = os.stat(stage.target)
        lines.append(f"stamp {stage.target} {info.st_size} {info.st_mtime_ns} {info.st_ino}")
    return "\n".join(lines) + "\n" if lines else ""


def _build(plan: LinkPlan, runner: ProcessRunner, progress: Progress) -> None:
    progress.start(f"building the unikernel ({plan.config.target.label})")
    try:
        completed = _run_logged(plan, runner, plan.build_command, progress.line)
    finally:
        progress.finish()
    if completed.returncode != 0:
        raise BuildError(
            "the Unikraft build failed",
            _build_hint(completed),
            details=[*describe_failure(completed), f"full log: {plan.log_path}"],
        )


def _build_hint(completed: Completed) -> str:
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
    with open(plan.log_path, "a", encoding="utf-8", errors="replace") as log_file:
        log_file.write(f"$ {command.shell_quoted()}\n")
        log_file.flush()
        return runner(command, log_file=log_file, on_line=on_line)


def find_image(build_dir: str) -> tuple[str, str]:
    """The image the build produced, from its debug image's name: never assumed."""
    debug_images = sorted(glob.glob(os.path.join(glob.escape(build_dir), "*.dbg")))
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


def check_static(path: str) -> None:
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        marks = dynamic_linking_marks(data)
    except ValueError as error:
        raise ImageError(
            f"the build's image {path} is not a usable ELF file ({error})", "report this as a bug"
        ) from None
    if marks:
        raise ImageError(
            f"the image {path} is not static: it has {', '.join(marks)}",
            "something on the link line asked for dynamic linking; see `kraftld -v` for what was forwarded",
        )


def deliver(source: str, destination: str, *, executable: bool = True) -> None:
    """Copy a file into place by rename: readers see the old file or the new one, never half."""
    folder = os.path.dirname(destination) or "."
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(destination)}.")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        os.chmod(temporary, (0o755 if executable else 0o644) & ~_umask())
        os.replace(temporary, destination)
    except OSError as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if error.errno == errno.ENOSPC:
            raise KraftldError(f"no space left to write {destination}", "free space on that disk") from None
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
