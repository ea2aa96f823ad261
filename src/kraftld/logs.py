"""kraftld's log: one logger for the linker and the runner, written to stderr with a prefix."""

from __future__ import annotations

import logging
from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")


def configure(program: str, level: str, stream: TextIO) -> logging.Logger:
    """Send the `kraftld` logger to `stream` as `program: message`, at `level` (warning if unknown)."""
    logger = logging.getLogger("kraftld")
    logger.handlers.clear()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(f"{program}: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper() if level.lower() in LEVELS else "WARNING")
    logger.propagate = False
    return logger
