# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""This host's side of the fleet: commands, processes, mounts and kernel limits."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple


class FleetError(Exception):
    """A failure with a message that says what to do; printed without a traceback."""


def log(message: str) -> None:
    print(f"fleet: {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, raising FleetError with its output when it fails."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    result = subprocess.run(cmd, check=False, **kwargs)
    if result.returncode != 0:
        output = ((result.stdout or "") + (result.stderr or "")).strip()
        raise FleetError(f"{' '.join(cmd)} failed ({result.returncode}): {output}")
    return result


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} is missing)"

# --- processes -------------------------------------------------------------------


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks, or None if it is gone or a zombie.

    Recorded next to every PID so that a recycled PID is never signalled."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


class Proc(NamedTuple):
    """A process as recorded: PID plus start time, so a recycled PID is never signalled."""
    pid: int | None
    start: int | None

    @classmethod
    def of(cls, pid: int) -> Proc:
        return cls(pid, process_start_time(pid))

    def alive(self) -> bool:
        return bool(self.pid) and self.start is not None and process_start_time(self.pid) == self.start


def reap(pid: int) -> None:
    """Collect a child's exit status when this process started it (tests importing us)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def is_namespace_init(pid: int) -> bool:
    """Whether `pid` is PID 1 of a PID namespace below ours: a container's init."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    nspid = re.search(r"^NSpid:\s+(.*)$", status, re.M)
    return bool(nspid) and len(nspid.group(1).split()) > 1 and nspid.group(1).split()[-1] == "1"


def namespace_init_child(pid: int) -> int | None:
    """The child of nspawn `pid` that is its container's init."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return next((int(child) for child in children if is_namespace_init(int(child))), None)


# --- mounts and safe removal -----------------------------------------------------


class Mount(NamedTuple):
    point: str
    fstype: str
    options: str  # the filesystem's own options: an overlay's lowerdir= and friends


def mount_table() -> list[Mount]:
    table = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_fields, filesystem_fields = (part.split() for part in line.split(" - ", 1))
        point = mount_fields[4].encode().decode("unicode_escape")  # "\040" is a space
        table.append(Mount(point, filesystem_fields[0], filesystem_fields[-1]))
    return table


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    points = {m.point for m in mount_table() if m.point == prefix or m.point.startswith(prefix + "/")}
    return sorted(points, key=len, reverse=True)


def unmount_all_under(path: Path) -> None:
    """Unmount everything at or below `path`, deepest first; lazily when busy."""
    for point in mounts_under(path):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
            log(f"{point} is busy; detaching it lazily")
            run(["umount", "--lazy", point])


def remove_tree(path: Path) -> None:
    """rm -rf that never descends into a mount (a debootstrap /proc, a live overlay)."""
    if not path.exists() and not path.is_symlink():
        return
    unmount_all_under(path)
    if mounts_under(path):
        raise FleetError(f"{path} still has mounts: {mounts_under(path)}; unmount them and retry")
    shutil.rmtree(path)


# --- kernel limits ---------------------------------------------------------------


# Each node's containerd and systemd take inotify instances and watches: two fleets of ten
# nodes exhaust the kernel's default of 128 instances per user, and containerd's CRI plugin
# then fails with "too many open files". Kind's documentation raises both limits (512
# instances, 524288 watches); instances get 16 per node here, and at least 1024.
INOTIFY_SYSCTLS = Path("/proc/sys/fs/inotify")
INOTIFY_INSTANCES_PER_NODE = 16
INOTIFY_INSTANCES_FLOOR = 1024
INOTIFY_WATCHES_FLOOR = 524288


def raise_inotify_limits(nodes: int) -> None:
    """Raise the per-user inotify limits to what `nodes` nodes need, never lowering one;
    refuse to boot when the kernel does not let them be raised."""
    wanted = {"max_user_instances": max(INOTIFY_INSTANCES_FLOOR, nodes * INOTIFY_INSTANCES_PER_NODE),
              "max_user_watches": INOTIFY_WATCHES_FLOOR}
    for name, value in wanted.items():
        sysctl = INOTIFY_SYSCTLS / name
        current = int(sysctl.read_text())
        if current >= value:
            continue
        log(f"raising fs.inotify.{name} from {current} to {value}")
        try:
            sysctl.write_text(f"{value}\n")
        except OSError as error:
            raise FleetError(
                f"fs.inotify.{name} is {current}, below the {value} that {nodes} nodes need "
                "(containerd's CRI plugin then fails with \"too many open files\"), and raising "
                f"it failed: {error.strerror}; run `sysctl -w fs.inotify.{name}={value}` on the "
                "host and boot again") from None
