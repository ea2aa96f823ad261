"""The fast relink: the recorded final steps replayed in a folder of this link's own.

When a full build of this configuration is recorded (`replay`) and nothing it read has changed,
the steps run with this link's inputs, side by side with other links on the same entry (the
caller holds its lock shared). The source trees are checked while the steps run. Anything off,
and the caller builds with make instead.
"""

from __future__ import annotations

import os

from ..atomic import remove_tree
from ..background import alongside
from ..layout import INPUTS_DIR, OUTPUTS_DIR
from ..logs import log
from ..runtime import ensure_runtime
from ..staging import stage
from . import replay
from .deliver import deliver_link
from .make import staged_names

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    from ..commands import Command, ProcessRunner
    from ..plan import LinkPlan

    class StartedAhead(Protocol):
        """Steps begun before the plan (`headstart.HeadStart`, which sits above this stage)."""

        link_dir: str

        def adopted_by(self, plan: LinkPlan, steps: Sequence[Command]) -> bool: ...

        def close(self) -> None: ...


def fast_link(plan: LinkPlan, runner: ProcessRunner, head: StartedAhead | None = None) -> replay.Prebuilt | None:
    """Relink by replaying the recorded final steps; the record used, or None when make must."""
    prebuilt = replay.load_prebuilt(plan.paths.record, plan.config.key)
    if prebuilt is None or not replay.files_unchanged(prebuilt):
        return None
    verdict: list[bool] = []
    link_dir = ""
    try:
        # The trees are checked while the link runs: `git status` takes as long as a small link.
        with alongside(lambda: verdict.append(replay.tree_states(plan, runner) == list(prebuilt.trees))) as check:
            os.makedirs(plan.paths.links, exist_ok=True)
            remove_abandoned_link_dirs(plan.paths.links)
            if head is not None and not head.adopted_by(plan, replay.steps_for(plan, prebuilt, head.link_dir)[0]):
                head = None
            if head is not None:
                link_dir = head.link_dir
            else:
                link_dir = plan.paths.link_folder(f"{os.getpid()}-{os.urandom(4).hex()}")
                # Made inside the try: an interrupt right after it exists still removes it.
                os.mkdir(link_dir)
                stage(os.path.join(link_dir, INPUTS_DIR), staged_names(plan))
                os.makedirs(os.path.join(link_dir, OUTPUTS_DIR))
            ensure_runtime(plan.runtime, runner)
            commands, image = replay.steps_for(plan, prebuilt, link_dir)
            for command in commands:
                if head is not None:
                    log.debug("ran (started before planning): %s", command.shell_quoted())
                    continue
                # The steps are short and their output a few lines: captured, not followed in a file.
                completed = runner(command)
                if completed.returncode != 0:
                    log.info("the fast relink failed (%s); make links instead", " / ".join(completed.tail[-3:]))
                    return None
            check.wait()
        if verdict != [True]:
            log.info("a source tree changed since the last full build; make links instead")
            return None
        side_outputs = [(plan.relocated_path(written, link_dir), wanted) for written, wanted in plan.side_outputs]
        # The fast relink's outputs are this link's alone: they move into place, uncopied.
        deliver_link(plan, image, image + ".dbg", side_outputs, move=True)
        return prebuilt
    finally:
        if link_dir:
            remove_tree(link_dir)


def remove_abandoned_link_dirs(links_dir: str) -> None:
    """Remove the folders of fast relinks whose kraftld died (by SIGKILL, say) before cleaning up."""
    for name in os.listdir(links_dir):
        pid, _, _ = name.partition("-")
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            remove_tree(os.path.join(links_dir, name))
        except PermissionError:
            pass  # alive, someone else's
