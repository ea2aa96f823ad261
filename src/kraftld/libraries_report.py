"""Tells a person which libraries kraftld chose and why: `-v` lines, the dry run, --print-kraftfile."""

from __future__ import annotations

from collections.abc import Mapping

from .libraries import Selection

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import TextIO

    from .commands import ProcessRunner


def describe(selection: Selection, limit: int = 8) -> list[str]:
    """One line per chosen library or option set, then the symbols and inputs that called for it."""
    lines = [
        f"libraries chosen from the link's symbols: {selection.libc}"
        + "".join(f" + lib-{name}" for name in selection.libraries if name != "musl")
    ]
    for reason in selection.reasons:
        options = " ".join(f"{k}={v}" for k, v in reason.kconfig)
        lines.append(f"  {reason.what}: {reason.why}" + (f" [{options}]" if options else ""))
        for user, symbols in reason.needed_by.items():
            shown = ", ".join(symbols[:limit]) + (f" and {len(symbols) - limit} more" if len(symbols) > limit else "")
            lines.append(f"    needed by {user}: {shown}")
    if selection.unprovided:
        lines.append(
            f"  not checked against musl ({len(selection.unprovided)} symbols): its symbol table is read from the "
            "musl release, which the first build downloads"
        )
    return lines


def print_kraftfile(args: list[str], environ: Mapping[str, str], cwd: str, runner: ProcessRunner, out: TextIO) -> int:
    """`kraftld --print-kraftfile LINK-LINE`: the Kraftfile equivalent to what the link would build."""
    import dataclasses

    from .kraftfile_text import render_kraftfile
    from .linkline import parse_link_line
    from .pipeline import plan_from_line
    from .response import expand_response_files
    from .settings import Settings

    # Planned as a dry run: nothing is cloned or built, only the configuration is decided.
    settings = dataclasses.replace(Settings.from_environ(environ), dry_run=True)
    line = parse_link_line(expand_response_files(args))
    _, probed = plan_from_line(line, settings, environ, cwd, runner)
    out.write(render_kraftfile(probed.kraftfile, probed.selection))
    return 0
