# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Throw-away systemd nodes for the peerpull.spegel tests, without a Docker engine.

A node is a cached Debian rootfs (debootstrap) under a per-node overlayfs, booted by
systemd-nspawn on a per-fleet Linux bridge and reachable from this host over SSH. Each
node runs sshd, containerd (Debian's, or a build of 2.2+ bound over it) and real Spegel
(`spegel registry` on :30020, router on :5001, bootstrapped among the fleet's nodes). A
seed node outside the inventory holds the only copy of a small test image this tool
builds and imports there: no registry exists anywhere, so a pull elsewhere can only be
served by Spegel, peer to peer. See ../README.md.

    host        commands, processes, mounts, kernel limits (inotify)
    rootfs      the cached rootfs per flavour; the Go programs bound into the nodes
    state       node specs (--nodes), nodes, fleets (fleet.json)
    network     addresses, the bridge, a node's host0
    nodes       cgroups, systemd-nspawn, SSH, readiness, stopping
    registry    the test image, seeded on the seed node; a client of the nodes' Spegel
    inventory   the Ansible inventory
    lifecycle   up, image, down
    cli         tests/fleet/fleet.py's commands

Tests import what they need from here (tests/fleet on sys.path).
"""

from .host import FleetError, run
from .nodes import ssh_command
from .registry import served_by, spegel_requests, wait_until_spegel_finds, wait_until_spegel_ready
from .state import Fleet

__all__ = ["Fleet", "FleetError", "run", "served_by", "spegel_requests", "ssh_command",
           "wait_until_spegel_finds", "wait_until_spegel_ready"]
