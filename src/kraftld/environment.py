"""kraftld's environment as read before its settings exist: the cache folder and yes/no words.

The head start runs before the rest of kraftld (settings included) is imported, so this module
imports only `os`; the settings stage reads the same variables with the same rules from here.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Mapping

YES_WORDS = frozenset({"1", "true", "yes", "on"})
NO_WORDS = frozenset({"", "0", "false", "no", "off"})


def cache_dir(environ: Mapping[str, str]) -> str:
    """KRAFTLD_CACHE, or the user's cache folder."""
    value = environ.get("KRAFTLD_CACHE")
    return os.path.abspath(os.path.expanduser(value)) if value else default_cache(environ)


def default_cache(environ: Mapping[str, str]) -> str:
    """`$XDG_CACHE_HOME/kraftld`, or `~/.cache/kraftld`."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kraftld")
