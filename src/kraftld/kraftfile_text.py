"""Writes a Kraftfile as YAML text that reads back (kraftfile.parse_kraftfile) to the same configuration.

`kraftld --print-kraftfile` uses it for the Kraftfile equivalent to its library selection, with
each chosen option's reason as a comment, so a user can commit the file and edit it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from .kraftfile import Component, Kraftfile, Target

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from .libraries.selection import Selection


def _scalar(value: str) -> str:
    """A YAML scalar that reads back as exactly `value` (JSON strings are YAML double-quoted strings)."""
    if value in ("y", "n", "m") or value.isdigit():
        return value
    return json.dumps(value)


def _kconfig(options: tuple[tuple[str, str], ...], indent: str, comments: Mapping[str, str]) -> list[str]:
    lines = [f"{indent}kconfig:"]
    last_comment = None
    for key, value in options:
        comment = comments.get(key)
        if comment and comment != last_comment:
            lines.append(f"{indent}  # {comment}")
            last_comment = comment
        lines.append(f"{indent}  {key}: {_scalar(value)}")
    return lines


def _component(component: Component, folder: str | None, indent: str, comments: Mapping[str, str]) -> list[str]:
    lines = []
    if component.source is not None:
        source = component.source
        if "://" not in source and not source.startswith("git@") and folder is not None:
            source = os.path.normpath(os.path.join(folder, os.path.expanduser(source)))
        lines.append(f"{indent}source: {_scalar(source)}")
    if component.version is not None:
        lines.append(f"{indent}version: {_scalar(component.version)}")
    if component.kconfig:
        lines.extend(_kconfig(component.kconfig, indent, comments))
    return lines


def _target(target: Target) -> list[str]:
    if target.name is None and not target.kconfig:
        return [f"  - {target.label}"]
    lines = []
    if target.name is not None:
        lines.append(f"  - name: {_scalar(target.name)}")
        lines.append(f"    plat: {_scalar(target.plat)}")
    else:
        lines.append(f"  - plat: {_scalar(target.plat)}")
    lines.append(f"    arch: {_scalar(target.arch)}")
    if target.kconfig:
        lines.extend(_kconfig(target.kconfig, "    ", {}))
    return lines


def render_kraftfile(kraftfile: Kraftfile, selection: Selection | None = None) -> str:
    comments: dict[str, str] = {}
    library_whys: dict[str, str] = {}
    if selection is not None:
        for reason in selection.reasons:
            for key, _ in reason.kconfig:
                comments.setdefault(key, f"{reason.what}: {reason.why}")
            for name in reason.libraries:
                library_whys.setdefault(name, reason.why)
    header = "# The configuration kraftld chose for this link"
    header += " from the symbols it needs (kraftld --explain-libraries)." if selection is not None else "."
    body = _component(kraftfile.unikraft, kraftfile.folder, "  ", comments)
    # An empty `unikraft: {}` keeps "no version given" (a version would name another clone).
    lines = [header, "spec: v0.6", f"name: {_scalar(kraftfile.name)}", "unikraft:" + ("" if body else " {}"), *body]
    if kraftfile.libraries:
        lines.append("libraries:")
        for library in kraftfile.libraries:
            if library.name in library_whys:
                lines.append(f"  # {library_whys[library.name]}")
            inner = _component(library, kraftfile.folder, "    ", comments)
            lines.append(f"  {library.name}:" + ("" if inner else " {}"))
            lines.extend(inner)
    if kraftfile.env:
        lines.append("env:")
        lines.extend(f"  {key}: {_scalar(value)}" for key, value in kraftfile.env)
    lines.append("targets:")
    for target in kraftfile.targets:
        lines.extend(_target(target))
    return "\n".join(lines) + "\n"
