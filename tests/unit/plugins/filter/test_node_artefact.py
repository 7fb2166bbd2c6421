# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The node_artefact filter: what each distribution gets, and what it refuses.

Whether the artefacts work is judged by real containerd in
tests/unit/plugins/plugin_utils/test_artefacts_containerd.py."""

from __future__ import annotations

import base64
import json
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.filter.node_artefact import FilterModule, node_artefact
from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import RENDERERS, distributions
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kinds import KINDS

SECRET = 'Basic c3BlZ2VsOnB3'
COLLECTION = Path(__file__).resolve().parents[4]


def files(artefact):
    return {item['name']: item for item in artefact['files']}


def test_the_filter_is_registered():
    assert FilterModule().filters() == {'node_artefact': node_artefact}


def test_kind_patch_is_spegels_e2e_patch():
    artefact = node_artefact('Kind')
    assert artefact['distribution'] == 'kind'
    patch = files(artefact)['containerd-config-patch.toml']
    assert patch['mode'] == '0644'
    assert tomllib.loads(patch['content']) == {
        'version': 2,
        'plugins': {'io.containerd.grpc.v1.cri': {'registry': {'config_path': '/etc/containerd/certs.d'},
                                                  'containerd': {'discard_unpacked_layers': False}},
                    'io.containerd.metadata.v1.bolt': {'content_sharing_policy': 'isolated'}}}
    cluster = yaml.safe_load(files(artefact)['kind-cluster.yaml']['content'])
    assert cluster == {'apiVersion': 'kind.x-k8s.io/v1alpha4', 'kind': 'Cluster',
                       'containerdConfigPatches': [patch['content']]}
    assert artefact['chart_values'] == {
        'spegel': {'containerdRegistryConfigPath': '/etc/containerd/certs.d', 'mirroredRegistries': [],
                   'resolveTags': True},
        'service': {'registry': {'nodePort': 30020}}}
    assert artefact['warnings'] == []


def test_roles_options_become_chart_values():
    artefact = node_artefact('kind', registries='docker.io, ghcr.io', ports='30021,30020', capabilities=['pull'],
                             dial_timeout='1s', hosts_dir='/etc/containerd/hosts.d', node_ip='198.18.0.5',
                             server={'docker.io': 'https://registry-1.docker.io'})
    assert artefact['chart_values']['spegel'] == {'containerdRegistryConfigPath': '/etc/containerd/hosts.d',
                                                  'mirroredRegistries': ['https://docker.io', 'https://ghcr.io'],
                                                  'resolveTags': False}
    assert artefact['chart_values']['service'] == {'registry': {'nodePort': 30021}}
    assert '/etc/containerd/hosts.d' in files(artefact)['containerd-config-patch.toml']['content']
    warnings = ' '.join(artefact['warnings'])
    for word in ('node_ip 198.18.0.5', 'first port, 30021', "dial_timeout = '200ms'", 'server'):
        assert word in warnings


def test_talos_part_and_documents():
    artefact = node_artefact('talos', use_local_image_pull=True)
    part = files(artefact)['20-customization.part']['content']
    assert tomllib.loads(part) == {'plugins': {'io.containerd.cri.v1.images': {
        'discard_unpacked_layers': False, 'use_local_image_pull': True,
        'registry': {'config_path': '/etc/cri/conf.d/hosts'}}}}
    assert not part.startswith('\n') and 'version' not in part
    assert set(files(artefact)) == {'20-customization.part', 'talos-machine-files-patch.yaml',
                                    'talos-cri-customization.yaml'}
    assert artefact['chart_values']['spegel']['containerdRegistryConfigPath'] == '/etc/cri/conf.d/hosts'
    assert any('pod-security.kubernetes.io/enforce=privileged' in note for note in artefact['notes'])


def test_k0s_dropin_and_chart_values():
    artefact = node_artefact('k0s', containerd_version='2.1.5')
    assert tomllib.loads(files(artefact)['spegel.toml']['content']) == {'version': 3, 'plugins': {
        'io.containerd.cri.v1.images': {'discard_unpacked_layers': False,
                                        'registry': {'config_path': '/etc/containerd/certs.d'}}}}
    spegel = artefact['chart_values']['spegel']
    assert spegel['containerdSock'] == '/run/k0s/containerd.sock'
    assert spegel['containerdContentPath'] == '/var/lib/k0s/containerd/io.containerd.content.v1.content'


def test_bottlerocket_mirrors():
    artefact = node_artefact('bottlerocket', node_ip='fd00:5e6e:9::5', ports=[30021, 30020],
                             registries=['_default', 'registry.example:5000'], dial_timeout='200ms')
    settings = tomllib.loads(files(artefact)['user-data.toml']['content'])
    urls = ['http://[fd00:5e6e:9::5]:30021', 'http://[fd00:5e6e:9::5]:30020']
    assert settings == {'settings': {'container-registry': {'mirrors': [
        {'registry': '*', 'endpoint': urls}, {'registry': 'registry.example:5000', 'endpoint': urls}]}}}
    assert artefact['chart_values']['spegel']['containerdMirrorAdd'] is False
    warnings = ' '.join(artefact['warnings'])
    assert 'sorted by URL' in warnings and 'dial_timeout' in warnings


def test_bottlerocket_urls_instead_of_the_node_ip():
    artefact = node_artefact('bottlerocket', urls=['http://198.18.0.5:30020'])
    assert '"http://198.18.0.5:30020"' in files(artefact)['user-data.toml']['content']
    assert artefact['warnings'] == []


@pytest.mark.parametrize('distribution', distributions())
@pytest.mark.parametrize('authorization', [SECRET, {'username': 'spegel', 'password': 'pw'}])
def test_a_secret_is_refused_and_never_echoed(distribution, authorization):
    with pytest.raises(AnsibleFilterError) as raised:
        node_artefact(distribution, authorization=authorization, node_ip='198.18.0.5')
    message = str(raised.value)
    assert 'authorization' in message and 'leave mirror_authorization empty' in message.lower()
    assert SECRET not in message and 'c3BlZ2Vs' not in message and "'pw'" not in message


@pytest.mark.parametrize('distribution, options, refusal', [
    ('debian', {}, r"distribution 'debian' has no artefact; use one of bottlerocket, cloud-init, k0s, k3s, kind, "
                   r"nodeadm, rke2, talos, user-data-script. Nothing was rendered."),
    ('containerd', {}, r"distribution 'containerd' has no artefact; use one of bottlerocket"),
    ('k3s', {'kind_options': {'role': 'worker'}},
     'kind_options for kind k3s: value of role must be one of: auto, server, agent, got: worker. Its options are: '
     'config_dir, role. Nothing was rendered.'),
    ('rke2', {'kind_options': {'path': '/etc/containerd/config.toml'}},
     'kind_options for kind rke2: unknown option path. Its options are: config_dir, role'),
    ('k0s', {'kind_options': {'role': 'server'}}, 'kind_options for kind k0s: unknown option role. Its options are: none'),
    ('k3s', {'kind_options': 'server'}, r'kind_options must be a mapping such as \{role: server\}, not a str'),
    ('talos', {'kind_options': {'role': 'server'}},
     'kind_options: the talos artefact takes none \\(only k3s, rke2 do\\); leave it unset'),
    ('k3s', {'kind_options': {'config_dir': 'etc/k3s'}}, 'kind_options.config_dir must be an absolute path'),
    ('k3s', {'urls': ['http://198.18.0.5:30020']}, 'Leave mirror_urls empty for k3s nodes'),
    ('kind', {'urls': ['http://198.18.0.5:30020']}, 'Leave mirror_urls empty and set ports'),
    ('kind', {'capabilities': ['pull', 'push']}, 'remove push'),
    ('kind', {'use_local_image_pull': True}, 'leave containerd_use_local_image_pull unset for Kind'),
    ('kind', {'ports': ['http']}, "mirror_ports: 'http' is not a port number"),
    ('kind', {'registries': 5}, 'mirror_registries must be a list, or a string of items'),
    ('kind', {'authorization': {'user': 'x'}}, 'mirror_authorization must be a header value'),
    ('kind', {'registries': ['docker.io/library']}, "Registry 'docker.io/library' is not valid"),
    ('kind', {'dial_timeout': 'soon'}, "dial_timeout must be a Go duration such as '200ms'"),
    ('kind', {'hosts_dir': 'certs.d'}, 'hosts_dir must be an absolute path'),
    ('talos', {'hosts_dir': '/etc/containerd/certs.d'}, 'leave hosts_dir unset \\(or /etc/cri/conf.d/hosts\\)'),
    ('k0s', {'containerd_version': '1.7.24'}, 'k0s before 1.36 merges drop-ins itself'),
    ('bottlerocket', {}, 'Set spegel_node_ip for the host \\(or mirror_urls\\)'),
    ('bottlerocket', {'node_ip': '127.0.0.1'}, 'loopback'),
    ('bottlerocket', {'node_ip': 'fd00::5', 'containerd_version': '1.7.24'}, 'use an IPv4 node IP'),
    ('bottlerocket', {'node_ip': '198.18.0.5', 'hosts_dir': '/etc/cri/conf.d/hosts'}, 'leave hosts_dir unset'),
    ('bottlerocket', {'node_ip': '198.18.0.5', 'use_local_image_pull': False}, 'Bottlerocket has no setting'),
])
def test_refusals_name_the_option_and_the_fix(distribution, options, refusal):
    with pytest.raises(AnsibleFilterError, match=refusal):
        node_artefact(distribution, **options)


def test_each_name_is_reached_one_way_and_the_users_lists_are_the_codes():
    """Renderer table and node kinds do not overlap; the docs' choices and the playbook's message
    list exactly what the filter takes."""
    assert not set(RENDERERS) & set(KINDS)
    assert set(distributions()) == set(RENDERERS) | {'k0s', 'k3s', 'nodeadm', 'rke2'}
    docs = yaml.safe_load((COLLECTION / 'plugins' / 'filter' / 'node_artefact.yml').read_text())
    assert docs['DOCUMENTATION']['options']['_input']['choices'] == distributions()
    playbook = yaml.safe_load((COLLECTION / 'playbooks' / 'artefacts.yml').read_text())
    message = playbook[0]['tasks'][0]['ansible.builtin.assert']['fail_msg']
    listed = message[message.index('(') + 1:message.index(')')].replace(' or ', ', ').split(', ')
    assert listed == distributions()


# What a distribution needs beyond the defaults, as its refusal names it.
NEEDS = {'bottlerocket': 'node_ip: .*Set spegel_node_ip for the host',
         'cloud-init': 'containerd_config: .*artefacts_containerd_config',
         'user-data-script': 'containerd_config: .*artefacts_containerd_config'}


@pytest.mark.parametrize('distribution', distributions())
def test_every_distribution_renders_from_defaults_or_names_what_it_needs(distribution):
    if distribution in NEEDS:
        with pytest.raises(AnsibleFilterError, match=NEEDS[distribution]):
            node_artefact(distribution)
        return
    artefact = node_artefact(distribution)
    assert artefact['distribution'] == distribution and artefact['files']
    assert all(item['content'] and item['mode'] in ('0600', '0644', '0755') for item in artefact['files'])
    assert artefact['warnings'] == []


def test_an_unknown_option_is_refused():
    with pytest.raises(AnsibleFilterError, match="unexpected keyword argument 'mirrors'"):
        node_artefact('kind', mirrors=['http://198.18.0.5:30020'])


# --- cloud-init -------------------------------------------------------------------------------

def cloud_init_files(artefact):
    """{path: bytes} of the user data's write_files, and the document."""
    text = files(artefact)['user-data.yaml']['content']
    assert text.startswith('#cloud-config\n')
    document = yaml.safe_load(text)
    written = {}
    for entry in document['write_files']:
        assert (entry['encoding'], entry['owner'], entry['permissions']) == ('b64', 'root:root', '0644')
        written[entry['path']] = base64.b64decode(entry['content'])
    return written, document


def test_cloud_init_installs_the_bakes_boot_step():
    artefact = node_artefact('cloud-init', containerd_config='', containerd_version='1.7.24',
                             registries=['docker.io'], server={'docker.io': 'https://mirror.example'},
                             node_ip='198.18.0.5')
    written, document = cloud_init_files(artefact)
    package = '/usr/local/lib/peerpull-spegel/ansible_collections/peerpull/spegel/plugins/'
    sources = yaml.safe_load((COLLECTION / 'roles/mirror/vars/main.yml').read_text())['mirror_boot_sources']
    assert sorted(path for path in written if path.startswith(package)) == sorted(package + s for s in sources)
    for source in sources:
        assert written[package + source] == (COLLECTION / 'plugins' / source).read_bytes()
    assert json.loads(written['/etc/peerpull-spegel/bake.json']) == {
        'hosts_dir': '/etc/containerd/certs.d', 'registries': ['docker.io'], 'ports': [30020], 'urls': [],
        'capabilities': ['pull', 'resolve'], 'dial_timeout': '200ms', 'server': {'docker.io': 'https://mirror.example'},
        'authorization': '', 'node_ip': '198.18.0.5', 'containerd_version': '1.7.24'}
    unit = written['/etc/systemd/system/peerpull-spegel-hosts.service'].decode()
    assert 'Before=containerd.service kubelet.service' in unit
    assert 'ExecStart=/usr/bin/python3 -m ansible_collections.peerpull.spegel.plugins.plugin_utils._boot_hosts ' \
           '/etc/peerpull-spegel/bake.json' in unit
    assert tomllib.loads(written['/etc/containerd/config.toml'].decode())['plugins']['io.containerd.grpc.v1.cri'] == {
        'registry': {'config_path': '/etc/containerd/certs.d'}, 'containerd': {'discard_unpacked_layers': False}}
    assert document['runcmd'] == [['systemctl', 'daemon-reload'],
                                  ['systemctl', 'enable', '--now', 'peerpull-spegel-hosts.service'],
                                  ['systemctl', 'try-restart', 'containerd.service']]
    assert artefact['chart_values']['spegel']['containerdMirrorAdd'] is False


def test_cloud_init_keeps_the_images_config_and_an_empty_dial_timeout():
    image = (COLLECTION / 'tests' / 'fixtures' / 'containerd' / 'eks-al2.toml').read_text()
    written, _document = cloud_init_files(node_artefact('cloud-init', containerd_config=image, dial_timeout=''))
    config = tomllib.loads(written['/etc/containerd/config.toml'].decode())
    assert config['imports'] == tomllib.loads(image)['imports']
    assert json.loads(written['/etc/peerpull-spegel/bake.json'])['dial_timeout'] == ''


@pytest.mark.parametrize('options, refusal', [
    ({}, "containerd_config: the user data replaces the image's /etc/containerd/config.toml"),
    ({'containerd_config': ''}, 'Set containerd_version'),
    ({'containerd_config': '', 'containerd_version': '2.1.5', 'server': {'ghcr.io': 'https://ghcr.example'}},
     r"server names registry 'ghcr.io', which is not in registries \(_default\)"),
    ({'containerd_config': '', 'containerd_version': '2.1.5', 'registries': ['docker.io'],
      'server': {'docker.io': 'https://bob:pa@S3cretPw@r.example'}}, 'credentials do not belong in the URL'),
    ({'containerd_config': '', 'containerd_version': '2.1.5', 'node_ip': '169.254.0.5'}, 'link-local'),
    ({'containerd_config': '', 'containerd_version': '1.7.24', 'use_local_image_pull': True},
     'use_local_image_pull exists only in config version 3 and 4'),
])
def test_cloud_init_refusals(options, refusal):
    with pytest.raises(AnsibleFilterError, match=refusal) as refused:
        node_artefact('cloud-init', **options)
    assert 'S3cretPw' not in str(refused.value)


def test_cloud_init_settings_have_the_bakes_keys():
    """The boot step reads the same settings file from the bake role and from cloud-init."""
    role_vars = yaml.safe_load((COLLECTION / 'roles' / 'mirror' / 'vars' / 'main.yml').read_text())
    written, _document = cloud_init_files(node_artefact('cloud-init', containerd_config='', containerd_version='2.1.5'))
    assert set(json.loads(written['/etc/peerpull-spegel/bake.json'])) == set(role_vars['mirror_boot_settings_data'])


# --- user data script ---------------------------------------------------------------------------
# Run on real containerd in a private mount namespace: tests/unit/plugins/plugin_utils/
# test_artefacts_containerd.py; on real systemd nodes with Spegel: the molecule scenario userdata.

FIXTURES = COLLECTION / 'tests' / 'fixtures' / 'containerd'


@pytest.mark.parametrize('options', [
    {'containerd_config': ''},
    {'containerd_config': '', 'containerd_version': '2.1.5', 'registries': 'docker.io ghcr.io', 'ports': '30020,30021',
     'server': {'docker.io': 'https://mirror.example'}, 'node_ip': '198.18.0.5', 'dial_timeout': ''},
    {'containerd_config': (FIXTURES / 'eks-al2.toml').read_text()},
    # No final newline, and a quote: printf of a quoted string instead of a here-document.
    {'containerd_config': "version = 2\n# the image's file"},
])
def test_user_data_script_is_posix_sh_and_shellcheck_clean(options, tmp_path):
    artefact = node_artefact('user-data-script', **options)
    script = files(artefact)['user-data.sh']
    assert (script['mode'], artefact['distribution']) == ('0755', 'user-data-script')
    assert script['content'].startswith('#!/bin/sh\n')
    path = tmp_path / 'user-data.sh'
    path.write_text(script['content'])
    checkers = (['sh', '-n'], ['dash', '-n'], ['bash', '--posix', '-n'], ['shellcheck', '--shell=sh', '--severity=style'])
    for argv in checkers:
        checked = subprocess.run(argv + [str(path)], capture_output=True, text=True, timeout=60, check=False)
        assert checked.returncode == 0, '%s: %s' % (argv[0], checked.stdout + checked.stderr)
    assert artefact['chart_values']['spegel']['containerdMirrorAdd'] is False


def test_user_data_script_carries_one_config_per_layout_only_where_they_differ():
    none = files(node_artefact('user-data-script', containerd_config=''))['user-data.sh']['content']
    assert [line.strip() for line in none.splitlines() if line.startswith('version = ')] == [
        'version = 2', 'version = 3', 'version = 4']
    debian = files(node_artefact('user-data-script', containerd_config=(FIXTURES / 'default-1.7.toml').read_text()))
    assert [line for line in debian['user-data.sh']['content'].splitlines() if line.startswith('version = ')] == [
        'version = 2']
    pinned = files(node_artefact('user-data-script', containerd_config='', containerd_version='1.7.24'))
    assert 'this script was rendered for containerd 1.7.24 only' in pinned['user-data.sh']['content']


def test_user_data_script_refuses_at_run_time_what_one_layout_cannot_take():
    """use_local_image_pull has no key in a containerd 1.x file: the script refuses 1.x nodes
    with the engine's message, and configures 2.x ones."""
    artefact = node_artefact('user-data-script', containerd_config='', use_local_image_pull=True)
    content = files(artefact)['user-data.sh']['content']
    assert "containerd $version (1.x): /etc/containerd/config.toml: use_local_image_pull exists only" in content
    assert 'use_local_image_pull = true' in content


@pytest.mark.parametrize('distribution', ['cloud-init', 'user-data-script'])
@pytest.mark.parametrize('options, refusal', [
    ({}, "containerd_config: the user data replaces the image's /etc/containerd/config.toml"),
    ({'containerd_config': (FIXTURES / 'default-1.7.toml').read_text(), 'use_local_image_pull': True},
     'use_local_image_pull exists only in config version 3 and 4'),
    ({'containerd_config': (FIXTURES / 'gke.toml').read_text(), 'containerd_version': '1.7.24'},
     'holds legacy registry mirrors or configs.<host>.tls \\(docker.io\\)'),
    ({'containerd_config': '', 'containerd_version': '2.1.5', 'server': {'ghcr.io': 'https://ghcr.example'}},
     r"server names registry 'ghcr.io', which is not in registries \(_default\)"),
])
def test_user_data_refusals(distribution, options, refusal):
    with pytest.raises(AnsibleFilterError, match=refusal):
        node_artefact(distribution, **options)
