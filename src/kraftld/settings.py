"""kraftld's public environment variables, read once into a typed value.

KRAFTLD_UNIKRAFT   a Unikraft tree to use, over the Kraftfile and the default
KRAFTLD_SOURCES    an offline mirror: unikraft/, lib-NAME/ and archives/; with it, no network
KRAFTLD_TARGET     the Kraftfile target to build: its name or plat/arch
KRAFTLD_CACHE      where builds and cloned sources are kept
KRAFTLD_DRY_RUN    1: print the plan, build nothing
KRAFTLD_LOG        debug: log every subprocess, shell-quoted; info: log the steps
KRAFTLD_FAST_RELINK  0: always relink with make, never by replaying the final steps
KRAFTLD_CACHE_MAX  the size the cache is kept under, all but ccache's store and runtime/ (cache_prune)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .cache_prune import parse_cache_max
from .environment import NO_WORDS, YES_WORDS, cache_dir
from .errors import ConfigError
from .logs import LEVELS


@dataclass(frozen=True)
class Settings:
    unikraft: str | None
    sources: str | None
    target: str | None
    cache: str
    dry_run: bool
    log_level: str
    fast_relink: bool = True
    cache_max: int | None = None  # bytes; None: no bound

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            unikraft=_path(environ, "KRAFTLD_UNIKRAFT"),
            sources=_path(environ, "KRAFTLD_SOURCES"),
            target=environ.get("KRAFTLD_TARGET") or None,
            cache=cache_dir(environ),
            dry_run=_flag(environ, "KRAFTLD_DRY_RUN"),
            log_level=_log_level(environ),
            fast_relink=_flag(environ, "KRAFTLD_FAST_RELINK", default=True),
            cache_max=parse_cache_max(environ),
        )


def _path(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return os.path.abspath(os.path.expanduser(value)) if value else None


def _flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    if name not in environ:
        return default
    value = environ[name].strip().lower()
    if value in YES_WORDS:
        return True
    if value in NO_WORDS:
        return False
    raise ConfigError(f"{name}={environ[name]!r} is not a yes/no value", f"set {name}=1 or {name}=0")


def _log_level(environ: Mapping[str, str]) -> str:
    value = environ.get("KRAFTLD_LOG", "").strip().lower() or "warning"
    if value not in LEVELS:
        raise ConfigError(f"KRAFTLD_LOG={value!r} is not a log level", f"use one of {', '.join(LEVELS)}")
    return value
