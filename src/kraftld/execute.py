"""Carries out a link plan: the only stage that writes files and runs make.

Two ways to a link, tried in order:
- the fast relink (`relink`): when a full build of this configuration is recorded and nothing
  it read has changed, the final link steps are replayed in a folder of this link's own. Links
  on the same cache entry hold its lock shared, so they run side by side;
- the full build: `make defconfig` when the options changed, then make with UK_LDFLAGS and
  UK_LDEPS, holding the entry's lock exclusively, so each link gets the image of its own
  inputs; it then records what a fast relink needs.
The image reaches `-o` by rename, never half-written, and a failed link leaves nothing at `-o`
(as gcc does).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from . import headstart, relink
from .elf import dynamic_linking_marks
from .errors import BuildError, ImageError, KraftldError
from .logs import log
from .plan import INPUTS_DIR, OUTPUTS_DIR, LinkPlan
from .process import Command, Completed, describe_failure
from .runtime import ensure_runtime
from .staging import input_path

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from .headstart import HeadStart
    from .process import ProcessRunner


Notify = Callable[[str], None]


@dataclass(frozen=True)
class LinkResult:
    image: str
    debug_image: str
    fast: bool  # relinked without make
    configured: bool = False  # whether `make defconfig` ran
    prebuilt: relink.Prebuilt | None = None  # the record a fast relink used or a full build left


class Progress:
    """Receives make's output lines while a build runs (a terminal display, or nothing)."""

    def start(self, title: str) -> None: ...

    def line(self, text: str) -> None: ...

    def finish(self) -> None: ...


def execute(
    plan: LinkPlan,
    runner: ProcessRunner,
    progress: Progress | None = None,
    notify: Notify | None = None,
    *,
    fast: bool = True,
    head: HeadStart | None = None,
) -> LinkResult:
    """Link by the fast relink or by make; `head`: the steps a head start began (`headstart`)."""
    try:
        os.makedirs(plan.entry, exist_ok=True)
        if fast:
            try:
                with _locked(plan.lock_path, notify, shared=True):
                    result = _fast_link(plan, runner, head)
            finally:
                if head is not None:
                    head.close()  # it holds the lock shared: released before make takes it below
            if result is not None:
                return result
        if head is not None:
            head.close()
        with _locked(plan.lock_path, notify, shared=False):
            return _link(plan, runner, progress or Progress())
    except BaseException as error:
        for path in (plan.output, plan.debug_output):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if isinstance(error, OSError):
            # Here a file-system error is the machine's (a full disk, a cache that is a file,
            # permissions), not a bug: reported as an error.
            raise _environment_error(error, plan) from None
        raise


def _environment_error(error: OSError, plan: LinkPlan) -> KraftldError:
    where = error.filename or plan.entry
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return KraftldError(
            f"no space left on the disk holding {where}",
            "free some space, or point KRAFTLD_CACHE at a disk with room; the cache stays usable",
        )
    return KraftldError(
        f"kraftld cannot use {where}: {error.strerror or error}",
        "check the cache folder (KRAFTLD_CACHE) and the output's folder: they must be writable folders",
    )


@contextlib.contextmanager
def _locked(path: str, notify: Notify | None, *, shared: bool) -> Iterator[None]:
    # flock: the kernel releases it when the holder dies, even by SIGKILL, so no stale lock stays.
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    while True:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if notify:
                    notify("waiting for another link that uses the same Unikraft build")
                fcntl.flock(handle, mode)
            if not _still_named(handle.fileno(), path):
                continue  # the entry was pruned (cache_prune) while this link waited: lock the new one
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            return


def _still_named(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _link(plan: LinkPlan, runner: ProcessRunner, progress: Progress) -> LinkResult:
    for path, text in plan.app_files:
        write_if_changed(path, text)
    # Only the final link needs the runtime object: it compiles while make configures.
    runtime_ready = _alongside(lambda: ensure_runtime(plan.runtime, runner))
    configured = _configure(plan, runner)
    runtime_ready()
    _preseed(plan)
    _stage(plan)
    for written, _ in plan.side_outputs:
        os.makedirs(os.path.dirname(written), exist_ok=True)
    write_if_changed(plan.manifest_path, plan.manifest + _input_stamps(plan))
    _build(plan, runner, progress)
    image, debug_image = find_image(plan.build_dir)
    _deliver_link(plan, image, debug_image, plan.side_outputs)
    prebuilt = _record_prebuilt(plan, image, runner)
    return LinkResult(plan.output, plan.debug_output, fast=False, configured=configured, prebuilt=prebuilt)


def _alongside(work: Callable[[], object]) -> Callable[[], None]:
    """Start `work` in a thread; the function returned waits for it and raises what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=run)
    thread.start()

    def wait() -> None:
        thread.join()
        if raised:
            raise raised[0]

    return wait


def _deliver_link(
    plan: LinkPlan, image: str, debug_image: str, side_outputs: tuple[tuple[str, str], ...], *, move: bool = False
) -> None:
    check_static(image)
    check_static(debug_image)
    for written, wanted in side_outputs:
        if os.path.isfile(written):
            deliver(written, wanted, executable=False, move=move)
    deliver(debug_image, plan.debug_output, move=move)
    deliver(image, plan.output, move=move)


def _tree_states(plan: LinkPlan, runner: ProcessRunner) -> list[tuple[str, str]] | None:
    """Each source tree's commit and uncommitted changes; None if one is not a git checkout."""
    states = []
    for tree in (plan.config.unikraft, *plan.config.libraries):
        if tree.commit is None:
            return None
        completed = runner(relink.tree_state_command(tree.path))
        if completed.returncode != 0:
            return None
        states.append((tree.path, relink.tree_state(tree.commit, "\n".join(completed.tail))))
    return states


def _record_prebuilt(plan: LinkPlan, image: str, runner: ProcessRunner) -> relink.Prebuilt | None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(plan.prebuilt_path)
    trees = _tree_states(plan, runner)
    if trees is None:
        log.info("fast relinks need git checkouts of every source tree: later links run make")
        return None
    prebuilt = relink.record(plan.config.key, plan.build_dir, image, plan.ldflags, trees)
    if prebuilt is None:
        log.info("Unikraft's final link steps have a shape kraftld does not replay: later links run make")
        return None
    prebuilt.save(plan.prebuilt_path)
    return prebuilt


def _fast_link(plan: LinkPlan, runner: ProcessRunner, head: HeadStart | None = None) -> LinkResult | None:
    """Relink by replaying the recorded final steps, or None when make must do it."""
    prebuilt = relink.load_prebuilt(plan.prebuilt_path, plan.config.key)
    if prebuilt is None or not relink.files_unchanged(prebuilt):
        return None
    # The trees are checked while the link runs: `git status` takes as long as a small link.
    verdict: list[bool] = []
    checker = threading.Thread(target=lambda: verdict.append(_tree_states(plan, runner) == list(prebuilt.trees)))
    checker.start()
    os.makedirs(plan.links_dir, exist_ok=True)
    _remove_abandoned_link_dirs(plan.links_dir)
    if head is not None:
        ahead, _ = relink.replay(prebuilt, plan.relocated_ldflags(head.link_dir), head.link_dir)
        if not head.fits(plan.entry, _staged_names(plan), [(c.argv, c.cwd or "") for c in ahead]):
            log.debug("the steps started ahead are not this link's: stopped")
            head.close()
            head = None
        elif not head.succeeded():
            log.debug("a step started ahead failed: the steps run again, as they always do")
            head.close()
            head = None
    link_dir = head.link_dir if head else os.path.join(plan.links_dir, f"{os.getpid()}-{os.urandom(4).hex()}")
    try:
        if head is None:
            # Made inside the try: an interrupt right after it exists still removes it.
            os.mkdir(link_dir)
            _stage_into(plan, os.path.join(link_dir, INPUTS_DIR))
            os.makedirs(os.path.join(link_dir, OUTPUTS_DIR))
        ensure_runtime(plan.runtime, runner)
        commands, image = relink.replay(prebuilt, plan.relocated_ldflags(link_dir), link_dir)
        for command in commands:
            if head is not None:
                log.debug("ran (started before planning): %s", command.shell_quoted())
                continue
            # The steps are short and their output a few lines: captured, not followed in a file.
            completed = runner(command)
            if completed.returncode != 0:
                log.info("the fast relink failed (%s); make links instead", " / ".join(completed.tail[-3:]))
                return None
        checker.join()
        if verdict != [True]:
            log.info("a source tree changed since the last full build; make links instead")
            return None
        side_outputs = tuple((plan.relocated_path(written, link_dir), wanted) for written, wanted in plan.side_outputs)
        # The fast relink's outputs are this link's alone: they move into place, uncopied.
        _deliver_link(plan, image, image + ".dbg", side_outputs, move=True)
        return LinkResult(plan.output, plan.debug_output, fast=True, prebuilt=prebuilt)
    finally:
        shutil.rmtree(link_dir, ignore_errors=True)
        checker.join()


def _staged_names(plan: LinkPlan) -> list[tuple[str, str]]:
    return [(os.path.basename(stage.link), stage.target) for stage in plan.staged]


def head_start_note(plan: LinkPlan, prebuilt: relink.Prebuilt, args: Sequence[str], cwd: str) -> dict[str, object]:
    """What `headstart` needs to start the steps of the next link like this one."""
    mark = headstart.LINK_DIR_MARK
    commands, _ = relink.replay(prebuilt, plan.relocated_ldflags(mark), mark)
    # Each staged file's word on the line, when it is one (not a library found by -l, say).
    inputs: list[list[object]] = []
    used: set[int] = set()
    for name, target in _staged_names(plan):
        index = next(
            (
                i
                for i, word in enumerate(args)
                if i not in used and not word.startswith("-") and input_path(cwd, word) == target
            ),
            -1,
        )
        used.add(index)
        inputs.append([index, name, target])
    return {
        "entry": plan.entry,
        "lock": plan.lock_path,
        "links_dir": plan.links_dir,
        "inputs_dir": INPUTS_DIR,
        "outputs_dir": OUTPUTS_DIR,
        "inputs": inputs,
        "steps": [[list(command.argv), command.cwd or ""] for command in commands],
    }


def _remove_abandoned_link_dirs(links_dir: str) -> None:
    """Remove the folders of fast relinks whose kraftld died (by SIGKILL, say) before cleaning up."""
    for name in os.listdir(links_dir):
        pid, _, _ = name.partition("-")
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(links_dir, name), ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


def write_if_changed(path: str, text: str) -> bool:
    """Write a file only when its text differs, so make sees no change where there is none."""
    data = text.encode("utf-8", "surrogateescape")  # paths keep their bytes, as the OS gave them
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    _atomic_write(path, data)
    return True


def _atomic_write(path: str, data: bytes) -> None:
    fd, temporary = _temporary_beside(path)
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
    _stage_into(plan, plan.stage_dir)


def _stage_into(plan: LinkPlan, stage_dir: str) -> None:
    """Give every input a plain name in a staging folder: a symbolic link to the real file.

    make follows the links when it compares times, and the compiler's own files stay where they
    are (rustc deletes its symbols.o right after the link; nothing here needs it later).
    """
    shutil.rmtree(stage_dir, ignore_errors=True)
    os.makedirs(stage_dir)
    for stage in plan.staged:
        os.symlink(stage.target, os.path.join(stage_dir, os.path.basename(stage.link)))


def _input_stamps(plan: LinkPlan) -> str:
    # A file replaced by an older one (same path) must relink too: record what each one is.
    lines = []
    for stage in plan.staged:
        info = os.stat(stage.target)
        lines.append(f"stamp {stage.target} {info.st_size} {info.st_mtime_ns} {info.st_ino}")
    return "\n".join(lines) + "\n" if lines else ""


def _build(plan: LinkPlan, runner: ProcessRunner, progress: Progress) -> None:
    _recover_from_killed_build(plan)
    progress.start(f"building the unikernel ({plan.config.target.label})")
    marker = plan.build_marker_path
    with open(marker, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    try:
        completed = _run_logged(plan, runner, plan.build_command, progress.line)
    finally:
        progress.finish()
    # Only a build that ended (well or not) removes the marker: a killed kraftld leaves it.
    os.unlink(marker)
    if completed.returncode != 0:
        raise BuildError(
            "the Unikraft build failed",
            _build_hint(completed),
            details=[*describe_failure(completed), f"full log: {plan.log_path}"],
        )


def _recover_from_killed_build(plan: LinkPlan) -> None:
    """Undo what a build that was killed mid-way may have left half-written.

    The marker is written before make starts and removed when it ends; holding the entry's lock,
    a link that finds one knows that build's kraftld died. make was told to stop (it removes its
    half-written targets), but to be sure every file the interrupted build wrote is removed, so
    make writes it again.
    """
    try:
        since = os.stat(plan.build_marker_path).st_mtime_ns
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
        os.unlink(plan.prebuilt_path)
    os.unlink(plan.build_marker_path)


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
    with open(plan.log_path, "a", encoding="utf-8", errors="replace") as log_file:
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


def check_static(path: str) -> None:
    try:
        with open(path, "rb") as handle:
            marks = dynamic_linking_marks(handle)
    except ValueError as error:
        raise ImageError(
            f"the build's image {path} is not a usable ELF file ({error})", "report this as a bug"
        ) from None
    if marks:
        raise ImageError(
            f"the image {path} is not static: it has {', '.join(marks)}",
            "something on the link line asked for dynamic linking; see `kraftld -v` for what was forwarded",
        )


def deliver(source: str, destination: str, *, executable: bool = True, move: bool = False) -> None:
    """Put a file in place by rename: readers see the old file or the new one, never half.

    With `move`, a file kraftld will not need again is renamed into place when it is on the same
    file system (no copy); otherwise it is copied next to the destination and renamed.
    """
    if move:
        try:
            os.chmod(source, (0o755 if executable else 0o644) & ~_umask())
            os.replace(source, destination)
            return
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
    fd, temporary = _temporary_beside(destination)
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


def _temporary_beside(path: str) -> tuple[int, str]:
    """A new private file in `path`'s folder, to be renamed over `path` (tempfile's mkstemp,
    without the cost of importing tempfile on every link)."""
    folder = os.path.dirname(path) or "."
    while True:
        temporary = os.path.join(folder, f".kraftld-{os.urandom(6).hex()}")
        try:
            return os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), temporary
        except FileExistsError:
            continue


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
