# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Ansible inventory of a fleet's test nodes."""

from __future__ import annotations

import json

from .host import write_atomically
from .nodes import SSH_COMMON_OPTIONS
from .registry import TEST_IMAGE_REF, SeedImage, digest_of
from .rootfs import SPEGEL_PORT
from .state import Fleet


def write_inventory(fleet: Fleet, image: SeedImage) -> None:
    """Ansible YAML inventory of the test nodes (not the seed); strings are JSON-quoted,
    which YAML reads as-is."""
    q = json.dumps
    lines = [f"# Written by tests/fleet/fleet.py up --name {fleet.name}; removed by down.",
             "all:", "  vars:",
             f"    fleet_name: {q(fleet.name)}",
             f"    fleet_spegel_port: {SPEGEL_PORT}",
             f"    fleet_test_image: {q(TEST_IMAGE_REF)}",
             f"    fleet_test_image_digest: {q(image.digest)}",
             f"    fleet_test_image_layer: {q(digest_of(image.layer))}",
             f"    fleet_seed_node: {q(fleet.seed_node().hostname)}",
             "  hosts:"]
    for node in fleet.test_nodes():
        lines += [
            f"    {node.hostname}:",
            f"      ansible_host: {q(node.address)}",
            "      ansible_user: root",
            f"      ansible_ssh_private_key_file: {q(str(fleet.key))}",
            f"      ansible_ssh_common_args: {q(' '.join('-o ' + o for o in SSH_COMMON_OPTIONS))}",
            "      ansible_python_interpreter: /usr/bin/python3",
            f"      fleet_flavour: {node.flavour}",
            f"      fleet_node_ipv4: {q(node.ipv4)}",
            f"      fleet_node_ipv6: {q(node.ipv6)}",
            f"      fleet_default_route: {str(node.default_route).lower()}",
            f"      fleet_containerd_version: {q(node.containerd_version)}",
        ]
    lines.append("  children:")
    for flavour in sorted({node.flavour for node in fleet.test_nodes()}):
        lines += [f"    {flavour}:", "      hosts:"]
        lines += [f"        {n.hostname}: {{}}" for n in fleet.test_nodes() if n.flavour == flavour]
    write_atomically(fleet.inventory, "\n".join(lines) + "\n")
