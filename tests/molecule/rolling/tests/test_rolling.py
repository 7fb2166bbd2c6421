# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Verify the rolling restart that met a broken node (see ../molecule.yml).

Each node's host variable expect_rollout says what the rollout must have left:
  converged  config.toml changed, containerd restarted and serves the Spegel settings
  restored   config.toml is byte for byte what it was, containerd runs it with CRI
  untouched  nothing under /etc/containerd changed, containerd was not restarted

And a node kind's restart on real systemd (converge's last play, on rolling-n4): the units
named, in order, CRI on the kind's socket, and a failing unit stopping the rest.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
# pylint: disable=wrong-import-position
from node_checks import CONFIG_FILE, HOSTS_DIR, FleetNode, other_changes  # noqa: E402

testinfra_hosts = ["all"]


@pytest.fixture(scope="module")
def node(host):
    return FleetNode(host)


@pytest.fixture(scope="module")
def site_output():
    return (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "results" / "site.out").read_text()


def test_rollout_left_the_node_as_expected(node):
    expected = node.vars["expect_rollout"]
    changed = node.changed_files()
    restarted = node.containerd_started() != node.before()["containerd_started"]
    if expected == "untouched":
        assert not changed and not restarted, f"{node.name}: changed {sorted(changed)}, restarted={restarted}"
    elif expected == "restored":
        assert CONFIG_FILE not in changed, f"{node.name}: config.toml was not restored"
        assert restarted, f"{node.name}: containerd was not restarted with the restored config"
    else:
        assert CONFIG_FILE in changed and restarted
        assert node.registry_settings() == {"config_path": HOSTS_DIR, "discard_unpacked_layers": False}
        # The backup served only the rollback: the restart action removed it once CRI answered.
        left = node.run("ls -A /etc/containerd").split()
        backups = [name for name in left if re.fullmatch(r"config\.toml\..+~", name)]
        assert not backups, f"{node.name}: the rollback copy is still there: {backups}"
    assert not other_changes(node)


def test_containerd_serves_cri_on_every_node(node):
    assert node.host.service("containerd").is_running
    with node.cri() as cri:
        assert cri.status()["RuntimeReady"], f"{node.name}: CRI runtime not ready"


def test_site_playbook_said_what_happened(node, site_output):
    recap = re.search(rf"^{re.escape(node.name)}\s+:.*\bfailed=(\d+)", site_output, re.MULTILINE)
    assert recap, f"{node.name} is not in the PLAY RECAP"
    assert (recap.group(1) != "0") == (node.vars["expect_rollout"] == "restored"), recap.group(0)
    if node.vars["expect_rollout"] == "restored":
        assert "The previous configuration was restored" in site_output
        assert "it runs again with CRI" in site_output


@pytest.fixture(scope="module")
def kind_restart():
    return json.loads((Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "results" / "kind_restart.json").read_text())


def test_a_node_kinds_units_restart_and_cri_is_proven_on_its_socket(kind_restart):
    restart, started = kind_restart["restart"], kind_restart["started"]
    assert restart["restarted"] and restart["cri_ready"] and not restart.get("failed"), restart
    assert restart["msg"].startswith("rke2-server restarted; containerd serves CRI on /run/k3s/containerd/containerd.sock")
    assert started[1] != started[0], "systemd did not restart rke2-server"


def test_a_unit_that_fails_stops_the_units_after_it(kind_restart):
    failed, started = kind_restart["failed_restart"], kind_restart["started"]
    assert failed["failed"] and failed["restarted"] and not failed["cri_ready"], failed
    assert "after restarting rke2-agent, rke2-server: systemd could not restart rke2-agent" in failed["msg"], failed["msg"]
    assert started[2] == started[1], "rke2-server was restarted after the unit before it failed"
