"""Carries out a link plan: the only stage that writes files and runs make.

Two ways to a link, tried in order, under the cache entry's lock:
- the fast relink (`fast`): when a full build of this configuration is recorded (`replay`) and
  nothing it read has changed, the final link steps are replayed in a folder of this link's own.
  Links on the same entry hold its lock shared, so they run side by side;
- the full build (`make`): `make defconfig` when the options changed, then make with UK_LDFLAGS
  and UK_LDEPS, holding the lock exclusively, so each link gets the image of its own inputs; it
  then records what a fast relink needs.
The image reaches `-o` by rename, never half-written (`deliver`), and a failed link leaves
nothing at `-o` (as gcc does).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import KraftldError
from .fast import fast_link
from .make import Progress, build_and_link
from .replay import Prebuilt

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from ..commands import ProcessRunner
    from ..plan import LinkPlan
    from .fast import StartedAhead

__all__ = ["LinkResult", "Notify", "Progress", "execute"]

Notify = Callable[[str], None]


@dataclass(frozen=True)
class LinkResult:
    image: str
    debug_image: str
    fast: bool  # relinked without make
    prebuilt: Prebuilt | None = None  # the record a fast relink used or a full build left


def execute(
    plan: LinkPlan,
    runner: ProcessRunner,
    progress: Progress | None = None,
    notify: Notify | None = None,
    *,
    fast: bool = True,
    head: StartedAhead | None = None,
) -> LinkResult:
    """Link by the fast relink or by make; `head`: the steps a head start began (`headstart`)."""
    try:
        os.makedirs(plan.entry, exist_ok=True)
        record = _stamp(plan.paths.record)
        if fast:
            try:
                with _locked(plan.paths.lock, notify, shared=True):
                    prebuilt = fast_link(plan, runner, head)
            finally:
                if head is not None:
                    head.close()  # it holds the lock shared: released before make takes it below
            if prebuilt is not None:
                return LinkResult(plan.output, plan.debug_output, fast=True, prebuilt=prebuilt)
        if head is not None:
            head.close()
        with _locked(plan.paths.lock, notify, shared=False) as waited:
            if fast and waited and _stamp(plan.paths.record) not in (None, record):
                # The link this one waited for built this configuration: its record serves here too.
                prebuilt = fast_link(plan, runner)
                if prebuilt is not None:
                    return LinkResult(plan.output, plan.debug_output, fast=True, prebuilt=prebuilt)
            prebuilt = build_and_link(plan, runner, progress or Progress())
            return LinkResult(plan.output, plan.debug_output, fast=False, prebuilt=prebuilt)
    except BaseException as error:
        for path in (plan.output, plan.debug_output):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if isinstance(error, OSError):
            # Here a file-system error is the machine's (a full disk, a cache that is a file,
            # permissions), not a bug: reported as an error.
            raise _environment_error(error, plan) from None
        raise


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_mtime_ns)


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
def _locked(path: str, notify: Notify | None, *, shared: bool) -> Iterator[bool]:
    """Hold the entry's lock; yields whether another link held it first (and this one waited)."""
    # flock: the kernel releases it when the holder dies, even by SIGKILL, so no stale lock stays.
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    waited = False
    while True:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if notify:
                    notify("waiting for another link that uses the same Unikraft build")
                waited = True
                fcntl.flock(handle, mode)
            if not _still_named(handle.fileno(), path):
                continue  # the entry was pruned (cache_prune) while this link waited: lock the new one
            try:
                yield waited
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            return


def _still_named(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
