# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_config applying a registered adapter against real files: one read, one staged write,
check and diff mode, the adapter's options checked, refusals that change nothing; the k3s
adapter with its configuration directory (kind_options.config_dir) under the test's directory.
With real containerd validating and answering: tests/real/plugins/action/test_node_config.py."""

from __future__ import annotations

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k3s import DROPIN_NAME

from _node_config_cases import SEED, containerd_args  # this directory


def test_check_mode_reports_and_writes_nothing(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    result = run_action('node_config', containerd_args(tmp_path), check_mode=True)
    assert result['changed'] and result['files'] and sorted(p.name for p in tmp_path.iterdir()) == ['config.toml']
    assert len(run_action.calls) == 1


@pytest.mark.parametrize('kind,options,message', [
    ('k3z', {}, "kind 'k3z' is no node kind this collection knows; use one of containerd"),
    ('containerd', {'paht': '/x'}, 'kind_options for kind containerd: unknown option paht. Its options are: backup, enable_cri'),
    ('containerd', {'validate': 'maybe'}, "kind_options for kind containerd: argument 'validate' is of type"),
])
def test_a_bad_kind_or_kind_option_is_refused_before_the_node_is_read(kind, options, message, run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    result = run_action('node_config', dict(kind=kind, kind_options=options))
    assert result['failed'] and not result['changed'] and message in result['msg']
    assert 'Nothing was changed' in result['msg'] and run_action.calls == []


@pytest.mark.parametrize('kind', ['containerd', 'k0s', 'nodeadm'])
@pytest.mark.parametrize('option,value', [
    ('authorization', 'Basic c2VjcmV0LXRva2Vu'), ('urls', ['http://198.18.0.9:30020']),
    ('capabilities', ['pull', 'resolve', 'push']), ('dial_timeout', '1s'), ('server', {'docker.io': 'https://x'}),
])
def test_a_hosts_toml_option_on_a_kind_that_leaves_hosts_toml_to_containerd_hosts_is_refused(
        kind, option, value, run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    result = run_action('node_config', dict(kind=kind, **{option: value}))
    assert result['failed'] and not result['changed'] and run_action.calls == []
    assert result['msg'].startswith('%s: kind %s writes only' % (option, kind)) and 'mirror_' + option in result['msg']
    assert 'Nothing was changed' in result['msg'] and 'c2VjcmV0' not in result['msg']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml']


def test_a_write_that_fails_on_the_node_leaves_every_file_as_it_was(run_action, tmp_path, failing_rename):
    (tmp_path / 'config.toml').write_text(SEED)
    result = run_action('node_config', containerd_args(tmp_path), diff=True)
    assert result['failed'] and result['changed'] is False and 'diff' not in result
    # Reported as the node still is: nothing to restart, no file, no restore marker written.
    assert result['restart_required'] is False and result['files'] == []
    assert result['facts']['original_file'] is None and result['facts']['created'] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml'] and (tmp_path / 'config.toml').read_text() == SEED


def test_a_refusal_of_the_adapter_changes_nothing(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    bad = [{'key': ['plugins', 'io.containerd.grpc.v1.cri', 'registry', 'config_path'], 'value': '/x'}]
    result = run_action('node_config', containerd_args(tmp_path, extra_settings=bad))
    assert result['failed'] and 'extra_settings' in result['msg'] and len(run_action.calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml']


def test_the_k3s_adapter_on_a_server_writes_registries_yaml_and_the_drop_in(run_action, k3s_etc):
    k3s_etc.mkdir(parents=True)
    (k3s_etc / 'registries.yaml').write_text('# mine\nconfigs:\n  registry.example:\n    auth:\n'
                                             '      username: u\n      password: not-shown\n')
    args = dict(kind='k3s', registries=['docker.io'], kind_options={'role': 'server', 'config_dir': str(k3s_etc)})
    result = run_action('node_config', args, diff=True)
    assert result['changed'] and 'failed' not in result, result.get('msg')
    registries, dropin = str(k3s_etc / 'registries.yaml'), str(k3s_etc / 'config.yaml.d' / DROPIN_NAME)
    assert result['files'] == [registries, dropin] and result['restart_required'] and result['services'] == ['k3s']
    assert result['cri_address'] == '/run/k3s/containerd/containerd.sock'  # where containerd_restart proves CRI
    assert 'not-shown' not in str(result['diff']) and '# mine' in (k3s_etc / 'registries.yaml').read_text()
    assert 'docker.io' in (k3s_etc / 'registries.yaml').read_text()
    assert 'embedded-registry: true' in (k3s_etc / 'config.yaml.d' / DROPIN_NAME).read_text()
    # This test host has none of k3s's marks: said, not refused.
    assert any('none of its marks' in warning for warning in result['warnings'])
    assert len(run_action.calls) == 2
    again = run_action('node_config', args)
    assert not again['changed'] and not again['restart_required'] and len(run_action.calls) == 3


def test_the_k3s_adapter_refuses_what_its_embedded_spegel_cannot_carry(run_action, k3s_etc):
    result = run_action('node_config', dict(kind='k3s', urls=['http://198.18.0.5:30020'],
                                            kind_options={'role': 'agent', 'config_dir': str(k3s_etc)}))
    assert result['failed'] and 'urls:' in result['msg'] and 'Nothing was changed' in result['msg']
    assert not k3s_etc.exists() and len(run_action.calls) == 1


def test_state_absent_on_a_k3s_server_gives_back_the_files_as_they_were(run_action, k3s_etc):
    k3s_etc.mkdir(parents=True)
    mine = '# mine\r\nmirrors:\r\n  quay.io:\r\n    endpoint: ["https://quay.example"]\r\n'
    (k3s_etc / 'registries.yaml').write_bytes(mine.encode())
    args = dict(kind='k3s', registries=['docker.io', 'quay.io'],
                kind_options={'role': 'server', 'config_dir': str(k3s_etc)})
    assert run_action('node_config', args)['changed']
    removed = dict(args, state='absent')
    checked = run_action('node_config', removed, check_mode=True, diff=True)
    assert checked['changed'] and (k3s_etc / 'config.yaml.d' / DROPIN_NAME).exists()
    assert [diff['after'] for diff in checked['diff']] == [mine, '']
    result = run_action('node_config', removed)
    assert result['changed'] and 'failed' not in result, result.get('msg')
    assert result['files'] == [str(k3s_etc / 'registries.yaml'), str(k3s_etc / 'config.yaml.d' / DROPIN_NAME)]
    assert result['restart_required'] and result['services'] == ['k3s']
    assert result['facts']['mirrors_removed'] == ['docker.io']
    assert (k3s_etc / 'registries.yaml').read_bytes() == mine.encode()
    assert sorted(path.name for path in k3s_etc.rglob('*')) == ['config.yaml.d', 'registries.yaml']
    again = run_action('node_config', removed)
    assert not again['changed'] and not again['restart_required']


def test_state_absent_on_plain_containerd_names_the_revert_that_does_it(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    result = run_action('node_config', dict(containerd_args(tmp_path), state='absent'))
    assert result['failed'] and 'kind containerd has no revert' in result['msg']
    assert 'peerpull.spegel.containerd_restart with revert: true' in result['msg']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml'] and (tmp_path / 'config.toml').read_text() == SEED


def test_verify_is_refused_with_state_absent(run_action, k3s_etc):
    result = run_action('node_config', dict(kind='k3s', state='absent', verify=True,
                                            kind_options={'role': 'agent', 'config_dir': str(k3s_etc)}))
    assert result['failed'] and 'verify: true checks a node readied with state: present' in result['msg']
    assert run_action.calls == []


def test_reuse_read_writes_the_k3s_files_from_the_check_mode_read_and_reads_again_when_stale(
        run_action, k3s_etc, kept_reads):
    k3s_etc.mkdir(parents=True)
    args = dict(kind='k3s', registries=['docker.io'], reuse_read=True,
                kind_options={'role': 'server', 'config_dir': str(k3s_etc)})
    assert run_action('node_config', args, check_mode=True)['changed'] and len(run_action.calls) == 1
    done = run_action('node_config', args)
    assert done['changed'] and done['reused_read'] and 'failed' not in done
    assert ['write' in call for call in run_action.calls] == [False, True]  # the plan's read, then the write
    assert 'docker.io' in (k3s_etc / 'registries.yaml').read_text()

    again = run_action('node_config', args, check_mode=True)
    assert not again['changed']
    (k3s_etc / 'registries.yaml').write_text('# mine\n')  # changed by hand after the plan
    fixed = run_action('node_config', args)
    assert fixed['changed'] and not fixed['reused_read']  # the kept read showed nothing to change
    assert ['write' in call for call in run_action.calls[3:]] == [False, True]
    assert '# mine' in (k3s_etc / 'registries.yaml').read_text() and 'docker.io' in (k3s_etc / 'registries.yaml').read_text()

    (k3s_etc / 'registries.yaml').write_text('# mine\n')
    run_action('node_config', args, check_mode=True)
    (k3s_etc / 'registries.yaml').write_text('# mine, edited again\n')  # the kept read is stale
    stale = run_action('node_config', args)
    assert stale['changed'] and not stale['reused_read'] and 'failed' not in stale
    assert ['write' in call for call in run_action.calls[5:]] == [False, True, False, True]
    assert '# mine, edited again' in (k3s_etc / 'registries.yaml').read_text()
    assert list(kept_reads.iterdir()) == []
