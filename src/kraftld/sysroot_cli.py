"""The `kraftld-sysroot` command: prints the path of a rustc sysroot holding std for the Unikraft target.

`rustc --sysroot "$(kraftld-sysroot)" --target x86_64-unikraft-linux-musl main.rs` then links
with kraftld (the target's default linker). The first call builds std (minutes); later calls
print the cached path at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from .errors import KraftldError
from .process import logged, run_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .commands import ProcessRunner


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kraftld-sysroot",
        description="Build Rust's std for the Unikraft target once and print the sysroot that holds it.",
    )
    parser.add_argument("--rustc", help="the rustc the sysroot is for (default: $RUSTC, else rustc on PATH)")
    parser.add_argument("--cargo", help="the cargo that builds std (default: $CARGO, else the one beside rustc)")
    parser.add_argument("--target", default=None, help="the target triple (default: x86_64-unikraft-linux-musl)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show cargo's output and every command")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    runner: ProcessRunner | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    from . import logs, sysroot
    from .environment import cache_dir

    env = os.environ if environ is None else environ
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    options = _parser().parse_args(argv)
    logs.configure("kraftld-sysroot", "debug" if options.verbose else env.get("KRAFTLD_LOG", "warning"), err)
    run = logged(runner or run_process)
    try:
        rustc = options.rustc or env.get("RUSTC") or "rustc"
        toolchain = sysroot.find_toolchain(rustc, options.cargo or env.get("CARGO"), run)
        cache = cache_dir(env)
        path = sysroot.sysroot_path(cache, toolchain, options.target or sysroot.TARGET)
        if not sysroot.installed(path):
            err.write(
                f"kraftld-sysroot: building std for {options.target or sysroot.TARGET} with {toolchain.cargo} "
                f"(rustc {toolchain.release}), once; this takes minutes\n"
            )
        path = sysroot.ensure_sysroot(
            cache,
            toolchain,
            run,
            env,
            target=options.target or sysroot.TARGET,
            on_line=_echo(err) if options.verbose else None,
        )
    except KraftldError as error:
        err.write(error.render("kraftld-sysroot"))
        return 1
    except KeyboardInterrupt:
        err.write("kraftld-sysroot: interrupted\n")
        return 130
    out.write(path + "\n")
    return 0


def _echo(stream: TextIO) -> Callable[[str], None]:
    def echo(text: str) -> None:
        stream.write(text)

    return echo


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
