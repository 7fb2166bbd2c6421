# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Addresses and the bridge: fleet N owns 198.18.N.0/24 and fd00:5e6e:N::/64."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .host import FleetError, run
from .rootfs import SPEGEL_PEERS_NAME
from .state import STATE_ROOT, Fleet, Node, fleet_names

# 198.18.0.0/15 is the benchmarking range and fd00:5e6e::/32 a ULA slice: neither can
# collide with real networks, and the host's own eth0 owns fd00::/64.
IPV4_PREFIX = "198.18"
IPV6_PREFIX = "fd00:5e6e"
MAX_FLEET_INDEX = 250
NODE_HOST_OFFSET = 10


def subnet_prefixes(index: int) -> tuple[str, str]:
    """Fleet `index`'s IPv4 and IPv6 prefixes: 198.18.N and fd00:5e6e:N."""
    return f"{IPV4_PREFIX}.{index}", f"{IPV6_PREFIX}:{index}"


def allocate_index() -> int:
    """The lowest 198.18.N.0/24 that no fleet and no host interface uses."""
    used = set()
    for name in fleet_names():
        try:
            used.add(json.loads((STATE_ROOT / name / "fleet.json").read_text())["index"])
        except (OSError, ValueError, KeyError):
            pass
    addresses = run(["ip", "-o", "-4", "addr", "show"]).stdout
    used.update(int(n) for n in re.findall(rf"inet {re.escape(IPV4_PREFIX)}\.(\d+)\.", addresses))
    for index in range(1, MAX_FLEET_INDEX + 1):
        if index not in used:
            return index
    raise FleetError("no free fleet index; tear fleets down with `fleet.py down --all`")


def add_bridge(fleet: Fleet) -> None:
    """The fleet's bridge, holding .1 (::1) of its subnets: the nodes' default gateway."""
    prefix4, prefix6 = subnet_prefixes(fleet.index)
    run(["ip", "link", "add", "name", fleet.bridge, "type", "bridge"])
    run(["ip", "addr", "add", f"{prefix4}.1/24", "dev", fleet.bridge])
    run(["ip", "addr", "add", f"{prefix6}::1/64", "dev", fleet.bridge, "nodad"])
    run(["ip", "link", "set", fleet.bridge, "up"])


def remove_bridge(bridge: str) -> None:
    """Delete the bridge if it is there (its veths went with the containers)."""
    if Path(f"/sys/class/net/{bridge}").exists():
        run(["ip", "link", "delete", bridge])


def address_node(fleet: Fleet, node: Node) -> None:
    """Set the node's addresses and routes on host0 from the host (nsenter into its
    network namespace), before its services start."""
    prefix4, prefix6 = subnet_prefixes(fleet.index)
    commands = ["link set lo up", "link set host0 up"]
    if node.ipv4:
        commands.append(f"addr add {node.ipv4}/24 dev host0")
        if node.default_route:
            commands.append(f"route add default via {prefix4}.1")
    if node.ipv6:
        commands.append(f"addr add {node.ipv6}/64 dev host0 nodad")
        if node.default_route:
            commands.append(f"route add default via {prefix6}::1")
    run(["nsenter", f"--target={node.leader_pid}", "--net", "ip", "-batch", "-"],
        input="\n".join(commands) + "\n")


def etc_hosts(fleet: Fleet) -> str:
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    for node in fleet.nodes:
        lines += [f"{ip} {node.hostname} {node.name} {SPEGEL_PEERS_NAME}"
                  for ip in (node.ipv4, node.ipv6) if ip]
    return "\n".join(lines) + "\n"
