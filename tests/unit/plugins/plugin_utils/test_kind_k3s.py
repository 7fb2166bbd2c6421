# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The k3s and rke2 adapter: plans, refusals, diffs, artefacts and revert. Its files judged by
k3s's own parsers (wharfie, built with Go): tests/real/plugins/plugin_utils/test_kind_k3s.py.
"""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import Options, node_artefact
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k3s import (
    K3sError, K3sKind, Rke2Kind, redact_yaml_secrets,
)

from _kind_k3s_cases import K3S_DROPIN, K3S_REGISTRIES, applied, changed, fixture, node  # this directory


def test_former_server_turned_agent_loses_the_dropin():
    kind = K3sKind()
    files = {K3S_DROPIN: 'embedded-registry: true\n', K3S_REGISTRIES: fixture('registries-spegel-docs.yaml')}
    plan = kind.plan(Options(registries=['docker.io']), node(kind, files, ['k3s-agent'], [K3S_DROPIN]))
    assert [(change.path, change.after) for change in plan.changes] == [(K3S_DROPIN, None)]


def test_rke2_ships_both_units_so_the_enabled_one_decides():
    kind = Rke2Kind()
    # Both unit files are on every rke2 node (the tarball); only the wants link tells.
    plan = kind.plan(Options(), node(kind, units=['rke2-server']))
    assert plan.facts['role'] == 'server'


@pytest.mark.parametrize('units, found', [((), 'neither k3s nor k3s-agent is enabled'),
                                          (('k3s', 'k3s-agent'), 'both k3s and k3s-agent are enabled')])
def test_unknown_role_is_refused_and_the_option_decides(units, found):
    kind = K3sKind()
    with pytest.raises(K3sError, match='kind_options.role: %s.*set kind_options.role to server or agent' % found):
        kind.plan(Options(), node(kind, units=units))
    assert K3sKind(role='agent').plan(Options(), node(kind, units=units)).facts['role'] == 'agent'
    assert K3sKind(role='server').services == ('k3s',)


@pytest.mark.parametrize('text, message', [
    (fixture('registries-flow.yaml'), 'mirrors is written on one line .*write it as a block'),
    ('mirrors:\n\t docker.io:\n', 'is not YAML that can be read here'),
    ('- docker.io\n', 'read this file as a mapping .* it holds a list'),
    ('mirrors:\n  - docker.io\n', 'mirrors is a list; it must be a mapping'),
    ('configs: {}\n  mirrors:\n', 'is not YAML'),
    ('? mirrors\n: {docker.io: }\n', 'the key mirrors is not written at the start of one line'),
    ('mirrors: &m\n  docker.io:\nother: *m\n', 'mirrors is written on one line \\(&m\\)'),
    ('mirrors:\n  {docker.io: }\n', 'cannot be edited safely .*add "ghcr.io" under mirrors by hand'),
])
def test_shapes_it_cannot_edit_are_refused_naming_the_file(text, message):
    kind = K3sKind()
    with pytest.raises(K3sError, match=message) as refused:
        kind.plan(Options(registries=['ghcr.io']), node(kind, {K3S_REGISTRIES: text}, ['k3s']))
    assert K3S_REGISTRIES in str(refused.value)


# --- the drop-in -------------------------------------------------------------------------------

def test_a_later_dropin_switching_it_off_is_refused_an_earlier_one_is_overridden():
    kind = K3sKind()
    later = '/etc/rancher/k3s/config.yaml.d/zz-site.yaml'
    earlier = '/etc/rancher/k3s/config.yaml.d/10-site.yaml'
    with pytest.raises(K3sError, match='zz-site.yaml: embedded-registry: False is read after .*spegel.yaml'):
        kind.plan(Options(), node(kind, {later: 'embedded-registry: false\n'}, ['k3s'], [later]))
    plan = kind.plan(Options(), node(kind, {earlier: 'embedded-registry: false\n'}, ['k3s'], [earlier]))
    assert K3S_DROPIN in changed(plan)


# --- options the embedded Spegel cannot carry --------------------------------------------------

@pytest.mark.parametrize('options, message', [
    ({'authorization': 'Basic dXNlcjpub3QtcmVhbA=='}, 'authorization: .*client certificate'),
    ({'urls': ['http://10.0.0.1:30020']}, 'urls: .*Leave mirror_urls empty'),
    ({'capabilities': ['pull', 'push']}, 'capabilities: .*read-only; remove push'),
    ({'use_local_image_pull': True}, 'use_local_image_pull: .*config.toml.tmpl'),
])
def test_options_it_cannot_carry_are_refused(options, message):
    kind = K3sKind()
    with pytest.raises(K3sError, match=message) as refused:
        kind.plan(Options(**options), node(kind, units=['k3s']))
    assert 'dXNlcjpub3QtcmVhbA' not in str(refused.value)
    with pytest.raises(K3sError, match=message):
        kind.artefact(Options(**options))


def test_options_it_does_not_use_are_named_in_a_warning():
    plan = Rke2Kind().plan(Options(ports=[30021], dial_timeout='1s', node_ip='10.0.0.5'),
                           node(Rke2Kind(), units=['rke2-agent']))
    assert plan.warnings == ['rke2 nodes: not used by the embedded Spegel: ports (the embedded Spegel serves on '
                             '9345 and peers on 5001); dial_timeout; node_ip.']
    assert not K3sKind().plan(Options(), node(K3sKind(), units=['k3s'])).warnings
    local = K3sKind().plan(Options(registries=['localhost:5000', '127.0.0.1:5000', 'docker.io']),
                           node(K3sKind(), units=['k3s']))
    assert local.warnings == ["registries: k3s's embedded Spegel skips localhost registries (localhost:5000, "
                              "127.0.0.1:5000); their images are not shared between nodes."]


# --- diffs and artefacts -----------------------------------------------------------------------

def test_diffs_mask_every_credential():
    text = (fixture('registries-auth.yaml') + fixture('registries-configs-only.yaml')
            + '    endpoint: ["https://bot:s3cr3t-url@mirror.example.com"]\n# old password: s3cr3t-comment\n')
    shown = K3sKind().redact(K3S_REGISTRIES, text)
    for secret in ('hunter2', 'eyJhbGciOi', 'Ym90OmZha2U', 's3cr3t'):
        assert secret not in shown
    assert shown.count('"********"') == 3
    assert 'username: xxxxxx' in shown and 'ca_file: /etc/ssl/mycustomreg/ca.pem' in shown
    masked = yaml.safe_load(K3sKind().redact(K3S_REGISTRIES, fixture('registries-auth.yaml')))['configs']
    assert masked['mycustomreg.com:5000']['auth']['password'] == masked['registry.example.com']['auth'][
        'identity_token'] == '********'
    assert redact_yaml_secrets('') == ''


def test_node_artefact_takes_the_kinds_options():
    agent = node_artefact('k3s', kind_options={'role': 'agent'})
    assert [item['name'] for item in agent['files']] == ['registries.yaml']
    assert agent == K3sKind(role='agent').artefact(Options())
    moved = node_artefact('rke2', kind_options={'role': 'server', 'config_dir': '/srv/rke2'})
    assert [item['description'].split(': ')[1].split(' ')[0] for item in moved['files']] == [
        '/srv/rke2/config.yaml.d/spegel.yaml', '/srv/rke2/registries.yaml']


def test_node_artefact_refuses_authorization_and_never_echoes_it():
    with pytest.raises(K3sError, match='authorization: .*client certificate') as refused:
        node_artefact('k3s', authorization='Basic dXNlcjpub3QtcmVhbA==')
    assert 'dXNlcjpub3QtcmVhbA' not in str(refused.value)


def test_kinds_say_what_the_seam_needs():
    assert K3sKind.writes_hosts_toml is False and Rke2Kind.writes_hosts_toml is False
    assert 'config.toml' in K3sKind().refusal and 'rke2' in Rke2Kind().refusal
    assert K3sKind().services == ()


def test_config_dir_moves_both_files():
    kind = Rke2Kind(role='server', config_dir='/srv/rke2')
    plan = kind.plan(Options(), node(kind))
    assert sorted(changed(plan)) == ['/srv/rke2/config.yaml.d/spegel.yaml', '/srv/rke2/registries.yaml']
    with pytest.raises(SpegelError, match='kind_options.config_dir must be an absolute path such as /etc/rancher/rke2'):
        Rke2Kind(config_dir='etc/rke2').reads(None)


# --- revert() ----------------------------------------------------------------------------------

def files_of(state):
    return {path: item.text for path, item in state.files.items() if item.exists}


REVERT_REGISTRIES = ['docker.io', 'ghcr.io', '_default']


@pytest.mark.parametrize('registries_yaml', [
    None, 'registries-auth.yaml', 'registries-configs-only.yaml', 'registries-empty-mirrors.yaml',
    'registries-spegel-docs.yaml', 'registries-wide-indent.yaml', '# nothing yet\n', 'mirrors: # Spegel below\n',
    '---\n"mirrors":\n  docker.io: {}\n...\n', 'configs: {}\r\nmirrors:\r\n  quay.io:\r\n',
], ids=['absent', 'auth', 'configs-only', 'empty-mirrors', 'spegel-docs', 'wide-indent', 'comment-only',
        'mirrors-comment', 'document-markers', 'crlf'])
@pytest.mark.parametrize('kind_class, unit', [(K3sKind, 'k3s'), (Rke2Kind, 'rke2-agent')])
def test_revert_gives_back_the_files_byte_for_byte_and_is_idempotent(registries_yaml, kind_class, unit):
    kind = kind_class()
    registries = '/etc/rancher/%s/registries.yaml' % kind.program
    files = {}
    if registries_yaml is not None:
        files[registries] = fixture(registries_yaml) if registries_yaml.endswith('.yaml') else registries_yaml
    state = node(kind, files, [unit])
    configured = applied(kind, state, kind.plan(Options(registries=REVERT_REGISTRIES), state), [unit])
    assert files_of(configured) != files
    revert = kind.revert(Options(registries=REVERT_REGISTRIES), configured)
    assert revert.changes and all(change.restart for change in revert.changes)
    assert kind.services == (unit,)
    # The user's own empty docker.io entry (k3s's docs' shape) stays, and is named.
    assert [warning.split(' were left')[0] for warning in revert.warnings] == (
        ['%s: mirrors "docker.io"' % registries] if registries_yaml == 'registries-spegel-docs.yaml' else [])
    reverted = applied(kind, configured, revert, [unit])
    assert files_of(reverted) == files
    assert kind.revert(Options(registries=REVERT_REGISTRIES), reverted).changes == []


def test_revert_keeps_entries_and_a_dropin_written_otherwise():
    kind = K3sKind()
    mine = 'mirrors:\n  docker.io:\n  "ghcr.io":\n    endpoint: ["https://mirror.example"]\n  "quay.io":\n'
    dropin = 'embedded-registry: true\n'
    state = node(kind, {K3S_REGISTRIES: mine, K3S_DROPIN: dropin}, ['k3s'], [K3S_DROPIN])
    revert = kind.revert(Options(registries=['docker.io', 'ghcr.io', 'quay.io']), state)
    (change,) = revert.changes
    assert change.after == 'mirrors:\n  docker.io:\n  "ghcr.io":\n    endpoint: ["https://mirror.example"]\n'
    assert revert.facts['mirrors_removed'] == ['quay.io']
    kept, left = revert.warnings
    assert kept.startswith(K3S_REGISTRIES + ': mirrors "docker.io" were left')  # ghcr.io has settings
    assert left.startswith(K3S_DROPIN + ' is not what this collection writes')


def test_revert_of_a_layout_it_cannot_read_back_is_refused():
    kind = K3sKind()
    text = 'mirrors:\n  "ghcr.io":\n  other: |\n    "ghcr.io":\n'
    with pytest.raises(K3sError, match='registries.yaml: .*remove "ghcr.io" under mirrors by hand'):
        kind.revert(Options(registries=['ghcr.io']), node(kind, {K3S_REGISTRIES: text}, ['k3s']))


@pytest.mark.parametrize('kind_class, unit, dropin', [
    (K3sKind, 'k3s', True), (K3sKind, 'k3s-agent', False), (Rke2Kind, 'rke2-server', True),
    (Rke2Kind, 'rke2-agent', False)])
def test_verify_compares_the_enabled_units_start_with_the_files_of_its_role(kind_class, unit, dropin):
    kind = kind_class()
    state = node(kind, units=[unit])
    kind.plan(Options(registries=['docker.io']), state)
    etc = '/etc/rancher/%s' % kind.program
    assert kind.loaded_by(Options(), state) == (
        unit, ['%s/registries.yaml' % etc] + (['%s/config.yaml.d/spegel.yaml' % etc] if dropin else []), None)
