"""kraftld-run's settings (argv and environment, validated once) and what they turn into: boot
parameters and QEMU devices, checked against what the image has."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from kraftld.errors import RunError
from kraftld.run import main
from kraftld.runner.devices import guest_setup
from kraftld.runner.image import ImageFacts
from kraftld.runner.qemu import BootOptions, Forward, Network, Share, device_args, kernel_command_line
from kraftld.runner.settings import Publish, RunSettings, Volume, parse_run_args

FULL = ImageFacts(
    frozenset({"libvfscore", "lib9pfs", "libuk9p", "libvirtio_9p", "libvirtio_pci", "libuknetdev", "libvirtio_net"}),
    {"kraftld.seed": 4, "env.vars": 2, "vfs.fstab": 16, "netdev.ip": 1},
)
PLAIN = ImageFacts(frozenset({"libnolibc"}), {"kraftld.seed": 4})


def settings(argv: list[str], environ: dict[str, str] | None = None) -> RunSettings:
    parsed = parse_run_args(argv, {"KRAFTLD_CACHE": "/c", **(environ or {})})
    assert isinstance(parsed, RunSettings)
    return parsed


def test_everything_after_the_image_is_the_programs(tmp_path: Path) -> None:
    # cargo test's own arguments reach the program unchanged, options of the runner's names included.
    args = ["--nocapture", "--exact", "name", "--test-threads=1", "--format", "json", "-Z", "unstable-options"]
    args += ["--list", "--ignored", "-e", "X=1", "-v", "a:b", "--gdb", "--", "--help"]
    parsed = settings(["img", *args])
    assert (parsed.image, parsed.args) == ("img", tuple(args))
    assert (parsed.env, parsed.volumes, parsed.gdb_port) == ((), (), None)


def test_options(tmp_path: Path) -> None:
    parsed = settings(
        [
            "-e",
            "A=1",
            "--env=B=x=y",
            "--env",
            "HOSTVAR",
            "-e",
            "MISSING",
            "-v",
            f"{tmp_path}:/data:ro",
            "--volume",
            f"{tmp_path}/:/rw/",
            "--gdb",
            "-p",
            "8080:80",
            "--publish=0.0.0.0:5353:53/udp",
            "--param",
            "netdev.ip=10.0.2.16/24:10.0.2.2",
            "--dhcp",
            "-v",
            "img",
            "arg",
        ],
        {"HOSTVAR": "from host"},
    )
    assert parsed.env == (("A", "1"), ("B", "x=y"), ("HOSTVAR", "from host"))
    assert parsed.volumes == (Volume(str(tmp_path), "/data", True), Volume(str(tmp_path), "/rw", False))
    assert parsed.gdb_port == 1234
    assert parsed.publish == (Publish("tcp", "127.0.0.1", 8080, 80), Publish("udp", "0.0.0.0", 5353, 53))
    assert parsed.params == ("netdev.ip=10.0.2.16/24:10.0.2.2",)
    assert parsed.dhcp and parsed.verbose and parsed.log_level == "debug"
    assert (parsed.image, parsed.args) == ("img", ("arg",))
    assert settings(["--gdb=4321", "--net", "none", "img"]).gdb_port == 4321
    assert settings(["--net=none", "img"]).net == "none"


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["img"], {"KRAFTLD_QEMU_ARGS": "-append 'x"}, "KRAFTLD_QEMU_ARGS cannot be split"),
        (["img"], {"KRAFTLD_QEMU_ARGS": '"unclosed'}, "No closing quotation"),
        (["img"], {"KRAFTLD_LOG": "bogus"}, "not a log level"),
        (["img"], {"KRAFTLD_RUN_TIMEOUT": "nan"}, "more than 0"),
        (["img"], {"KRAFTLD_RUN_TIMEOUT": "inf"}, "more than 0"),
        (["-e", "1A=x", "img"], {}, "not an environment variable name"),
        (["-e", "=x", "img"], {}, "not an environment variable name"),
        (["-e"], {}, "needs a value"),
        (["--volume", "nocolon", "img"], {}, "not HOST_DIR:GUEST_PATH"),
        (["-v", "{tmp}:relative", "img"], {}, "must be absolute"),
        (["-v", "{tmp}:/", "img"], {}, "must be absolute, not /"),
        (["-v", "{tmp}:/a b", "img"], {}, "without spaces"),
        (["-v", "{tmp}:/data:rx", "img"], {}, "not HOST_DIR:GUEST_PATH"),
        (["-v", "{tmp}/missing:/data", "img"], {}, "no folder"),
        (["-v", "{tmp}:/d", "-v", "{tmp}:/d/", "img"], {}, "share one guest path"),
        (["--gdb=0", "img"], {}, "not a port"),
        (["--gdb=http", "img"], {}, "not a port"),
        (["-p", "80", "img"], {}, "not [HOST_IP:]HOST_PORT:GUEST_PORT"),
        (["-p", "70000:80", "img"], {}, "not a port"),
        (["-p", "8080:80/sctp", "img"], {}, "neither tcp nor udp"),
        (["-p", "999.1.1.1:8080:80", "img"], {}, "not an IPv4 address"),
        (["--net", "tap", "img"], {}, "not a network"),
        (["--net", "none", "-p", "1:2", "img"], {}, "--net none turns it off"),
        (["--param", "noprefix=1", "img"], {}, "not LIBRARY.NAME=VALUE"),
        (["--param", "netdev.ip", "img"], {}, "not LIBRARY.NAME=VALUE"),
    ],
)
def test_settings_errors(tmp_path: Path, argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(RunError, match=re.escape(message)):
        parse_run_args([a.replace("{tmp}", str(tmp_path)) for a in argv], environ)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"KRAFTLD_QEMU_ARGS": "-append 'x"}, "KRAFTLD_QEMU_ARGS"),
        ({"KRAFTLD_LOG": "bogus"}, "KRAFTLD_LOG"),
        ({"KRAFTLD_MEMORY": "lots"}, "guest memory"),
    ],
)
def test_bad_settings_are_status_125_with_an_error_not_a_traceback(environ: dict[str, str], named: str) -> None:
    # Checked before the image is even looked for: the error names the setting.
    err = io.StringIO()
    assert main(["no-such-image"], environ=environ, stdout=io.BytesIO(), stderr=err) == 125
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("kraftld-run: error: ") and named in lines[0]
    assert lines[1].startswith("hint: ") and len(lines) == 2


def test_help_names_every_option() -> None:
    err = io.StringIO()
    assert main(["--help"], environ={}, stdout=io.BytesIO(), stderr=err) == 0
    for option in ("--env", "--volume", "--publish", "--net", "--dhcp", "--param", "--gdb", "--memory", "--timeout"):
        assert option in err.getvalue()


def test_guest_setup_turns_settings_into_parameters_and_devices(tmp_path: Path) -> None:
    parsed = settings(
        ["-e", "A=b c", "-v", f"{tmp_path}:/data:ro", "-v", f"{tmp_path}:/rw", "-p", "8080:80", "--param", "x.y=1", "i"]
    )
    setup = guest_setup(parsed, FULL)
    assert setup.params == (
        "env.vars=A=b c",
        "vfs.fstab=fs0:/data:9pfs:0x1::mkmp",
        "vfs.fstab=fs1:/rw:9pfs:0x0::mkmp",
        "netdev.ip=10.0.2.15/24:10.0.2.2",
        "x.y=1",
    )
    assert setup.shares == (Share("fs0", str(tmp_path), True), Share("fs1", str(tmp_path), False))
    assert setup.network == Network((Forward("tcp", "127.0.0.1", 8080, 80),))
    assert any("published 127.0.0.1:8080 -> guest port 80/tcp" in note for note in setup.notes)


@pytest.mark.parametrize(
    ("argv", "wanted_ip"),
    [
        (["i"], True),
        (["--dhcp", "i"], False),  # DHCP asked for
        (["--param", "netdev.ip=10.0.2.20/24:10.0.2.2", "i"], False),  # the user's own wins
    ],
)
def test_the_guest_gets_its_address_unless_dhcp(argv: list[str], wanted_ip: bool) -> None:
    params = guest_setup(settings(argv), FULL).params
    assert ("netdev.ip=10.0.2.15/24:10.0.2.2" in params) is wanted_ip


def test_network_card_only_with_a_driver_and_not_with_net_none() -> None:
    assert guest_setup(settings(["i"]), FULL).network == Network(())
    assert guest_setup(settings(["--net", "none", "i"]), FULL).network is None
    assert guest_setup(settings(["i"]), PLAIN).network is None
    assert guest_setup(settings(["i"]), None).network == Network(())  # unreadable image: checks nothing
    own = settings(["--qemu-arg", "-netdev", "--qemu-arg", "user,id=mine", "i"])
    assert guest_setup(own, FULL).network is None  # the user's own network, not a second card
    with pytest.raises(RunError, match="of your own in the QEMU arguments"):
        guest_setup(settings(["-p", "1:2", "--qemu-arg", "-nic", "--qemu-arg", "user", "i"]), FULL)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-e", "A=1", "i"], "no env.vars boot parameter"),
        (["-v", "{tmp}:/data", "i"], "no vfs.fstab boot parameter"),
        (["-p", "8080:80", "i"], "lacks libuknetdev, libvirtio_net, libvirtio_pci"),
        (["--net", "user", "i"], "lacks libuknetdev"),
    ],
)
def test_an_image_without_the_feature_is_an_error(tmp_path: Path, argv: list[str], message: str) -> None:
    with pytest.raises(RunError, match=message) as raised:
        guest_setup(settings([a.replace("{tmp}", str(tmp_path)) for a in argv]), PLAIN)
    assert "CONFIG_" in raised.value.hint


def test_too_many_env_values_for_the_image() -> None:
    with pytest.raises(RunError, match="holds at most 2"):
        guest_setup(settings(["-e", "A=1", "-e", "B=2", "-e", "C=3", "i"]), FULL)


def test_device_arguments() -> None:
    options = BootOptions(
        shares=(Share("fs0", "/host,dir", True),),
        network=Network((Forward("tcp", "127.0.0.1", 8080, 80), Forward("udp", "127.0.0.1", 5353, 53))),
        gdb_port=1234,
    )
    assert device_args(options) == [
        "-fsdev",
        "local,id=fs0,path=/host,,dir,security_model=none,readonly=on",
        "-device",
        "virtio-9p-pci,fsdev=fs0,mount_tag=fs0",
        "-netdev",
        "user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:5353-:53",
        "-device",
        "virtio-net-pci,netdev=n0",
        "-gdb",
        "tcp:127.0.0.1:1234",
        "-S",
    ]
    assert device_args(BootOptions()) == []


def test_parameters_come_before_the_separator_quoted() -> None:
    line = kernel_command_line(["x"], [0, 0, 0, 0], ["env.vars=A=it's", "vfs.fstab=fs0:/d:9pfs:0x0::mkmp"])
    assert line.endswith(" \"env.vars=A=it's\" 'vfs.fstab=fs0:/d:9pfs:0x0::mkmp' -- 'x'")


PAGED = ImageFacts(frozenset({"libnolibc", "libukfalloc", "libukvmem"}), {"kraftld.seed": 4})


@pytest.mark.parametrize(
    ("given", "refused"),
    [
        ("128M", False),
        ("3583M", False),
        ("3583", False),  # QEMU's unit: MiB
        ("3G", False),
        ("3584M", True),
        ("4G", True),
        ("3670017K", True),
        ("1T", True),
    ],
)
def test_memory_above_what_an_image_without_paging_uses_is_refused(given: str, refused: bool) -> None:
    for how in (["--memory", given, "img"], {"KRAFTLD_MEMORY": given}):
        parsed = settings(how, {}) if isinstance(how, list) else settings(["img"], how)
        if refused:
            with pytest.raises(RunError, match=re.escape(f"guest memory {given} is more than this image can use")):
                guest_setup(parsed, PLAIN)
        else:
            assert guest_setup(parsed, PLAIN).params == guest_setup(settings(["img"]), PLAIN).params
        # with paging the guest maps all of it; an image the runner cannot read is not second-guessed
        guest_setup(parsed, PAGED)
        guest_setup(parsed, None)
