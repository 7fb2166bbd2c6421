# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Nodes readied by the user data script alone (see ../molecule.yml): Spegel on their own IP,
a CRI pull served by a peer, a second run that does nothing, and a refusal that writes nothing.

The fleet is reached through its command-line tools only (tests/fleet/fleet.py served-by,
tests/cri/cri.py), as an operator would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

TESTS = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(TESTS / "containerd"))
# pylint: disable=wrong-import-position
from harness import effective_registry_settings  # noqa: E402

SCRIPT = "/var/lib/cloud/instance/scripts/part-001"
CONFIG = "/etc/containerd/config.toml"
SETTINGS = "/etc/peerpull-spegel/bake.json"
UNIT = "peerpull-spegel-hosts.service"
# Everything the script writes, for the refusal's before/after.
WRITTEN = "/etc/containerd /etc/peerpull-spegel /usr/local/lib/peerpull-spegel /etc/systemd/system"


def on(host, command: str) -> str:
    result = host.run(command)
    assert result.rc == 0, f"`{command}` failed ({result.rc}): {result.stderr}"
    return result.stdout


def tool(*argv: str) -> str:
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


def test_hosts_toml_points_at_spegel_on_the_nodes_ip(host):
    variables = host.ansible.get_variables()
    ip = variables["fleet_node_ipv4"]  # dual-stack: IPv4 first, as Spegel's node IP
    hosts = tomllib.loads(host.file("/etc/containerd/certs.d/_default/hosts.toml").content_string)
    assert list(hosts["host"]) == [f"http://{ip}:30020"]
    assert hosts["host"][f"http://{ip}:30020"] == {"capabilities": ["pull", "resolve"], "dial_timeout": "200ms"}


def test_containerd_reads_config_path_and_keeps_layers(host):
    dump = tomllib.loads(on(host, "containerd config dump"))
    assert effective_registry_settings(dump) == {"config_path": "/etc/containerd/certs.d",
                                                 "discard_unpacked_layers": False}
    version = tomllib.loads(host.file(CONFIG).content_string)["version"]
    # Debian's file stays version 2 on every containerd; without one, 2.4 gets its own layout.
    image_without_config = host.ansible.get_variables().get("userdata_image_without_config", False)
    assert version == (4 if image_without_config else 2)


def test_the_boot_step_is_enabled_for_later_boots(host):
    assert on(host, f"systemctl is-enabled {UNIT}").strip() == "enabled"
    assert on(host, f"systemctl show {UNIT} --property=Result --value").strip() == "success"


def test_a_cri_pull_is_served_by_a_peers_spegel(host):
    variables = host.ansible.get_variables()
    fleet, node = variables["fleet_name"], variables["inventory_hostname"]
    image, layer = variables["fleet_test_image"], variables["fleet_test_image_layer"]
    cri = [str(TESTS / "cri" / "cri.py"), "--fleet", fleet, "--node", node]
    tool(*cri, "remove", image)
    since = time.time() - 1
    pulled = json.loads(tool(*cri, "pull", image))  # retried as kubelet retries
    for attempt in pulled["failed_attempts"]:
        print(f"{node}: a pull attempt failed before one succeeded: {attempt}")
    peers = tool(str(TESTS / "fleet" / "fleet.py"), "served-by", "--name", fleet, node, layer,
                 "--since", str(since)).split()
    assert peers and node.rsplit("-", 1)[-1] not in peers, f"{node}: the layer was served by {peers}"


def test_a_second_run_changes_nothing_and_restarts_nothing(host):
    started = on(host, "systemctl show containerd --property=ExecMainStartTimestampMonotonic --value")
    result = host.run(f"env -i {SCRIPT}")
    assert result.rc == 0, result.stderr
    assert "changed: nothing" in result.stderr
    assert on(host, "systemctl show containerd --property=ExecMainStartTimestampMonotonic --value") == started


def test_a_config_it_was_not_rendered_for_is_refused_and_nothing_is_written(host):
    sums = f"find {WRITTEN} -type f -print0 | sort -z | xargs -0 sha256sum"
    on(host, f"cp -p {CONFIG} /run/config.toml.kept && cp -p {SETTINGS} /run/bake.json.kept")
    try:
        # Someone changed the file after the script was rendered; the boot step's settings
        # are gone, so a run that wrote anything would bring them back.
        on(host, f"echo '# edited' >> {CONFIG} && rm {SETTINGS}")
        before = on(host, sums)
        result = host.run(f"env -i {SCRIPT}")
        assert result.rc == 1
        assert "is not the file this script was rendered for" in result.stderr
        assert "Nothing was changed." in result.stderr
        assert on(host, sums) == before
        assert not host.file(SETTINGS).exists
    finally:
        on(host, f"mv /run/config.toml.kept {CONFIG} && mv /run/bake.json.kept {SETTINGS}")
