"""`python -m kraftld`: the kraftld command."""

from .cli import entry_point

entry_point()
