# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the molecule verify steps read from a fleet node, for testinfra tests.

A `FleetNode` wraps testinfra's host: its inventory variables, the state prepare
recorded before any run of the collection (/run/peerpull-test/before.json), the reports
the converge playbook wrote on the controller, the node's effective containerd config,
the access logs of Spegel on it and on its peers, and a CRI client on its containerd
socket (reached from this host through /proc/<leader pid>/root, as the nodes have no grpcio).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import tomllib
import warnings
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
for _module_dir in ("cri", "containerd", "fleet"):
    if str(TESTS / _module_dir) not in sys.path:
        sys.path.insert(0, str(TESTS / _module_dir))

# pylint: disable=wrong-import-position
from cri import CriClient, fleet_node_socket  # noqa: E402
from peerpull_fleet import (  # noqa: E402
    Fleet, FleetError, run, served_by, spegel_requests, ssh_command, wait_until_spegel_finds,
)
from harness import effective_registry_settings  # noqa: E402

CONFIG_FILE = "/etc/containerd/config.toml"
HOSTS_DIR = "/etc/containerd/certs.d"
SPEGEL_PORT = 30020
# The role leaves these next to config.toml when it changes it (its backup, the
# uninstall copy); they are expected, not "other files changed".
CONFIG_COPIES = re.compile(re.escape(CONFIG_FILE) + r"(\.peerpull-orig|\..+~)$")


class FleetNode:
    def __init__(self, host):
        self.host = host
        self.vars = host.ansible.get_variables()
        self.name = self.vars["inventory_hostname"]

    # --- the node as Ansible and the fleet know it ---------------------------------

    def run(self, command: str) -> str:
        result = self.host.run(command)
        assert result.rc == 0, f"{self.name}: `{command}` failed ({result.rc}): {result.stderr}"
        return result.stdout

    @functools.cached_property
    def mirror_ip(self) -> str:
        """The address the mirror entries must point at: the node IP the scenario sets
        (spegel_node_ip, templated as Ansible resolves it for this host), else the one
        discovery must find: IPv4 first, as Spegel's node IP."""
        if "spegel_node_ip" in self.vars:
            return self.host.ansible("ansible.builtin.debug", "var=spegel_node_ip")["spegel_node_ip"]
        return self.vars["fleet_node_ipv4"] or self.vars["fleet_node_ipv6"]

    @property
    def mirror_url(self) -> str:
        ip = self.mirror_ip
        return f"http://[{ip}]:{SPEGEL_PORT}" if ":" in ip else f"http://{ip}:{SPEGEL_PORT}"

    def cri(self) -> CriClient:
        return CriClient(fleet_node_socket(self.vars["fleet_name"], self.name))

    # --- what was recorded before and during the runs --------------------------------

    def before(self) -> dict:
        return json.loads(self.host.file("/run/peerpull-test/before.json").content_string)

    def prediction(self) -> dict:
        """What the roles said in check mode: {"config_changed": bool, "hosts_changed": bool}."""
        path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "results" / f"{self.name}.check.json"
        return json.loads(path.read_text())

    def file_sums(self) -> dict[str, str]:
        lines = self.run("find /etc/containerd -type f -print0 | sort -z | xargs -0 -r sha256sum")
        return _sums(lines.splitlines())

    def changed_files(self) -> set[str]:
        """Files under /etc/containerd created, removed or changed since prepare."""
        before, now = _sums(self.before()["files"]), self.file_sums()
        return {path for path in before.keys() | now.keys() if before.get(path) != now.get(path)}

    def containerd_started(self) -> str:
        return self.run("systemctl show containerd --property=ExecMainStartTimestampMonotonic --value").strip()

    # --- containerd and Spegel ------------------------------------------------------

    def effective_config(self) -> dict:
        """`containerd config dump` on the node: imports merged, 2.x migrated to v3."""
        return tomllib.loads(self.run("containerd config dump"))

    def registry_settings(self) -> dict:
        return effective_registry_settings(self.effective_config())

    def hosts_toml(self, registry: str = "_default") -> dict:
        path = f"{HOSTS_DIR}/{registry}/hosts.toml"
        file = self.host.file(path)
        assert file.exists, f"{self.name}: {path} is missing"
        return tomllib.loads(file.content_string)

    @functools.cached_property
    def fleet(self) -> Fleet:
        return Fleet.load(self.vars["fleet_name"])

    def wait_until_spegel_finds(self, manifest: str) -> None:
        """Wait until Spegel on this node runs and finds peers with the test image. The
        records of the seed's content that Spegel 0.7.3 kept on peers that restarted since
        (every test node restarts with containerd in converge) are gone until the seed
        announces again, which it does when it starts: after 45 s without a peer, the
        seed's Spegel is restarted once (said in the test summary), and the wait goes on."""
        node = self.fleet.find_node(self.name)
        try:
            wait_until_spegel_finds(node, manifest, timeout=45)
        except FleetError as missed:
            warnings.warn(f"{self.name}: {missed}; the seed's Spegel restarted to announce the test image again")
            run(ssh_command(self.fleet, self.fleet.seed_node(), ["systemctl", "restart", "spegel"]))
            wait_until_spegel_finds(node, manifest)

    def spegel_requests(self, since: float) -> list[dict]:
        """What Spegel on this node answered since `since` (its access log)."""
        return spegel_requests(self.fleet, self.fleet.find_node(self.name), since)

    def served_by(self, digest: str, since: float) -> list[str]:
        """The peers whose Spegel served `digest` to this node's Spegel since `since`."""
        return served_by(self.fleet, self.fleet.find_node(self.name), digest, since)


def _sums(lines: list[str]) -> dict[str, str]:
    """sha256sum output lines ("<sum>  <path>") -> {path: sum}."""
    return {line[66:]: line[:64] for line in lines if line}


def other_changes(node: FleetNode) -> set[str]:
    """Changed files that are neither config.toml (and its copies) nor under the hosts dir."""
    return {
        path for path in node.changed_files()
        if path != CONFIG_FILE and not CONFIG_COPIES.match(path) and not path.startswith(HOSTS_DIR + "/")
    }
