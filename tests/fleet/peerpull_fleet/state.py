# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A fleet's state: the nodes asked for (--nodes), the nodes as booted, and fleet.json."""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import os
import re
from pathlib import Path

from .host import FleetError, Proc, write_atomically
from .rootfs import CONTAINERD_BUILDS, FLAVOURS

STATE_ROOT = Path(os.environ.get("PEERPULL_STATE", "/run/peerpull-fleet"))
NODE_OPTIONS = ("no-default-route", "ipv6", "no-ipv6", "ipv6-only",
                *(f"containerd={family}" for family in CONTAINERD_BUILDS), "image=DIR",
                "kubelet-node-ip")
IMAGE_META = "image.json"
# Fixed path, not under $PEERPULL_STATE: fleets in different state dirs share the host's
# 198.18.N.0/24 space, so index allocation must be serialised host-wide.
ALLOCATION_LOCK = Path("/run/lock/peerpull-fleet.lock")


@dataclasses.dataclass
class NodeSpec:
    flavour: str
    default_route: bool = True
    ipv4: bool = True
    ipv6: bool = True
    containerd_build: str = ""  # a CONTAINERD_BUILDS family run instead of the suite's own
    image: str = ""  # a directory made by `fleet.py image`: boot from that node's changes
    kubelet_node_ip: bool = False  # /etc/default/kubelet names the node's address (--node-ip)


@dataclasses.dataclass
class Node:
    name: str              # short name inside the fleet: n1, n2, ...
    hostname: str          # <fleet>-<name>: machine name, hostname, inventory name
    flavour: str
    ipv4: str              # "" when ipv6-only
    ipv6: str              # "" when no-ipv6
    default_route: bool
    rootfs: str
    containerd_version: str
    containerd_build: str = ""  # directory of a containerd build bound over the suite's own
    spegel_binary: str = ""
    seed: bool = False  # the node holding the test image; not in the inventory
    kubelet_node_ip: bool = False
    nspawn_pid: int | None = None
    nspawn_start: int | None = None
    leader_pid: int | None = None
    leader_start: int | None = None

    @property
    def address(self) -> str:
        return self.ipv4 or self.ipv6

    @property
    def leader(self) -> Proc:
        return Proc(self.leader_pid, self.leader_start)


@dataclasses.dataclass
class Fleet:
    name: str
    index: int
    nodes: list[Node] = dataclasses.field(default_factory=list)

    @property
    def dir(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def bridge(self) -> str:
        return bridge_name(self.name)

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yml"

    def node_dir(self, node: Node) -> Path:
        return self.dir / "nodes" / node.name

    def save(self) -> None:
        write_atomically(self.dir / "fleet.json", json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, name: str) -> Fleet:
        path = STATE_ROOT / name / "fleet.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FleetError(f"no fleet {name!r} ({path} is missing); start one with "
                             f"`fleet.py up --name {name} --nodes ...`") from None
        except (OSError, ValueError) as error:
            raise FleetError(f"{path} is unreadable ({error}); run `fleet.py down --name {name}`"
                             ) from None
        data["nodes"] = [Node(**node) for node in data["nodes"]]
        return cls(**data)

    def seed_node(self) -> Node:
        return next(node for node in self.nodes if node.seed)

    def test_nodes(self) -> list[Node]:
        return [node for node in self.nodes if not node.seed]

    def find_node(self, wanted: str) -> Node:
        for node in self.nodes:
            if wanted in (node.name, node.hostname, node.name.lstrip("n"), node.address):
                return node
        names = ", ".join(node.name for node in self.nodes)
        raise FleetError(f"fleet {self.name} has no node {wanted!r}; it has {names}")


def validate_fleet_name(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", name):
        raise argparse.ArgumentTypeError(
            "fleet names are 1-20 characters of a-z, 0-9 and '-', starting with a letter or digit")
    return name


def bridge_name(fleet_name: str) -> str:
    """One bridge per fleet; interface names are limited to 15 characters."""
    name = f"spg-{fleet_name}"
    if len(name) <= 15:
        return name
    return f"spg-{fleet_name[:6]}-{hashlib.sha256(fleet_name.encode()).hexdigest()[:4]}"


def parse_node_specs(text: str) -> list[NodeSpec]:
    """'bookworm,trixie:no-default-route,sid:ipv6-only' -> one NodeSpec per node."""
    specs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        flavour, *options = item.split(":")
        if flavour not in FLAVOURS:
            raise argparse.ArgumentTypeError(f"unknown flavour {flavour!r}; pick from {FLAVOURS}")
        spec = NodeSpec(flavour)
        for option in options:
            if option.startswith("image="):
                spec.image = str(Path(option.split("=", 1)[1]).resolve())
                if not (Path(spec.image) / IMAGE_META).is_file():
                    raise argparse.ArgumentTypeError(f"{item}: {spec.image} is not made by `fleet.py image`")
                if json.loads((Path(spec.image) / IMAGE_META).read_text())["flavour"] != flavour:
                    raise argparse.ArgumentTypeError(f"{item}: {spec.image} is not a {flavour} image")
                continue
            if option not in NODE_OPTIONS:
                raise argparse.ArgumentTypeError(
                    f"unknown node option {option!r}; pick from {NODE_OPTIONS}")
            spec.default_route &= option != "no-default-route"
            spec.kubelet_node_ip |= option == "kubelet-node-ip"
            spec.ipv6 = option != "no-ipv6" and (spec.ipv6 or option in ("ipv6", "ipv6-only"))
            spec.ipv4 &= option != "ipv6-only"
            if option.startswith("containerd="):
                if flavour != "sid":
                    raise argparse.ArgumentTypeError(f"{item}: containerd builds run on sid nodes only")
                spec.containerd_build = option.split("=", 1)[1]
        if not (spec.ipv4 or spec.ipv6):
            raise argparse.ArgumentTypeError(f"{item}: a node needs IPv4 or IPv6")
        specs.append(spec)
    if not specs:
        raise argparse.ArgumentTypeError("give at least one node, e.g. --nodes bookworm,sid")
    return specs


class AllocationLock:
    """Serialises claiming a fleet (name, index, bridge) and removing one."""

    def __enter__(self):
        ALLOCATION_LOCK.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(ALLOCATION_LOCK, "w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.handle.close()


def fleet_names() -> list[str]:
    """Fleets in the state dir: directories holding a fleet.json (claim writes it first)."""
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.parent.name for p in STATE_ROOT.glob("*/fleet.json"))
