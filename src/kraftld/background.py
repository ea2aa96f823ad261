"""Runs a piece of work in a thread beside the link, joined whatever happens.

Used where a link can do two things at once: compiling the runtime object while make configures,
checking the source trees (`git status`) while the fast relink's steps run. The thread is always
joined when the `with` block ends, even when the block raises, so no work outlives its link.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from types import TracebackType


class alongside:
    """`work` started in a thread on entering; `wait()` joins it and raises what it raised."""

    def __init__(self, work: Callable[[], object]) -> None:
        self._work = work
        self._raised: list[BaseException] = []
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as error:
            self._raised.append(error)

    def __enter__(self) -> alongside:
        self._thread.start()
        return self

    def wait(self) -> None:
        self._thread.join()
        if self._raised:
            raise self._raised[0]

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        # On the way out of a failed block the work's own error, if any, would hide the block's.
        self._thread.join()
