# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Nodes booted from baked images: their own IP, written before containerd, served by Spegel.

converge baked the builders with `packer build` (mol-bake-n1 by the ansible provisioner over
SSH, mol-bake-n2 by ansible-local inside it) and idempotence baked them again. Here they are
powered off and their changes become images (`fleet.py image`); then, one fleet at a time,
nodes boot from them with new addresses: from n1's image a dual-stack node (n1) and one
without a default route whose kubelet has --node-ip (n2), from n2's image a dual-stack
trixie node (n3); then an IPv6-only node from n1's image in a fleet of its own (Spegel 0.7.3
does not mix IPv6-only and dual-stack nodes, see the README).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
# pylint: disable=wrong-import-position
from node_checks import CONFIG_FILE, HOSTS_DIR, FleetNode  # noqa: E402
from cri import CriClient, node_socket  # noqa: E402
from peerpull_fleet import Fleet, served_by, ssh_command, wait_until_spegel_finds  # noqa: E402

testinfra_hosts = ["mol-bake-n1"]  # one builder (for the fleet's name); the tests reach every node themselves

REPO = Path(__file__).resolve().parents[4]
FLEET_TOOL = REPO / "tests" / "fleet" / "fleet.py"
UNIT = "peerpull-spegel-hosts.service"
BUILDERS = ("n1", "n2")  # baked by the ansible provisioner over SSH, by ansible-local
FLEETS = {
    "mol-bake-img": "sid:image={n1},sid:image={n1}:no-default-route:kubelet-node-ip,trixie:image={n2}",
    "mol-bake-v6": "sid:image={n1}:ipv6-only",
}
SOURCES = {"n1": "default IPv4 route", "n2": "kubelet --node-ip in /etc/default/kubelet",
           "n3": "default IPv4 route"}


def fleet_tool(*args: str) -> str:
    done = subprocess.run([sys.executable, str(FLEET_TOOL), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"fleet.py {' '.join(args)}: {done.stderr}"
    return done.stdout


def on(fleet: Fleet, node, command: str) -> str:
    # ssh hands the node's shell one string: the command line as written here.
    done = subprocess.run(ssh_command(fleet, node, [command]), capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, f"{node.hostname}: `{command}` failed ({done.returncode}): {done.stderr}"
    return done.stdout


def playbook(fleet: Fleet, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory), *args, name],
        capture_output=True, text=True, check=False, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})


def mirror_url(ip: str) -> str:
    return f"http://[{ip}]:30020" if ":" in ip else f"http://{ip}:30020"


@pytest.fixture(scope="module")
def images(host, tmp_path_factory):
    """The builders powered off and made images: builder -> image dir; and every builder address."""
    fleet = Fleet.load(FleetNode(host).vars["fleet_name"])
    builders = [fleet.find_node(name) for name in BUILDERS]
    for node in builders:
        # Baked, not restarted: containerd still runs the builder's old config, no hosts.toml yet.
        on(fleet, node, f"test -e {CONFIG_FILE}.peerpull-orig")
        on(fleet, node, f"test ! -e {HOSTS_DIR}/_default/hosts.toml")
        assert on(fleet, node, f"systemctl is-enabled {UNIT}").strip() == "enabled", node.hostname
    made = {}
    for node in builders:
        output = tmp_path_factory.mktemp(f"bake-{node.name}") / "image"
        fleet_tool("image", "--name", fleet.name, node.name, "--output", str(output))
        made[node.name] = output
    return made, [ip for node in builders for ip in (node.ipv4, node.ipv6) if ip]


@pytest.fixture(scope="module", params=list(FLEETS))
def baked(request, images):
    """A fleet of nodes booted from the images (one fleet at a time), torn down afterwards."""
    name = request.param
    fleet_tool("down", "--name", name)
    fleet_tool("up", "--name", name, "--nodes", FLEETS[name].format(**images[0]))
    try:
        yield Fleet.load(name)
    finally:
        fleet_tool("down", "--name", name)


def test_hosts_toml_names_its_own_ip_and_no_builder_ip(baked, images):
    for node in baked.test_nodes():
        text = on(baked, node, f"cat {HOSTS_DIR}/_default/hosts.toml")
        own = node.ipv4 if node.ipv4 else node.ipv6
        assert f"[host.'{mirror_url(own)}']" in text, f"{node.hostname}:\n{text}"
        assert not [ip for ip in images[1] if ip in text], f"{node.hostname} names a builder IP:\n{text}"
        journal = on(baked, node, f"journalctl -b --no-pager -o cat -u {UNIT}")
        source = "default IPv6 route" if not node.ipv4 else SOURCES[node.name]
        assert f"node IP {own} ({source}" in journal, f"{node.hostname}:\n{journal}"


def test_the_boot_step_finished_before_containerd_started(baked):
    for node in baked.test_nodes():
        shown = dict(line.split("=", 1) for line in on(baked, node, (
            f"systemctl show {UNIT} -p Result -p ExecMainStatus -p ExecMainExitTimestampMonotonic; "
            "systemctl show containerd -p ExecMainStartTimestampMonotonic")).splitlines())
        assert shown["Result"] == "success" and shown["ExecMainStatus"] == "0", (node.hostname, shown)
        assert 0 < int(shown["ExecMainExitTimestampMonotonic"]) < int(shown["ExecMainStartTimestampMonotonic"]), shown
        # The same, as the journal tells it: the step's last line before containerd's first.
        lines = on(baked, node, f"journalctl -b --no-pager -o short-monotonic -u {UNIT} -u containerd").splitlines()
        ours = [i for i, line in enumerate(lines) if " peerpull-spegel-hosts[" in line]
        theirs = [i for i, line in enumerate(lines) if " containerd[" in line]
        assert ours and theirs and max(ours) < min(theirs), "\n".join(lines)


def test_a_cri_pull_is_served_by_spegel_peer_to_peer(baked):
    variables = yaml.safe_load(baked.inventory.read_text())["all"]["vars"]
    image, digest, layer = (variables[key] for key in (
        "fleet_test_image", "fleet_test_image_digest", "fleet_test_image_layer"))
    for node in baked.test_nodes():
        wait_until_spegel_finds(node, digest)
        with CriClient(node_socket(node.leader_pid)) as cri:
            cri.remove_image(image)
            since = time.time() - 1
            attempts = cri.pull_image_as_kubelet(image)
        assert None in attempts, f"{node.hostname}: every pull failed: {attempts}"
        peers = served_by(baked, node, layer, since)
        assert peers and node.name not in peers, f"{node.hostname}: served by {peers}"


def test_verify_reports_a_failed_boot_step_and_uninstall_removes_it(baked, tmp_path):
    if baked.name != "mol-bake-img":
        pytest.skip("once is enough: on the dual-stack fleet")
    report = tmp_path / "report.json"
    ran = playbook(baked, "peerpull.spegel.verify", "-e", f"spegel_verify_report={report}")
    ready = json.loads(report.read_text())
    assert all(result["ready"] for result in ready.values()), ran.stdout
    n1 = baked.find_node("n1")
    # A node IP the step must refuse (loopback): it fails, removes its block, says what to set.
    on(baked, n1, "sed -i 's/\"node_ip\": \"\"/\"node_ip\": \"127.0.0.1\"/' /etc/peerpull-spegel/bake.json; "
                  f"systemctl restart {UNIT} || true")
    journal = on(baked, n1, f"journalctl -b --no-pager -o cat -u {UNIT}")
    assert "spegel_node_ip" in journal and "--node-ip" in journal, journal
    ran = playbook(baked, "peerpull.spegel.verify", "-e", f"spegel_verify_report={report}", "-e",
                   f"spegel_hosts={n1.hostname}")
    hosts_toml = json.loads(report.read_text())[n1.hostname]["checks"]["hosts_toml"]
    assert not hosts_toml["ok"] and f"the boot step {UNIT} failed (Result=exit-code, ExecMainStatus=1)" \
        in hosts_toml["detail"], ran.stdout
    ran = playbook(baked, "peerpull.spegel.uninstall", "-e", f"spegel_hosts={n1.hostname}")
    assert ran.returncode == 0, ran.stdout
    left = on(baked, n1, f"systemctl show {UNIT} -p LoadState; ls /etc/peerpull-spegel /usr/local/lib/peerpull-spegel "
                         f"{HOSTS_DIR}/_default {CONFIG_FILE}.peerpull-orig 2>&1 || true")
    assert "LoadState=not-found" in left and left.count("No such file or directory") == 4, left
