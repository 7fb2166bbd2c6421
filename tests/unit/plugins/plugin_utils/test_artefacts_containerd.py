# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The node artefacts' own content: kind's merge rule, Talos's documents, Bottlerocket's
settings as thar-be-registries writes them. Judged by real containerd, cloud-init and
k0s's rules: tests/real/plugins/plugin_utils/test_artefacts_containerd.py."""

from __future__ import annotations

import tomllib

import yaml

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import node_artefact
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_merge import merge_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import default_server

from _artefacts_containerd_cases import FIXTURES, KIND_BASE, bottlerocket_hosts, files, kind_patched  # this directory


def test_kind_merge_skips_a_patch_of_another_version():
    v3_patch = 'version = 3\n[plugins."io.containerd.cri.v1.images"]\ndiscard_unpacked_layers = false\n'
    assert kind_patched(KIND_BASE, [v3_patch]) == tomllib.loads(KIND_BASE)


def test_talos_documents_carry_the_part():
    artefact = node_artefact('talos')
    part = files(artefact)['20-customization.part']
    machine = yaml.safe_load(files(artefact)['talos-machine-files-patch.yaml'])
    assert machine['machine']['files'] == [{'path': '/etc/cri/conf.d/20-customization.part', 'op': 'create',
                                            'permissions': machine['machine']['files'][0]['permissions'],
                                            'content': part}]
    document = yaml.safe_load(files(artefact)['talos-cri-customization.yaml'])
    assert document == {'apiVersion': 'v1alpha1', 'kind': 'CRICustomizationConfig', 'name': 'spegel', 'content': part}
    # The legacy fixture of the part holds the same settings, but for config_path.
    assert tomllib.loads(part)['plugins']['io.containerd.cri.v1.images']['discard_unpacked_layers'] is False
    assert tomllib.loads((FIXTURES / 'talos-part.toml').read_text()) == {
        'plugins': {'io.containerd.cri.v1.images': {'discard_unpacked_layers': False}}}


def test_bottlerocket_files_hold_what_the_mirror_role_writes():
    settings = files(node_artefact('bottlerocket', node_ip='198.18.0.5', registries=['_default', 'docker.io'],
                                   ports=[30020, 30021], dial_timeout=''))['user-data.toml']
    written = bottlerocket_hosts(settings)
    assert set(written) == {'_default', 'docker.io'}
    hosts = [{'url': 'http://198.18.0.5:%d' % port, 'capabilities': ['pull', 'resolve']} for port in (30020, 30021)]
    for registry, text in written.items():
        ours = merge_registry('', 'f', registry, default_server(registry), hosts)
        assert tomllib.loads(text) == tomllib.loads(ours)
