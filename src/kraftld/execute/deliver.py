"""Delivers a link's image: checked static, then put at `-o` by rename, never half-written.

What the user asked for reaches its place here and only here: the image, its debug image and the
side outputs (-Map files); and a failed link's leftovers at `-o` are removed here (as gcc deletes
a failed step's output).
"""

from __future__ import annotations

import errno
import os
import shutil

from ..atomic import replacing, umask
from ..elf import dynamic_linking_marks
from ..errors import ImageError, KraftldError

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..plan import LinkPlan


def deliver_link(
    plan: LinkPlan, image: str, debug_image: str, side_outputs: Iterable[tuple[str, str]], *, move: bool = False
) -> None:
    """Check the images are static, then put the side outputs, the debug image and the image
    (last: a complete `-o` means a complete link) in place."""
    check_static(image)
    check_static(debug_image)
    for written, wanted in side_outputs:
        if os.path.isfile(written):
            deliver(written, wanted, executable=False, move=move)
    deliver(debug_image, plan.debug_output, move=move)
    deliver(image, plan.output, move=move)


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
    mode = (0o755 if executable else 0o644) & ~umask()
    if move:
        try:
            os.chmod(source, mode)
            os.replace(source, destination)
            return
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
    try:
        with (
            replacing(destination) as temporary,
            open(temporary.fd, "wb", closefd=False) as out,
            open(source, "rb") as src,
        ):
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fchmod(temporary.fd, mode)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise KraftldError(f"no space left to write {destination}", "free space on that disk") from None
        raise


def remove_failed_output(output: str, inputs: Iterable[str]) -> None:
    """A failed link leaves nothing at -o, as gcc deletes a failed step's output; an input
    named as the output stays (the link refuses that line, and must not destroy the input)."""
    spared = {os.path.realpath(path) for path in inputs}
    for path in (output, output + ".dbg"):
        if (os.path.isfile(path) or os.path.islink(path)) and os.path.realpath(path) not in spared:
            os.unlink(path)
