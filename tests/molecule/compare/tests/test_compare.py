# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What `spegel configuration` (Spegel's Helm init container) and the collection each
leave on a node whose certs.d holds a user's registry (see ../molecule.yml)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
# pylint: disable=wrong-import-position
from node_checks import HOSTS_DIR, FleetNode  # noqa: E402

testinfra_hosts = ["all"]
USER_DIR = f"{HOSTS_DIR}/registry.corp.example"
BACKUP_DIR = f"{HOSTS_DIR}/_backup/registry.corp.example"


@pytest.fixture(scope="module")
def node(host):
    return FleetNode(host)


def by_spegel(node) -> bool:
    return node.vars["configure_with"] == "spegel"


def test_the_users_registry_stays_only_with_the_collection(node):
    user_files = {name: node.host.file(f"{USER_DIR}/{name}") for name in ("hosts.toml", "ca.crt")}
    if by_spegel(node):
        assert not node.host.file(USER_DIR).exists, f"{node.name}: spegel configuration kept {USER_DIR}"
        for name in user_files:
            assert node.host.file(f"{BACKUP_DIR}/{name}").exists, f"{node.name}: {name} not in _backup"
    else:
        assert all(file.exists for file in user_files.values())
        assert "(the corporate CA, as the user installed it)" in user_files["ca.crt"].content_string
        assert not node.host.file(f"{HOSTS_DIR}/_backup").exists
        # The directory shadows _default for its registry, so Spegel goes first there too.
        registry = node.hosts_toml("registry.corp.example")
        assert list(registry["host"]) == [node.mirror_url, "https://registry.corp.example"]
        assert registry["host"]["https://registry.corp.example"]["ca"] == f"{USER_DIR}/ca.crt"


def test_both_write_spegel_first_in_default(node):
    assert list(node.hosts_toml()["host"]) == [node.mirror_url]


def test_only_the_collection_makes_containerd_read_the_files(node):
    config_path = node.registry_settings()["config_path"]
    if by_spegel(node):
        assert config_path == "", f"{node.name}: spegel configuration set config_path {config_path!r}"
    else:
        assert config_path == HOSTS_DIR
