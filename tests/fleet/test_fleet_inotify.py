# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet's inotify limits: raised to what the nodes need before they boot, never
lowered, and a boot refused with the reason when the kernel does not allow the raise.

The first tests point the tool at sysctl files in a temporary directory (this host's
limits stay as they are); the last one lets the kernel itself refuse, on the real
/proc/sys, to a process that is not root."""

import os
import subprocess
from pathlib import Path

import pytest

from peerpull_fleet import host

FLEET_DIR = Path(__file__).resolve().parent
# setpriv's target must reach the interpreter and this checkout: the system Python (the
# tool needs its standard library only), not a virtualenv under root's home.
SYSTEM_PYTHON = "/usr/bin/python3"
NOBODY = "65534"


@pytest.fixture(name="sysctls")
def fixture_sysctls(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(host, "INOTIFY_SYSCTLS", tmp_path)
    return tmp_path


def set_limits(sysctls: Path, instances: int, watches: int) -> None:
    (sysctls / "max_user_instances").write_text(f"{instances}\n")
    (sysctls / "max_user_watches").write_text(f"{watches}\n")


def limits(sysctls: Path) -> tuple[int, int]:
    return (int((sysctls / "max_user_instances").read_text()),
            int((sysctls / "max_user_watches").read_text()))


def test_the_kernel_defaults_are_raised_as_kind_advises(sysctls, capsys):
    set_limits(sysctls, 128, 8192)
    host.raise_inotify_limits(nodes=11)
    assert limits(sysctls) == (1024, 524288)
    assert capsys.readouterr().err == (
        "fleet: raising fs.inotify.max_user_instances from 128 to 1024\n"
        "fleet: raising fs.inotify.max_user_watches from 8192 to 524288\n")


def test_instances_grow_with_the_number_of_nodes(sysctls):
    set_limits(sysctls, 1024, 524288)
    host.raise_inotify_limits(nodes=100)
    assert limits(sysctls) == (1600, 524288)


def test_higher_limits_are_never_lowered(sysctls, capsys):
    set_limits(sysctls, 8192, 1048576)
    host.raise_inotify_limits(nodes=11)
    assert limits(sysctls) == (8192, 1048576)
    assert capsys.readouterr().err == ""


def test_a_boot_is_refused_with_the_reason_when_the_kernel_refuses_the_raise():
    assert os.geteuid() == 0, "run as root: the test drops to nobody with setpriv"
    instances = int((host.INOTIFY_SYSCTLS / "max_user_instances").read_text())
    nodes = instances // host.INOTIFY_INSTANCES_PER_NODE + 1  # wants a little more than now
    wanted = nodes * host.INOTIFY_INSTANCES_PER_NODE
    script = (
        "import sys\n"
        "from peerpull_fleet.host import FleetError, raise_inotify_limits\n"
        "try:\n"
        f"    raise_inotify_limits({nodes})\n"
        "except FleetError as error:\n"
        "    sys.exit(str(error))\n")
    done = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         SYSTEM_PYTHON, "-c", script],
        cwd=FLEET_DIR, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    assert (f"fs.inotify.max_user_instances is {instances}, below the {wanted} that {nodes} "
            "nodes need (containerd's CRI plugin then fails with \"too many open files\"), "
            "and raising it failed: Permission denied; run "
            f"`sysctl -w fs.inotify.max_user_instances={wanted}` on the host and boot again"
            ) in done.stderr
    assert int((host.INOTIFY_SYSCTLS / "max_user_instances").read_text()) == instances
