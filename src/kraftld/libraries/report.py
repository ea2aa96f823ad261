"""Tells a person which libraries kraftld chose and why: the `-v` lines and the dry run's."""

from __future__ import annotations

from .selection import Selection


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
