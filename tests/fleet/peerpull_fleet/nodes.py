# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A node's life: its cgroups, its overlay, systemd-nspawn, SSH, readiness and stop."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from .host import (FleetError, Proc, is_namespace_init, log, mount_table, namespace_init_child,
                   process_start_time, reap, run, tail)
from .network import address_node, etc_hosts
from .rootfs import SPEGEL_BINARY
from .state import Fleet, Node

CGROUP_SUBTREE = "peerpull-fleet"

# Nodes are recreated with new host keys all the time: never record or check them.
SSH_COMMON_OPTIONS = ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR")
SSH_TOOL_OPTIONS = SSH_COMMON_OPTIONS + ("BatchMode=yes", "ConnectTimeout=3")


def cgroup_roots() -> list[Path]:
    """Mount points of the hierarchies nspawn uses: cgroup2, and v1 name=systemd on a
    hybrid host like this one."""
    return [Path(m.point) for m in mount_table()
            if m.fstype == "cgroup2" or (m.fstype == "cgroup" and "name=systemd" in m.options.split(","))]


def node_cgroups(fleet_name: str, node_name: str | None = None) -> list[Path]:
    parts = [CGROUP_SUBTREE, fleet_name] + ([node_name] if node_name else [])
    return [root.joinpath(*parts) for root in cgroup_roots()]


def remove_cgroups(fleet_name: str) -> None:
    for root in cgroup_roots():
        fleet_cgroup = root / CGROUP_SUBTREE / fleet_name
        if fleet_cgroup.is_dir():
            children = sorted((p for p in fleet_cgroup.rglob("*") if p.is_dir()),
                              key=lambda p: len(p.parts), reverse=True)
            for cgroup in children + [fleet_cgroup]:
                remove_cgroup(cgroup)
        try:  # shared by all fleets: goes only with the last one
            (root / CGROUP_SUBTREE).rmdir()
        except OSError:
            pass


def remove_cgroup(cgroup: Path) -> None:
    """rmdir, retried briefly: an exited process leaves its cgroup a moment later."""
    for attempt in range(50):
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if attempt == 49:
                raise FleetError(f"cannot remove cgroup {cgroup}: {error}; "
                                 f"processes left: {(cgroup / 'cgroup.procs').read_text().split()}")
            time.sleep(0.1)


def processes_in_fleet_cgroups(fleet_name: str) -> tuple[set[Proc], set[Proc]]:
    """(nspawns, container inits) in the cgroups this tool made for the fleet: the
    fallback record when fleet.json lost a PID (a crashed `up`)."""
    nspawns, inits = set(), set()
    for fleet_cgroup in node_cgroups(fleet_name):
        if not fleet_cgroup.is_dir():
            continue
        for procs in fleet_cgroup.rglob("cgroup.procs"):
            for pid in map(int, procs.read_text().split()):
                if is_namespace_init(pid):
                    inits.add(Proc.of(pid))
                elif Path(f"/proc/{pid}/comm").read_text().strip() == "systemd-nspawn":
                    nspawns.add(Proc.of(pid))
    return nspawns, inits


def nspawn_command(fleet: Fleet, node: Node) -> list[str]:
    node_dir = fleet.node_dir(node)
    return [
        "systemd-nspawn",
        "--boot",                    # run the image's systemd as PID 1
        "--register=no",             # no systemd-machined on this host
        "--keep-unit",               # no host systemd to create a scope unit
        f"--machine={node.hostname}",
        f"--directory={node_dir / 'root'}",
        f"--network-bridge={fleet.bridge}",
        # overlayfs cannot be an overlay upperdir; a plain directory lets containerd's
        # overlayfs snapshotter mount multi-layer images and containers.
        f"--bind={node_dir / 'containerd'}:/var/lib/containerd",
        f"--bind-ro={node.spegel_binary}:{SPEGEL_BINARY}",
        *(f"--bind-ro={Path(node.containerd_build, name)}:/usr/bin/{name}"
          for name in ("containerd", "ctr") if node.containerd_build),
        "--resolv-conf=off",         # keep the image's resolver-free resolv.conf
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",       # boot messages go to console.log
    ]


def start_node(fleet: Fleet, node: Node) -> None:
    """Mount the node's overlay, seed its identity, start nspawn and address host0."""
    node_dir = fleet.node_dir(node)
    root = node_dir / "root"
    for sub in ("upper", "work", "root", "containerd"):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={node.rootfs},upperdir={node_dir / 'upper'},workdir={node_dir / 'work'}",
         str(root)])
    # Written through the merged mount so overlayfs copies parent directory modes up.
    (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    (root / "etc/hostname").write_text(node.hostname + "\n")
    (root / "etc/hosts").write_text(etc_hosts(fleet))
    authorized = root / "root/.ssh/authorized_keys"
    authorized.write_text(Path(f"{fleet.key}.pub").read_text())
    authorized.chmod(0o600)
    if node.kubelet_node_ip:
        # Where kubelet's flags live on Debian (KUBELET_EXTRA_ARGS); there is no kubelet.
        (root / "etc/default/kubelet").write_text(f"KUBELET_EXTRA_ARGS=--node-ip={node.address}\n")

    cgroups = node_cgroups(fleet.name, node.name)

    def enter_own_cgroups():
        # nspawn puts the container into <its cgroup>/payload; sharing a cgroup
        # between two nspawns would make the containers collide.
        for cgroup in cgroups:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    with open(node_dir / "console.log", "w") as console:
        process = subprocess.Popen(
            nspawn_command(fleet, node), stdin=subprocess.DEVNULL, stdout=console,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=enter_own_cgroups,
            env={**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"})
    node.nspawn_pid, node.nspawn_start = process.pid, process_start_time(process.pid)
    fleet.save()

    deadline = time.monotonic() + 15
    while (leader := namespace_init_child(process.pid)) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise FleetError(f"systemd-nspawn for {node.hostname} did not start its container; "
                             f"{node_dir / 'console.log'}:\n{tail(node_dir / 'console.log')}")
        time.sleep(0.02)
    node.leader_pid, node.leader_start = leader, process_start_time(leader)
    fleet.save()

    while "host0:" not in Path(f"/proc/{leader}/net/dev").read_text():
        if time.monotonic() > deadline:
            raise FleetError(f"{node.hostname}: host0 never appeared in the container")
        time.sleep(0.02)
    address_node(fleet, node)


def node_journal(node: Node, lines: int = 40) -> str:
    if not node.leader.alive():
        return "(container is not running)"
    result = subprocess.run(
        ["nsenter", f"--target={node.leader_pid}", "--mount", "--uts", "--ipc", "--net", "--pid",
         "journalctl", "-b", "--no-pager", "-n", str(lines)],
        capture_output=True, text=True, timeout=20, check=False)
    return (result.stdout + result.stderr).strip()


def ssh_command(fleet: Fleet, node: Node, command: list[str]) -> list[str]:
    options = [arg for option in SSH_TOOL_OPTIONS for arg in ("-o", option)]
    argv = ["ssh", "-i", str(fleet.key), *options, f"root@{node.address}"]
    return argv + ["--", *command] if command else argv


def wait_until_ready(fleet: Fleet, node: Node, timeout: float) -> str:
    """Wait for SSH and a finished boot; return the system state (running/degraded)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not node.leader.alive():
            raise FleetError(f"{node.hostname} stopped while booting; "
                             f"{fleet.node_dir(node) / 'console.log'}:\n"
                             f"{tail(fleet.node_dir(node) / 'console.log')}")
        try:
            result = subprocess.run(
                ssh_command(fleet, node, ["systemctl", "is-system-running", "--wait"]),
                capture_output=True, text=True, check=False,
                timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            break
        last = (result.stdout + result.stderr).strip()
        if result.stdout.strip() in ("running", "degraded"):
            return result.stdout.strip()
        time.sleep(0.2)
    raise FleetError(
        f"{node.hostname} ({node.address}) was not ready after {timeout:g}s "
        f"(last answer: {last or 'none'}). Journal tail:\n{node_journal(node)}\n"
        f"Inspect with `fleet.py status --name {fleet.name}`, then `fleet.py down --name {fleet.name}`")


def stop_processes(fleet_name: str, nodes: list[Node], timeout: float) -> None:
    """SIGTERM each nspawn (it powers its container off cleanly), SIGRTMIN+4 (poweroff)
    to containers whose nspawn is gone; after `timeout`, SIGKILL the container inits
    (which ends their whole PID namespace) and the nspawns."""
    nspawns, leaders = processes_in_fleet_cgroups(fleet_name)
    for node in nodes:
        nspawns.add(Proc(node.nspawn_pid, node.nspawn_start))
        leaders.add(Proc(node.leader_pid, node.leader_start))
    nspawns = {proc for proc in nspawns if proc.alive()}
    leaders = {proc for proc in leaders if proc.alive()}
    guarded = set()  # containers whose nspawn is alive and will shut them down
    for nspawn in nspawns:
        if (leader := namespace_init_child(nspawn.pid)) is not None:
            leaders.add(Proc.of(leader))
            guarded.add(leader)
    orphaned = {proc for proc in leaders if proc.pid not in guarded}

    def signal_all(targets: set[Proc], signum: int) -> None:
        for proc in targets:
            if proc.alive():
                try:
                    os.kill(proc.pid, signum)
                except ProcessLookupError:
                    pass

    def wait_gone(targets: set[Proc], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for proc in targets:
                reap(proc.pid)
            if not any(proc.alive() for proc in targets):
                return True
            time.sleep(0.05)
        return False

    everything = nspawns | leaders
    signal_all(nspawns, signal.SIGTERM)
    signal_all(orphaned, signal.SIGRTMIN + 4)
    if not wait_gone(everything, timeout):
        log(f"containers still up after {timeout:.0f}s; killing them")
        signal_all(leaders, signal.SIGKILL)
        signal_all(nspawns, signal.SIGKILL)
        if not wait_gone(everything, 10):
            raise FleetError(f"processes {sorted(p.pid for p in everything)} survived SIGKILL")
