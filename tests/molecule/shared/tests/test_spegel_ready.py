# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Verify, on every node of a layout scenario, what the collection promises.

Per-node expectations come from the scenario's host variables (molecule.yml):
  expect_config_change  false: config.toml must stay byte for byte and containerd must
                        not restart; only hosts.toml may change (default true)
  seed_cri_loaded       false: the seed disables CRI (Docker's containerd.io) (default true)
  expect_config_lines   lines config.toml must still hold after converge
  expect_dump           [{key: [segments], value: v}] the effective config must show
  expect_hosts          {registry: [host URLs]}: the first hosts of that registry's
                        hosts.toml, in order; "spegel" stands for the node's mirror URL
  known_bugs            {test name: the bug}: that test is a strict xfail on this node, so
                        the bug stays visible and the mark must go once it is fixed
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from node_checks import CONFIG_FILE, HOSTS_DIR, FleetNode, other_changes  # noqa: E402

testinfra_hosts = ["all"]


@pytest.fixture(scope="module")
def node(host):
    return FleetNode(host)


@pytest.fixture(scope="session")
def verify_run(tmp_path_factory):
    """The collection's own verify playbook, run once over the scenario's nodes: its JSON report
    and its output (the readiness table)."""
    report = tmp_path_factory.mktemp("verify") / "report.json"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--inventory", str(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"),
            "--extra-vars", f"spegel_verify_report={report}",
            "peerpull.spegel.verify",
        ],
        capture_output=True, text=True, check=False,
    )
    assert report.exists(), f"peerpull.spegel.verify wrote no report (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    return json.loads(report.read_text()), result.stdout


@pytest.fixture(scope="session")
def verify_report(verify_run):
    return verify_run[0]


@pytest.fixture(autouse=True)
def known_bug(request, node):
    bug = node.vars.get("known_bugs", {}).get(request.node.originalname)
    if bug:
        request.node.add_marker(pytest.mark.xfail(reason=f"{node.name}: {bug}", strict=True))


def test_check_mode_predicted_what_converge_did(node):
    predicted, changed = node.prediction(), node.changed_files()
    done = {
        "config_changed": CONFIG_FILE in changed,
        "hosts_changed": any(path.startswith(HOSTS_DIR + "/") for path in changed),
    }
    assert predicted == done, f"{node.name}: check mode predicted {predicted}, converge changed {sorted(changed)}"


def test_config_changes_only_where_the_layout_needs_it(node):
    expected = node.vars.get("expect_config_change", True)
    changed = CONFIG_FILE in node.changed_files()
    assert changed == expected, f"{node.name} ({node.vars['seed']}): config.toml changed={changed}, expected {expected}"


def test_hosts_toml_written(node):
    assert any(path.startswith(HOSTS_DIR + "/") for path in node.changed_files()), f"{node.name}: no hosts.toml written"


def test_nothing_else_under_etc_containerd_changed(node):
    assert not other_changes(node)


def test_containerd_restarted_only_when_its_config_changed(node):
    restarted = node.containerd_started() != node.before()["containerd_started"]
    config_changed = CONFIG_FILE in node.changed_files()
    assert restarted == config_changed, f"{node.name}: restarted={restarted}, config.toml changed={config_changed}"


def test_config_toml_keeps_the_distribution_settings(node):
    text = node.host.file(CONFIG_FILE).content_string
    for line in node.vars.get("expect_config_lines", []):
        assert line in text.splitlines(), f"{node.name}: {CONFIG_FILE} lost the line {line!r}"


def test_effective_config_is_ready_for_spegel(node):
    dump = node.effective_config()
    assert node.registry_settings() == {"config_path": HOSTS_DIR, "discard_unpacked_layers": False}
    for expected in node.vars.get("expect_dump", []):
        value = dump
        for segment in expected["key"]:
            value = value.get(segment, {}) if isinstance(value, dict) else {}
        assert value == expected["value"], f"{node.name}: effective {'.'.join(expected['key'])} = {value!r}"


def test_hosts_toml_points_at_spegel_on_this_node(node):
    default = node.hosts_toml()
    assert "server" not in default
    assert list(default["host"]) == [node.mirror_url]
    assert default["host"][node.mirror_url] == {"capabilities": ["pull", "resolve"], "dial_timeout": "200ms"}
    for registry, urls in node.vars.get("expect_hosts", {}).items():
        expected = [node.mirror_url if url == "spegel" else url for url in urls]
        hosts = list(node.hosts_toml(registry)["host"])
        assert hosts[: len(expected)] == expected, f"{node.name}: {registry}/hosts.toml hosts {hosts}"


def test_verify_playbook_says_ready(node, verify_report):
    readiness = verify_report[node.name]
    assert readiness["ready"], f"{node.name}: peerpull.spegel.verify says {readiness}"


def test_verify_table_shows_the_node_ready(node, verify_run):
    """The table at the end of the run: the header, then this node's row, ready and every check ok."""
    output = verify_run[1]
    assert re.search(r"NODE +READY +config +restarted +cri +hosts_toml +mirror", output), output
    assert re.search(rf"\b{re.escape(node.name)} +yes(  +ok){{5}}\b", output), f"{node.name} not ready in:\n{output}"


def test_cri_was_loaded_as_the_seed_says_and_is_now(node):
    assert node.before()["cri_loaded"] == node.vars.get("seed_cri_loaded", True)
    with node.cri() as cri:
        assert cri.status()["RuntimeReady"], f"{node.name}: CRI runtime not ready"


def test_cri_pull_is_served_by_spegel_peer_to_peer(node):
    """kubelet's path: CRI PullImage of a docker.io image that only the fleet's seed node
    holds. No registry exists and the nodes have no way out, so the pull can only succeed
    through the hosts.toml the collection wrote and Spegel fetching from a peer; both
    Spegel access logs must show it."""
    image, digest, layer = (node.vars[key] for key in (
        "fleet_test_image", "fleet_test_image_digest", "fleet_test_image_layer"))
    node.wait_until_spegel_finds(digest)
    with node.cri() as cri:
        cri.remove_image(image)  # RemoveImage deletes its content too: the pull fetches it all
        assert cri.image_status(image) is None
        since = time.time() - 1  # journalctl --since has whole seconds
        attempts = cri.pull_image_as_kubelet(image)
        status = cri.image_status(image)
    assert None in attempts, f"{node.name}: every pull failed: {attempts}"
    if len(attempts) > 1:  # in the test summary: how often a retry was needed, and why
        warnings.warn(f"{node.name}: the pull succeeded at attempt {len(attempts)}; before: {attempts[:-1]}")
    assert status and f"{image.rsplit(':', 1)[0]}@{digest}" in status["repo_digests"], status

    mirrored = {(r["method"], r["path"]) for r in node.spegel_requests(since)
                if r["handler"] == "mirror" and r["status"] == 200 and r["ip"] == node.mirror_ip}
    repository = image.split("/", 1)[1].rsplit(":", 1)[0]
    assert ("GET", f"/v2/{repository}/blobs/{layer}") in mirrored, (
        f"{node.name}: containerd did not fetch the layer through Spegel on {node.mirror_ip}: {mirrored}")
    assert node.served_by(layer, since), f"{node.name}: no peer's Spegel logged serving {layer}"
