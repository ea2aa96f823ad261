"""`python -m kraftld.run`: kept for scripts and tests that start the runner so; see kraftld.runner."""

from .runner.cli import entry_point, main

__all__ = ["entry_point", "main"]

if __name__ == "__main__":
    entry_point()
