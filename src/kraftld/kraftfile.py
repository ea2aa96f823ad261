"""Reads an application's Kraftfile (KraftKit spec v0.5/v0.6) into what kraftld builds from.

Only the parts that decide the Unikraft build are modelled: `name`, `unikraft`, `libraries` and
`targets`. KraftKit keys that only matter to `kraft run` or packaging are accepted and ignored;
any other key is an error, because a typo silently ignored would build the wrong unikernel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import Any

KRAFTFILE_NAMES = ("Kraftfile", "Kraftfile.yaml", "Kraftfile.yml", "kraft.yaml", "kraft.yml")

_TOP_KEYS = {"spec", "specification", "name", "unikraft", "libraries", "targets", "env", "rootfs"}
# Keys KraftKit knows that do not change the unikernel kraftld links.
_IGNORED_TOP_KEYS = {"outdir", "runtime", "template", "cmd", "volumes", "labels", "version"}
_COMPONENT_KEYS = {"source", "version", "kconfig"}
_TARGET_KEYS = {"name", "plat", "platform", "arch", "architecture", "kconfig"}


@dataclass(frozen=True)
class Component:
    """Unikraft itself or one library: where it comes from and the options it sets."""

    name: str
    source: str | None = None
    version: str | None = None
    kconfig: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Target:
    plat: str
    arch: str
    name: str | None = None
    kconfig: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.plat}/{self.arch}"


@dataclass(frozen=True)
class Kraftfile:
    path: str | None  # None for kraftld's embedded default
    name: str
    unikraft: Component
    libraries: tuple[Component, ...]
    targets: tuple[Target, ...]
    env: tuple[tuple[str, str], ...] = ()  # built into the image's initial environment
    auto_libraries: bool = False  # `libraries: auto`: kraftld chooses them (see libraries/)
    # `rootfs`: a folder or a cpio file, absolute; kraftld-run gives it to the guest as its
    # initrd, extracted at / (runner/rootfs.py), and the build gets what extracts it.
    rootfs: str | None = None

    @property
    def folder(self) -> str | None:
        return None if self.path is None else os.path.dirname(self.path)


DEFAULT_KRAFTFILE = Kraftfile(
    path=None,
    name="app",
    unikraft=Component("unikraft"),
    libraries=(),
    targets=(Target("qemu", "x86_64"),),
)


def find_kraftfile(start: str) -> str | None:
    """The nearest Kraftfile in `start` or a folder above it."""
    folder = os.path.abspath(start)
    while True:
        for name in KRAFTFILE_NAMES:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def load_kraftfile(path: str) -> Kraftfile:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}", "check the Kraftfile") from None
    return parse_kraftfile(text, path)


def parse_kraftfile(text: str, path: str) -> Kraftfile:
    import yaml  # imported here: most links never read YAML twice, and start-up matters

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {_one_line(error)}", "fix the Kraftfile's syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a YAML mapping", "a Kraftfile maps keys such as name, unikraft and targets")
    known = _TOP_KEYS | _IGNORED_TOP_KEYS
    _reject_unknown_keys(data, known, path, f"known keys are {', '.join(sorted(known))}")
    name = str(data.get("name") or os.path.basename(os.path.dirname(os.path.abspath(path))) or "app")
    unikraft = _component("unikraft", data.get("unikraft"), path)
    libraries_data = data.get("libraries") or {}
    auto = libraries_data == "auto"
    if auto:
        libraries_data = {}
    if not isinstance(libraries_data, dict):
        raise ConfigError(f"{path}: libraries must be a mapping of name to version or options", "see the README")
    libraries = tuple(_component(str(n), v, path) for n, v in libraries_data.items())
    targets_data = data.get("targets")
    if not targets_data:
        raise ConfigError(f"{path} names no targets", "add for example `targets: [qemu/x86_64]`")
    if not isinstance(targets_data, list):
        raise ConfigError(f"{path}: targets must be a list", "write `targets: [qemu/x86_64]`")
    targets = tuple(_target(t, path) for t in targets_data)
    env = _environment(data.get("env"), path)
    rootfs = _rootfs(data.get("rootfs"), path)
    return Kraftfile(os.path.abspath(path), name, unikraft, libraries, targets, env, auto, rootfs)


def _rootfs(value: Any, path: str) -> str | None:
    """`rootfs: PATH`, relative to the Kraftfile's folder."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: rootfs must be a path (a folder or a cpio file)", "write `rootfs: ./rootfs`")
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), os.path.expanduser(value)))


def _environment(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    """`env` as a mapping or a list of NAME=VALUE strings."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        pairs = [(str(k), "" if v is None else str(v)) for k, v in value.items()]
    elif isinstance(value, list):
        pairs = []
        for entry in value:
            key, sep, raw = str(entry).partition("=")
            if not sep:
                raise ConfigError(f"{path}: env entry {entry!r} is not NAME=VALUE", "write env entries as NAME=VALUE")
            pairs.append((key, raw))
    else:
        raise ConfigError(f"{path}: env must be a mapping or a list", "write env as NAME: value")
    for key, _ in pairs:
        if not key or "=" in key or not key.replace("_", "").isalnum():
            raise ConfigError(f"{path}: {key!r} is not an environment variable name", "names are letters, digits and _")
    return tuple(pairs)


def _reject_unknown_keys(mapping: Mapping[Any, Any], known: set[str], where: str, hint: str) -> None:
    # A typo silently ignored would build the wrong unikernel.
    unknown = sorted(str(k) for k in mapping if k not in known)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise ConfigError(f"{where} has unknown key{plural} {', '.join(unknown)}", hint)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _component(name: str, value: Any, path: str) -> Component:
    if value is None:
        return Component(name)
    if isinstance(value, (str, int, float)):
        text = str(value)
        # A string is a source when it looks like a path or URL, otherwise a version.
        if "/" in text or text.startswith("."):
            return Component(name, source=text)
        return Component(name, version=text)
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {name} must be a version string or a mapping", "see the README")
    _reject_unknown_keys(value, _COMPONENT_KEYS, f"{path}: {name}", "a component takes source, version and kconfig")
    source = value.get("source")
    version = value.get("version")
    return Component(
        name,
        source=None if source is None else str(source),
        version=None if version is None else str(version),
        kconfig=parse_kconfig(value.get("kconfig"), f"{path}: {name}.kconfig"),
    )


def _target(value: Any, path: str) -> Target:
    if isinstance(value, str):
        plat, sep, arch = value.partition("/")
        if not sep or not plat or not arch:
            raise ConfigError(f"{path}: target {value!r} is not plat/arch", "write a target as qemu/x86_64")
        return Target(plat, arch)
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: a target must be plat/arch or a mapping", "write a target as qemu/x86_64")
    _reject_unknown_keys(
        value,
        _TARGET_KEYS,
        f"{path}: a target",
        "a target takes name, plat (or platform), arch (or architecture) and kconfig",
    )
    plat_value = value.get("plat") or value.get("platform")
    arch_value = value.get("arch") or value.get("architecture")
    if not plat_value or not arch_value:
        raise ConfigError(f"{path}: a target needs plat and arch", "write e.g. {plat: qemu, arch: x86_64}")
    name = value.get("name")
    return Target(
        str(plat_value),
        str(arch_value),
        None if name is None else str(name),
        parse_kconfig(value.get("kconfig"), f"{path}: target kconfig"),
    )


def parse_kconfig(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """Kconfig options as (CONFIG_NAME, value-as-written-in-a-.config) pairs, in order."""
    if value is None:
        return ()
    pairs: list[tuple[str, Any]] = []
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        for entry in value:
            text = str(entry)
            key, sep, raw = text.partition("=")
            if not sep:
                raise ConfigError(f"{where}: {text!r} is not KEY=VALUE", "write kconfig entries as CONFIG_X=y")
            pairs.append((key.strip(), raw.strip()))
    else:
        raise ConfigError(f"{where} must be a mapping or a list", "write kconfig as CONFIG_X: y")
    result = []
    for key, raw in pairs:
        if not key.startswith("CONFIG_") or not key[7:].replace("_", "").isalnum():
            raise ConfigError(f"{where}: {key!r} is not a Kconfig option name", "names look like CONFIG_LIBUKDEBUG")
        result.append((key, kconfig_value(raw)))
    return tuple(result)


def kconfig_value(raw: Any) -> str:
    """A value as a .config writes it: y/n/m and numbers bare, other strings quoted."""
    if raw is True:
        return "y"
    if raw is False or raw is None:
        return "n"
    if isinstance(raw, int):
        return str(raw)
    text = str(raw)
    if "\n" in text or "\r" in text:
        raise ConfigError(f"a Kconfig value holds a line break: {text!r}", "keep each value on one line")
    if text in ("y", "n", "m") or (text.startswith('"') and text.endswith('"') and len(text) >= 2):
        return text
    if text.lstrip("-").isdigit() or (text.lower().startswith("0x") and _is_hex(text[2:])):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)
