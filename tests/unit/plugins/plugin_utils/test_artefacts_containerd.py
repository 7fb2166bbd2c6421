# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The node artefacts' own content: kind's merge rule, Talos's documents, Bottlerocket's
settings as thar-be-registries writes them. Judged by real containerd, cloud-init and
k0s's rules: tests/real/plugins/plugin_utils/test_artefacts_containerd.py."""

from __future__ import annotations

import json
import tomllib

import jsonschema
import pytest
import yaml
from ruamel.yaml import YAML

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


# Talos's own JSON schema of its machine config (tests/fixtures/talos/README.md): 1.13's is the
# last to describe machine.files, 1.14's the first with CRICustomizationConfig.
TALOS_SCHEMAS = FIXTURES.parent / 'talos'


def talos_validator(version, definition=None):
    schema = json.loads((TALOS_SCHEMAS / ('config-%s.schema.json' % version)).read_text())
    if definition is not None:
        schema = {'$ref': '#/$defs/' + definition, '$defs': schema['$defs']}
    return jsonschema.Draft202012Validator(schema)


def talos_yaml(text):
    """As Talos's loader (go.yaml.in/yaml/v4, YAML 1.2) reads it: 0o644 is the integer 420."""
    return YAML(typ='safe', pure=True).load(text)


def test_talos_documents_pass_talos_schema():
    documents = files(node_artefact('talos'))
    patch = talos_yaml(documents['talos-machine-files-patch.yaml'])
    assert patch['machine']['files'][0]['permissions'] == 0o644
    # PyYAML (YAML 1.1) reads the string '0o644', which the schema's integer refuses.
    assert yaml.safe_load(documents['talos-machine-files-patch.yaml'])['machine']['files'][0]['permissions'] \
        == '0o644'
    # A patch is a partial v1alpha1 config; Talos 1.13's schema requires no key, so the whole
    # patch is checked, and each machine.files entry against its own definition too.
    talos_validator('v1.13.9').validate(patch)
    for entry in patch['machine']['files']:
        talos_validator('v1.13.9', 'v1alpha1.MachineFile').validate(entry)
    # 1.14's schema no longer describes machine.files (deprecated; its loader still reads them).
    assert not talos_validator('v1.14.0-rc.1').is_valid(patch)
    document = talos_yaml(documents['talos-cri-customization.yaml'])
    talos_validator('v1.14.0-rc.1').validate(document)
    talos_validator('v1.14.0-rc.1', 'cri.CRICustomizationConfigV1Alpha1').validate(document)


@pytest.mark.parametrize('field, value, message', [
    ('op', 'replace', "'replace' is not one of"),
    ('permissions', '0o644', "'0o644' is not of type 'integer'"),  # PyYAML's reading of 0o644
    ('mode', 420, "Additional properties are not allowed \\('mode' was unexpected\\)"),
])
def test_talos_schema_refuses_a_broken_machine_file(field, value, message):
    patch = talos_yaml(files(node_artefact('talos'))['talos-machine-files-patch.yaml'])
    patch['machine']['files'][0][field] = value
    with pytest.raises(jsonschema.ValidationError):
        talos_validator('v1.13.9').validate(patch)
    with pytest.raises(jsonschema.ValidationError, match=message):
        talos_validator('v1.13.9', 'v1alpha1.MachineFile').validate(patch['machine']['files'][0])


@pytest.mark.parametrize('field', ['apiVersion', 'kind', 'name'])
def test_talos_schema_refuses_a_customization_without_a_required_field(field):
    document = talos_yaml(files(node_artefact('talos'))['talos-cri-customization.yaml'])
    del document[field]
    with pytest.raises(jsonschema.ValidationError, match="'%s' is a required property" % field):
        talos_validator('v1.14.0-rc.1', 'cri.CRICustomizationConfigV1Alpha1').validate(document)


def test_bottlerocket_files_hold_what_the_mirror_role_writes():
    settings = files(node_artefact('bottlerocket', node_ip='198.18.0.5', registries=['_default', 'docker.io'],
                                   ports=[30020, 30021], dial_timeout=''))['user-data.toml']
    written = bottlerocket_hosts(settings)
    assert set(written) == {'_default', 'docker.io'}
    hosts = [{'url': 'http://198.18.0.5:%d' % port, 'capabilities': ['pull', 'resolve']} for port in (30020, 30021)]
    for registry, text in written.items():
        ours = merge_registry('', 'f', registry, default_server(registry), hosts)
        assert tomllib.loads(text) == tomllib.loads(ours)
