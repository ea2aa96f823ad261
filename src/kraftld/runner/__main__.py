"""`python -m kraftld.runner IMAGE [ARGS...]`: the same as `kraftld-run`."""

from .cli import entry_point

entry_point()
