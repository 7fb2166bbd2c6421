# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The k3s and rke2 adapter, its files judged by k3s's own parsers.

k3s itself is not on the Go module proxy (its release tags carry +k3sN, which Go refuses), so
no k3s binary runs here, and no fleet node runs k3s. The judge is `k3s-registries`
(tests/sources/gomod.py): wharfie v0.7.1's registries.GetPrivateRegistries, which k3s's and
rke2's agent calls to load registries.yaml (yaml.v2 into wharfie's Registry type), and the
yaml.v2 MapSlice reading k3s's configfilearg turns into flags.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import Options, node_artefact
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k3s import K3sKind, Rke2Kind

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'sources'))
import gomod  # noqa: E402  (tests/sources, put on sys.path just above)

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'plugin_utils'))
from _kind_k3s_cases import (  # noqa: E402  (tests/unit/plugins/plugin_utils, put on sys.path just above)
    K3S_DROPIN, K3S_REGISTRIES, applied, changed, fixture, node,
)


@pytest.fixture(scope='session')
def judge():
    """Run k3s's registries.yaml loader (or, with config=True, its config reader) on text."""
    binary = gomod.build('k3s-registries') / 'k3s-registries'

    def run(text, tmp_path, config=False):
        path = tmp_path / ('config.yaml' if config else 'registries.yaml')
        path.write_text(text)
        result = subprocess.run([str(binary)] + (['-config'] if config else []) + [str(path)],
                                capture_output=True, text=True, timeout=60, check=False)
        if result.returncode:
            raise AssertionError('k3s refuses %s: %s' % (path.name, result.stderr.strip()))
        return json.loads(result.stdout)
    return run


# --- servers and agents ------------------------------------------------------------------------

@pytest.mark.parametrize('kind_class, unit, etc', [(K3sKind, 'k3s', '/etc/rancher/k3s'),
                                                   (Rke2Kind, 'rke2-server', '/etc/rancher/rke2')])
def test_new_server_gets_the_dropin_and_every_registry(kind_class, unit, etc, judge, tmp_path):
    kind = kind_class()
    state = node(kind, units=[unit])
    plan = kind.plan(Options(registries=['_default', 'ghcr.io']), state)
    files = changed(plan)
    assert sorted(files) == ['%s/config.yaml.d/spegel.yaml' % etc, '%s/registries.yaml' % etc]
    assert all(change.restart for change in plan.changes)
    assert kind.services == (unit,)
    assert plan.facts['role'] == 'server'
    registries = files['%s/registries.yaml' % etc].after
    assert '"*":' in registries  # a bare * is a YAML alias: k3s documents the quotes
    assert judge(registries, tmp_path) == {'mirrors': {'*': {'endpoint': None, 'rewrite': None},
                                                       'ghcr.io': {'endpoint': None, 'rewrite': None}},
                                           'configs': None, 'auths': None}
    dropin = files['%s/config.yaml.d/spegel.yaml' % etc].after
    assert judge(dropin, tmp_path, config=True) == ['--embedded-registry=true']
    assert not kind.plan(Options(registries=['_default', 'ghcr.io']), applied(kind, state, plan, [unit])).changes


@pytest.mark.parametrize('kind_class, unit', [(K3sKind, 'k3s-agent'), (Rke2Kind, 'rke2-agent')])
def test_agent_gets_registries_only(kind_class, unit, judge, tmp_path):
    kind = kind_class()
    plan = kind.plan(Options(registries=['docker.io']), node(kind, units=[unit]))
    assert [change.path for change in plan.changes] == ['/etc/rancher/%s/registries.yaml' % kind.program]
    assert kind.services == (unit,)
    assert plan.facts['role'] == 'agent' and plan.facts['embedded_registry'] is None
    assert judge(plan.changes[0].after, tmp_path)['mirrors'] == {'docker.io': {'endpoint': None, 'rewrite': None}}


# --- the user's registries.yaml ----------------------------------------------------------------

def test_comments_credentials_and_endpoints_are_kept(judge, tmp_path):
    kind = K3sKind()
    before = fixture('registries-auth.yaml')
    state = node(kind, {K3S_REGISTRIES: before}, ['k3s-agent'])
    plan = kind.plan(Options(registries=['docker.io', 'ghcr.io', '_default']), state)
    after = changed(plan)[K3S_REGISTRIES].after
    # Only lines added, every line of the user's kept in order.
    assert [line for line in after.splitlines() if line not in ('  "ghcr.io":', '  "*":')] == before.splitlines()
    assert after.index('"ghcr.io"') < after.index('# credentials')
    judged_before, judged_after = judge(before, tmp_path), judge(after, tmp_path)
    assert judged_after['configs'] == judged_before['configs']
    assert judged_after['mirrors'] == dict(judged_before['mirrors'], **{
        'ghcr.io': {'endpoint': None, 'rewrite': None}, '*': {'endpoint': None, 'rewrite': None}})
    assert plan.facts['mirrors_added'] == ['ghcr.io', '*']
    assert not kind.plan(Options(registries=['docker.io', 'ghcr.io', '_default']),
                         applied(kind, state, plan, ['k3s-agent'])).changes


@pytest.mark.parametrize('name, inserted_before', [
    ('registries-configs-only.yaml', None),
    ('registries-empty-mirrors.yaml', '# the platform team'),
    ('registries-wide-indent.yaml', '# end of mirrors'),
])
def test_each_shape_gets_its_entries_in_place(name, inserted_before, judge, tmp_path):
    kind = K3sKind()
    before = fixture(name)
    plan = kind.plan(Options(registries=['quay.io']), node(kind, {K3S_REGISTRIES: before}, ['k3s-agent']))
    after = changed(plan)[K3S_REGISTRIES].after
    if inserted_before:
        assert after.index('"quay.io":') < after.index(inserted_before)
    if name == 'registries-wide-indent.yaml':
        assert '\n    "quay.io":\n' in after
    judged_before, judged_after = judge(before, tmp_path), judge(after, tmp_path)
    assert judged_after['mirrors'] == dict(judged_before['mirrors'] or {}, **{
        'quay.io': {'endpoint': None, 'rewrite': None}})
    assert judged_after['configs'] == judged_before['configs']


def test_crlf_file_stays_crlf(judge, tmp_path):
    kind = K3sKind()
    before = fixture('registries-spegel-docs.yaml').replace('\n', '\r\n')
    after = changed(kind.plan(Options(registries=['ghcr.io']),
                              node(kind, {K3S_REGISTRIES: before}, ['k3s'])))[K3S_REGISTRIES].after
    assert after == before + '  "ghcr.io":\r\n'
    assert 'ghcr.io' in judge(after, tmp_path)['mirrors']


@pytest.mark.parametrize('before, after', [
    ('mirrors:\n  docker.io:', 'mirrors:\n  docker.io:\n  "ghcr.io":\n'),
    ('---\n"mirrors":\n  docker.io: {}\n...\n', '---\n"mirrors":\n  docker.io: {}\n  "ghcr.io":\n...\n'),
    ('mirrors: # Spegel below\n', 'mirrors: # Spegel below\n  "ghcr.io":\n'),
    ('# nothing yet\n', '# nothing yet\nmirrors:\n  "ghcr.io":\n'),
])
def test_small_shapes(before, after, judge, tmp_path):
    kind = K3sKind()
    plan = kind.plan(Options(registries=['ghcr.io']), node(kind, {K3S_REGISTRIES: before}, ['k3s-agent']))
    assert changed(plan)[K3S_REGISTRIES].after == after
    assert 'ghcr.io' in judge(after, tmp_path)['mirrors']


def test_artefact_is_what_a_new_server_gets(judge, tmp_path):
    kind = K3sKind()
    artefact = kind.artefact(Options(registries=['_default']))
    files = {item['name']: item['content'] for item in artefact['files']}
    plan = kind.plan(Options(registries=['_default']), node(kind, units=['k3s']))
    assert files == {'spegel.yaml': changed(plan)[K3S_DROPIN].after,
                     'registries.yaml': changed(plan)[K3S_REGISTRIES].after}
    assert judge(files['registries.yaml'], tmp_path)['mirrors'] == {'*': {'endpoint': None, 'rewrite': None}}
    assert artefact['distribution'] == 'k3s' and artefact['chart_values'] == {}
    assert any('v1.26.15' in note for note in artefact['notes'])


@pytest.mark.parametrize('kind_class, etc', [(K3sKind, '/etc/rancher/k3s'), (Rke2Kind, '/etc/rancher/rke2')])
def test_node_artefact_is_the_adapters_for_a_bake(kind_class, etc, judge, tmp_path):
    """node_artefact reaches the kind through its adapter: the same files, for the paths the
    service reads at start, registries.yaml as k3s's own loader reads it."""
    options = {'registries': ['docker.io', 'ghcr.io', '_default']}
    artefact = node_artefact(kind_class.name, **options)
    assert artefact == kind_class().artefact(Options(**options))
    files = {item['name']: item for item in artefact['files']}
    assert list(files) == ['spegel.yaml', 'registries.yaml']
    assert files['registries.yaml']['mode'] == '0600'
    assert '%s/registries.yaml' % etc in files['registries.yaml']['description']
    assert '%s/config.yaml.d/spegel.yaml' % etc in files['spegel.yaml']['description']
    assert judge(files['registries.yaml']['content'], tmp_path)['mirrors'] == {
        name: {'endpoint': None, 'rewrite': None} for name in ('docker.io', 'ghcr.io', '*')}
    assert judge(files['spegel.yaml']['content'], tmp_path, config=True) == ['--embedded-registry=true']
