"""kraftld-run's settings: its command line and its environment, read and validated once.

`parse_run_args(argv, environ)` is the only place the runner reads either; everything after it
takes the frozen `RunSettings`. Options come before IMAGE; every word after IMAGE is the
program's, unchanged (cargo test's own `--nocapture`, `--exact`, ... included).

Environment variables: KRAFTLD_MEMORY, KRAFTLD_RUN_TIMEOUT, KRAFTLD_QEMU, KRAFTLD_QEMU_ARGS,
KRAFTLD_LOG, KRAFTLD_CACHE; `--env NAME` takes NAME's value from the environment given here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..environment import cache_dir
from ..errors import RunError
from ..logs import LEVELS

DEFAULT_GDB_PORT = 1234
_SIZE = re.compile(r"^[0-9]+[KMGT]?$", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")
_PUBLISH = re.compile(r"^(?:(?P<ip>[0-9.]+):)?(?P<host>[0-9]+):(?P<guest>[0-9]+)(?:/(?P<proto>[a-z]+))?$")

# Options that take a value, by every spelling, and the name they are filed under.
_VALUE_OPTIONS = {
    "--memory": "memory",
    "--timeout": "timeout",
    "--qemu-arg": "qemu-arg",
    "-e": "env",
    "--env": "env",
    "--volume": "volume",
    "-p": "publish",
    "--publish": "publish",
    "--net": "net",
    "--param": "param",
    "--initrd": "initrd",
}


@dataclass(frozen=True)
class Volume:
    host: str  # an existing folder, absolute
    guest: str  # where the guest sees it, absolute
    read_only: bool


@dataclass(frozen=True)
class Publish:
    protocol: str  # "tcp" or "udp"
    host_ip: str
    host_port: int
    guest_port: int

    def describe(self) -> str:
        return f"{self.host_ip}:{self.host_port} -> guest port {self.guest_port}/{self.protocol}"


@dataclass(frozen=True)
class RunSettings:
    image: str
    args: tuple[str, ...]
    qemu: str = "qemu-system-x86_64"
    memory: str = "128M"
    timeout: float | None = None
    qemu_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    volumes: tuple[Volume, ...] = ()
    gdb_port: int | None = None
    publish: tuple[Publish, ...] = ()
    net: Literal["auto", "user", "none"] = "auto"
    dhcp: bool = False
    params: tuple[str, ...] = ()
    verbose: bool = False
    log_level: str = "warning"
    cache: str = ""
    initrd: str | None = None  # --initrd, absolute: a folder or a cpio file
    cwd: str = "."  # the caller's folder: QEMU runs there, so its relative paths are the caller's


Request = RunSettings | Literal["help", "version"]


def parse_run_args(argv: Sequence[str], environ: Mapping[str, str], cwd: str | None = None) -> Request:
    """The settings, or "help"/"version" when that was asked for; RunError for anything wrong.

    Relative paths (--volume, --initrd) are the caller's: taken against `cwd` (the process's
    folder unless given)."""
    cwd = os.path.abspath(cwd or os.getcwd())
    values: dict[str, list[str]] = {name: [] for name in set(_VALUE_OPTIONS.values())}
    flags = {"verbose": False, "dhcp": False}
    gdb: str | None = None
    rest = list(argv)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        option = rest.pop(0)
        if option == "--":
            break
        name, given = option, None
        if option.startswith("--") and "=" in option:
            name, given = option.split("=", 1)
        if name in ("-h", "--help"):
            return "help"
        if name == "--version":
            return "version"
        if name == "--gdb":
            gdb = str(DEFAULT_GDB_PORT) if given is None else given
        elif name in ("--verbose", "--dhcp"):
            flags[name[2:]] = True
        elif name == "-v":
            # docker's -v is a volume, kraftld-run's has long been --verbose: a word holding a
            # colon after it is a volume (HOST:GUEST), anything else is the image.
            if rest and ":" in rest[0]:
                values["volume"].append(rest.pop(0))
            else:
                flags["verbose"] = True
        elif name in _VALUE_OPTIONS:
            if given is None:
                if not rest:
                    raise RunError(f"{name} needs a value", f"write {name} VALUE before the image")
                given = rest.pop(0)
            values[_VALUE_OPTIONS[name]].append(given)
        else:
            raise RunError(f"unknown option {option}", "options go before the image; see kraftld-run --help")
    if not rest:
        raise RunError("no image named", "usage: kraftld-run [options] IMAGE [ARGS...]")

    memory = _last(values["memory"]) or environ.get("KRAFTLD_MEMORY") or "128M"
    if not _SIZE.match(memory):
        raise RunError(f"guest memory {memory!r} is not a size", "write it like 128M or 1G")
    timeout_text = _last(values["timeout"])
    timeout = _timeout(environ.get("KRAFTLD_RUN_TIMEOUT", "") if timeout_text is None else timeout_text)
    net = _last(values["net"]) or "user"
    if net not in ("none", "user"):
        raise RunError(f"--net {net!r} is not a network", "use --net none (no card) or --net user (the default)")
    publish = tuple(_publish(text) for text in values["publish"])
    if net == "none" and publish:
        raise RunError("--publish needs a network, and --net none turns it off", "drop one of them")
    verbose = flags["verbose"]
    return RunSettings(
        image=rest[0],
        args=tuple(rest[1:]),
        qemu=environ.get("KRAFTLD_QEMU") or "qemu-system-x86_64",
        memory=memory,
        timeout=timeout,
        qemu_args=(*_qemu_args(environ.get("KRAFTLD_QEMU_ARGS", "")), *values["qemu-arg"]),
        env=_environment(values["env"], environ),
        volumes=_volumes(values["volume"], cwd),
        gdb_port=None if gdb is None else _port(gdb, "--gdb"),
        publish=publish,
        net="none" if net == "none" else ("user" if values["net"] else "auto"),
        dhcp=flags["dhcp"],
        params=tuple(_param(text) for text in values["param"]),
        verbose=verbose,
        log_level="debug" if verbose else _log_level(environ),
        cache=cache_dir(environ),
        initrd=_initrd(_last(values["initrd"]), cwd),
        cwd=cwd,
    )


def memory_mib(size: str) -> float:
    """QEMU's reading of -m: a number of MiB, or with a K/M/G/T suffix."""
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}.get(size[-1].upper())
    return int(size[:-1]) * scale if scale else int(size)


def _last(values: list[str]) -> str | None:
    return values[-1] if values else None


def _timeout(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise RunError(
            f"timeout {text!r} is not a number of seconds", "set KRAFTLD_RUN_TIMEOUT=30, for example"
        ) from None
    if not value > 0 or value == float("inf"):
        raise RunError(f"timeout {text!r} must be more than 0 seconds", "leave it unset for no timeout")
    return value


def _qemu_args(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as error:
        raise RunError(
            f"KRAFTLD_QEMU_ARGS cannot be split into arguments ({error}): {text}",
            "it is split like a shell would: close every quote, or use --qemu-arg ARG for one argument",
        ) from None


def _log_level(environ: Mapping[str, str]) -> str:
    value = environ.get("KRAFTLD_LOG", "").strip().lower() or "warning"
    if value not in LEVELS:
        raise RunError(f"KRAFTLD_LOG={value!r} is not a log level", f"use one of {', '.join(LEVELS)}")
    return value


def _environment(entries: list[str], environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """`NAME=VALUE` as given, `NAME` from the host (skipped if the host has none, as docker does)."""
    found: dict[str, str] = {}
    for entry in entries:
        name, equals, value = entry.partition("=")
        if not _ENV_NAME.match(name):
            raise RunError(f"--env {entry!r}: {name!r} is not an environment variable name", "write --env NAME=VALUE")
        if not equals:
            if name not in environ:
                continue
            value = environ[name]
        found.pop(name, None)  # the last one given wins, in its place
        found[name] = value
    return tuple(found.items())


def _initrd(text: str | None, cwd: str) -> str | None:
    if text is None:
        return None
    path = os.path.join(cwd, os.path.expanduser(text))
    if not os.path.exists(path):
        raise RunError(f"--initrd {text!r}: no file or folder {path}", "give a folder, or a cpio (newc) file")
    return os.path.normpath(path)


def _volumes(entries: list[str], cwd: str) -> tuple[Volume, ...]:
    volumes = []
    for entry in entries:
        parts = entry.split(":")
        mode = "rw"
        if len(parts) == 3 and parts[2] in ("ro", "rw"):
            mode = parts.pop()
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise RunError(
                f"--volume {entry!r} is not HOST_DIR:GUEST_PATH[:ro]", "write -v ./data:/data or -v ./data:/data:ro"
            )
        host, guest = os.path.normpath(os.path.join(cwd, os.path.expanduser(parts[0]))), parts[1]
        if not os.path.isdir(host):
            raise RunError(f"--volume {entry!r}: no folder {host}", "share a folder that exists on the host")
        if not guest.startswith("/") or guest.rstrip("/") == "" or any(c.isspace() for c in guest):
            raise RunError(
                f"--volume {entry!r}: the guest path {guest!r} must be absolute, not /, without spaces",
                "mount it at a folder such as /data",
            )
        volumes.append(Volume(host, guest.rstrip("/"), mode == "ro"))
    guests = [v.guest for v in volumes]
    if len(set(guests)) != len(guests):
        raise RunError("two volumes share one guest path", "give each volume a folder of its own")
    return tuple(volumes)


def _port(text: str, option: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise RunError(f"{option}: {text!r} is not a port number", "use a number from 1 to 65535")
    return int(text)


def _publish(text: str) -> Publish:
    match = _PUBLISH.match(text)
    if match is None:
        raise RunError(
            f"--publish {text!r} is not [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]",
            "write -p 8080:80 or -p 127.0.0.1:8080:80/tcp",
        )
    protocol = match["proto"] or "tcp"
    if protocol not in ("tcp", "udp"):
        raise RunError(f"--publish {text!r}: {protocol!r} is neither tcp nor udp", "write /tcp or /udp")
    host_ip = match["ip"] or "127.0.0.1"
    try:
        ipaddress.IPv4Address(host_ip)
    except ValueError:
        raise RunError(f"--publish {text!r}: {host_ip!r} is not an IPv4 address", "write it like 127.0.0.1") from None
    return Publish(protocol, host_ip, _port(match["host"], "--publish"), _port(match["guest"], "--publish"))


def _param(text: str) -> str:
    name, equals, _ = text.partition("=")
    if not equals or not _PARAM_NAME.match(name):
        raise RunError(
            f"--param {text!r} is not LIBRARY.NAME=VALUE", "write it like --param netdev.ip=10.0.2.15/24:10.0.2.2"
        )
    return text
