# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whole fleets: bring one up, make an image of a node, tear one down."""

from __future__ import annotations

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .host import FleetError, log, raise_inotify_limits, remove_tree, run, unmount_all_under, write_atomically
from .inventory import write_inventory
from .network import NODE_HOST_OFFSET, add_bridge, allocate_index, remove_bridge, subnet_prefixes
from .nodes import node_cgroups, remove_cgroups, ssh_command, start_node, stop_processes, wait_until_ready
from .registry import build_test_image, seed_test_image
from .rootfs import (CONTAINERD_BUILDS, SPEGEL_PROGRAM, CachedRootfs, build_flavours, build_programs,
                     containerd_build_version)
from .state import IMAGE_META, STATE_ROOT, AllocationLock, Fleet, Node, NodeSpec, bridge_name

SEED_FLAVOUR = "sid"  # containerd 2.1+: Spegel learns of content as it arrives


def claim_fleet(name: str, specs: list[NodeSpec], caches: dict[str, CachedRootfs],
                programs: dict[str, Path]) -> Fleet:
    """Reserve the name, a 198.18.N.0/24 index and the bridge; write the plan: the nodes
    asked for (n1, n2, ...), then the seed node."""
    with AllocationLock():
        if (STATE_ROOT / name).exists():
            raise FleetError(f"fleet {name} already exists; run `fleet.py down --name {name}` "
                             "first, or pass --replace")
        if Path(f"/sys/class/net/{bridge_name(name)}").exists():
            raise FleetError(f"bridge {bridge_name(name)} already exists (a fleet {name} in "
                             "another state dir?); pick another --name")
        fleet = Fleet(name=name, index=allocate_index())
        fleet.dir.mkdir(mode=0o700, parents=True)
        fleet.save()
        add_bridge(fleet)
        prefix4, prefix6 = subnet_prefixes(fleet.index)
        # The seed speaks the families the fleet speaks: Spegel's peers learn each other's
        # addresses from whoever they hear them from, and an IPv6-only node cannot use an
        # IPv4 address it was told (IPv6-only fleets are proven on their own).
        seed = NodeSpec(SEED_FLAVOUR, ipv4=any(spec.ipv4 for spec in specs),
                        ipv6=any(spec.ipv6 for spec in specs))
        for number, spec in enumerate([*specs, seed], start=1):
            node_name = "seed" if spec is seed else f"n{number}"
            build = programs[CONTAINERD_BUILDS[spec.containerd_build]] if spec.containerd_build else None
            image = json.loads((Path(spec.image) / IMAGE_META).read_text()) if spec.image else {}
            if image and not Path(image["base"]).is_dir():
                raise FleetError(f"{spec.image}: its base rootfs {image['base']} is gone (rebuilt "
                                 "since?); make the image again")
            build = Path(image["containerd_build"]) if image.get("containerd_build") else build
            # The seed takes the lowest address: Spegel's DNS bootstrap dials the first
            # three addresses per family, and every node must reach the image's holder.
            host = NODE_HOST_OFFSET + (0 if spec is seed else number)
            fleet.nodes.append(Node(
                name=node_name, hostname=f"{name}-{node_name}", flavour=spec.flavour,
                ipv4=f"{prefix4}.{host}" if spec.ipv4 else "",
                ipv6=f"{prefix6}::{host}" if spec.ipv6 else "",
                default_route=spec.default_route,
                # An image is the builder's overlay upper dir stacked on its base rootfs.
                rootfs=f"{spec.image}/upper:{image['base']}" if image else str(caches[spec.flavour].rootfs),
                containerd_version=(image["containerd_version"] if image else
                                    containerd_build_version(build)
                                    if build else caches[spec.flavour].meta()["containerd_version"]),
                containerd_build=str(build or ""), spegel_binary=str(programs[SPEGEL_PROGRAM] / "spegel"),
                seed=spec is seed, kubelet_node_ip=spec.kubelet_node_ip))
            for cgroup in node_cgroups(name, node_name):
                cgroup.mkdir(parents=True, exist_ok=True)
        fleet.save()
    return fleet


def start_fleet(fleet: Fleet, timeout: float) -> None:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"peerpull-fleet-{fleet.name}",
         "-f", str(fleet.key)])
    for node in fleet.nodes:
        start_node(fleet, node)
    with ThreadPoolExecutor(max_workers=len(fleet.nodes)) as pool:
        states = list(pool.map(lambda n: wait_until_ready(fleet, n, timeout), fleet.nodes))
    for node, state in zip(fleet.nodes, states):
        if state == "degraded":
            failed = subprocess.run(
                ssh_command(fleet, node, ["systemctl", "--failed", "--plain", "--no-legend"]),
                capture_output=True, text=True, check=False).stdout.strip()
            log(f"warning: {node.hostname} is degraded; failed units: {failed}")
    image = build_test_image()
    seed_test_image(fleet, image)
    write_inventory(fleet, image)


def bring_up(name: str, specs: list[NodeSpec], timeout: float, keep_on_failure: bool,
             stop_timeout: float) -> Fleet:
    caches = build_flavours([spec.flavour for spec in specs] + [SEED_FLAVOUR])
    builds = [CONTAINERD_BUILDS[spec.containerd_build] for spec in specs if spec.containerd_build]
    programs = build_programs([SPEGEL_PROGRAM, *builds])
    raise_inotify_limits(len(specs) + 1)
    fleet = claim_fleet(name, specs, caches, programs)
    try:
        start_fleet(fleet, timeout)
    except BaseException:
        if keep_on_failure:
            log(f"left the failed fleet in place (--keep-on-failure); "
                f"remove it with `fleet.py down --name {name}`")
        else:
            log("tearing the failed fleet down (pass --keep-on-failure to inspect it)")
            tear_down(name, stop_timeout)
        raise
    return fleet


def tear_down(name: str, timeout: float) -> None:
    """Remove every trace of fleet `name`; safe to repeat and after any crash."""
    fleet_dir = STATE_ROOT / name
    try:
        fleet = Fleet.load(name)
        nodes, bridge = fleet.nodes, fleet.bridge
    except FleetError:
        nodes, bridge = [], bridge_name(name)  # state lost: fall back to names and cgroups
    stop_processes(name, nodes, timeout)
    unmount_all_under(fleet_dir)
    remove_bridge(bridge)
    # nspawn leaves this behind when /run is not a tmpfs (it refuses to rm -rf a disk fs).
    for propagate in Path("/run/systemd/nspawn/propagate").glob(f"{name}-n*"):
        if re.fullmatch(rf"{re.escape(name)}-n\d+", propagate.name):
            remove_tree(propagate)
    with AllocationLock():
        remove_cgroups(name)
        if fleet_dir.is_dir() and not (fleet_dir / "fleet.json").exists() and any(fleet_dir.iterdir()):
            raise FleetError(f"{fleet_dir} has no fleet.json: not a fleet's state; left it alone")
        remove_tree(fleet_dir)
        try:  # the state root goes with the last fleet
            STATE_ROOT.rmdir()
        except OSError:
            pass


def make_image(name: str, wanted: str, output: Path, timeout: float) -> Path:
    """Power fleet `name` off and turn one node's changes (its overlay upper dir) into an
    image: OUTPUT/upper plus OUTPUT/image.json naming the base rootfs it goes on. Nodes boot
    from it with the node option image=OUTPUT. The fleet stays until `down`."""
    fleet = Fleet.load(name)
    node = fleet.find_node(wanted)
    if output.exists():
        raise FleetError(f"{output} exists; remove it or pick another --output")
    stop_processes(name, fleet.nodes, timeout)
    unmount_all_under(fleet.dir)
    output.mkdir(parents=True)
    # cp -a keeps overlayfs's whiteouts (0/0 character devices) and opaque-dir xattrs.
    run(["cp", "-a", str(fleet.node_dir(node) / "upper"), str(output / "upper")])
    base = node.rootfs.split(":")[-1]
    write_atomically(output / IMAGE_META, json.dumps({
        "flavour": node.flavour, "base": base, "from": node.hostname,
        "containerd_version": node.containerd_version, "containerd_build": node.containerd_build,
        "made": time.time()}, indent=2) + "\n")
    return output
