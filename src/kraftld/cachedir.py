"""Where kraftld keeps its cache: read by the settings stage and by the head start, which runs
before the rest of kraftld (and its settings) is imported, so this module imports only `os`."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Mapping


def cache_dir(environ: Mapping[str, str]) -> str:
    """KRAFTLD_CACHE, or the user's cache folder."""
    value = environ.get("KRAFTLD_CACHE")
    return os.path.abspath(os.path.expanduser(value)) if value else default_cache(environ)


def default_cache(environ: Mapping[str, str]) -> str:
    """`$XDG_CACHE_HOME/kraftld`, or `~/.cache/kraftld`."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kraftld")
