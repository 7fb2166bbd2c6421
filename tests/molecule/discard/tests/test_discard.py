# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A node that discards unpacked layers cannot serve them to its peers (see ../molecule.yml).

One test drives the whole fleet in order, from the controller: CRI pulls through each
node's socket, Spegel started and stopped over SSH, and the peers that served a pull
named from Spegel's access logs.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
# pylint: disable=wrong-import-position
from node_checks import FleetNode  # noqa: E402
from cri import CriClient, node_socket  # noqa: E402
from peerpull_fleet import Fleet, run, served_by, ssh_command, wait_until_spegel_finds, wait_until_spegel_ready  # noqa: E402,E501

testinfra_hosts = ["mol-discard-n3"]  # the one test runs once; it reaches every node itself


def on_node(fleet: Fleet, node, *command: str) -> subprocess.CompletedProcess:
    """Run a command on the node; its output is bytes (a blob, for `ctr content get`)."""
    return subprocess.run(ssh_command(fleet, node, list(command)), capture_output=True,
                          check=False, timeout=60)


def spegel(fleet: Fleet, node, action: str) -> None:
    run(ssh_command(fleet, node, ["systemctl", action, "spegel"]))


def has_layer(fleet: Fleet, node, layer: str) -> bool:
    return on_node(fleet, node, "ctr", "-n", "k8s.io", "content", "get", layer).returncode == 0


def collect_garbage(fleet: Fleet, node) -> None:
    """containerd's garbage collection, now: removing a lease with --sync runs it, where
    its scheduler may wait long on a busy host. It removes only what nothing references."""
    lease = "peerpull-test-gc"
    script = f"ctr -n k8s.io leases create --id {lease} >/dev/null && ctr -n k8s.io leases delete --sync {lease}"
    run(ssh_command(fleet, node, ["sh", "-c", shlex.quote(script)]))


def pull(node, image: str) -> list[str | None]:
    """The image removed, then pulled as kubelet pulls: each attempt's error, or None."""
    with CriClient(node_socket(node.leader_pid)) as cri:
        cri.remove_image(image)
        return cri.pull_image_as_kubelet(image)


def test_only_the_node_that_keeps_layers_can_serve_them(host):
    variables = FleetNode(host).vars
    image, manifest, layer = (variables[key] for key in (
        "fleet_test_image", "fleet_test_image_digest", "fleet_test_image_layer"))
    fleet = Fleet.load(variables["fleet_name"])
    discarding, keeping, puller = (fleet.find_node(name) for name in ("n1", "n2", "n3"))

    # n2 first: once n1 has pulled, Spegel on containerd 2.1+ advertises n1's layer, which
    # is gone after unpacking, and a pull routed there fails rather than trying the seed.
    for source in (keeping, discarding):
        wait_until_spegel_ready(source)  # it restarts with containerd, which converge restarted
        assert None in pull(source, image)  # through Spegel, from the seed (n1: the seed or n2)
    # n1 dropped its reference to the unpacked layer; the garbage collection removes it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for node in (discarding, keeping):
            collect_garbage(fleet, node)
        if not has_layer(fleet, discarding, layer):
            break
        time.sleep(0.5)
    assert not has_layer(fleet, discarding, layer), "n1 kept the layer although it discards them"
    assert has_layer(fleet, keeping, layer), "n2 lost the layer although it keeps them"

    spegel(fleet, fleet.seed_node(), "stop")
    # n1 the only source; Spegel advertises what containerd holds when it starts.
    spegel(fleet, keeping, "stop")
    spegel(fleet, discarding, "restart")
    wait_until_spegel_finds(puller, manifest)
    since = time.time() - 1
    assert None not in pull(puller, image), "n3 pulled the image with n1 its only source"
    assert served_by(fleet, puller, manifest, since) == ["n1"], "n3 did not reach n1's manifest"
    assert served_by(fleet, puller, layer, since) == []

    # n2 the only source of the layer: n1, restarted above, no longer announces it.
    spegel(fleet, keeping, "start")
    wait_until_spegel_finds(puller, manifest, blobs=(layer,))
    since = time.time() - 1
    assert None in pull(puller, image), "n3 could not pull the image with n2 its source"
    assert served_by(fleet, puller, layer, since) == ["n2"]
