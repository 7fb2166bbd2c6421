# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""containerd_config run against real files: the restore marker in the same write as the
change, options refused before the node is read, a node failure reported as nothing changed.
With the real containerd on PATH: tests/real/plugins/action/test_containerd_config.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import CREATED_SUFFIX
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _kinds as kinds
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_kinds import NodeKind
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node

from _containerd_config_cases import SEED, args_for  # this directory


def test_a_new_file_is_created_with_its_marker_then_left_alone(run_action, tmp_path):
    result = run_action('containerd_config', args_for(tmp_path))
    assert result['changed'] and result['created'] and result['restart_required'] and 'failed' not in result
    assert result['config_path'] == str(tmp_path / 'certs.d') and result['effective_from'] == 'files'
    assert (tmp_path / ('config.toml' + CREATED_SUFFIX)).exists()
    assert len(run_action.calls) == 2  # read, write (no imports, no migrated mirrors: no second read)
    again = run_action('containerd_config', args_for(tmp_path))
    assert not again['changed'] and not again['restart_required'] and len(run_action.calls) == 3


def test_the_first_change_keeps_the_original_byte_for_byte(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    result = run_action('containerd_config', args_for(tmp_path), diff=True)
    assert result['changed'] and result['original_file'] == str(tmp_path / 'config.toml.peerpull-orig')
    assert (tmp_path / 'config.toml.peerpull-orig').read_text() == SEED
    assert result['diff'][0]['before'] == SEED and 'config_path' in result['diff'][0]['after']


def test_check_mode_reports_and_writes_nothing(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    result = run_action('containerd_config', args_for(tmp_path), check_mode=True)
    assert result['changed'] and sorted(p.name for p in tmp_path.iterdir()) == ['config.toml']
    assert len(run_action.calls) == 1


def test_a_relative_path_or_a_list_of_hosts_dirs_is_refused_before_the_node_is_read(run_action, tmp_path):
    relative = run_action('containerd_config', dict(args_for(tmp_path), path='config.toml'))
    assert relative['failed'] and relative['changed'] is False and 'path must be an absolute path' in relative['msg']
    listed = run_action('containerd_config', dict(args_for(tmp_path), hosts_dir='/etc/containerd/certs.d:/etc/docker'))
    assert listed['failed'] and 'hosts_dir must be ONE absolute directory' in listed['msg']
    assert run_action.calls == []


def test_a_managed_key_in_extra_settings_is_refused_naming_it(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    bad = [{'key': ['plugins', 'io.containerd.grpc.v1.cri', 'registry', 'config_path'], 'value': '/x'}]
    result = run_action('containerd_config', args_for(tmp_path, extra_settings=bad))
    assert result['failed'] and 'extra_settings' in result['msg'] and 'config_path' in result['msg']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml']


def test_a_write_that_fails_on_the_node_reports_the_node_as_it_still_is(run_action, tmp_path, failing_rename):
    (tmp_path / 'config.toml').write_text(SEED)
    result = run_action('containerd_config', args_for(tmp_path), diff=True)
    assert result['failed'] and result['changed'] is False and 'diff' not in result
    assert result['restart_required'] is False and result['hosts_files'] == [] and result['original_file'] is None
    assert str(tmp_path / 'config.toml') in result['msg']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml'] and (tmp_path / 'config.toml').read_text() == SEED


def test_a_relative_cri_address_is_refused_before_the_node_is_read(run_action, tmp_path):
    result = run_action('containerd_config', dict(args_for(tmp_path), cri_address='run/containerd.sock'))
    assert result['failed'] and 'cri_address' in result['msg'] and run_action.calls == []


# --- detection of the node kind, in the first read ------------------------------------------

class ToyKind(NodeKind):
    """A kind registered for one test (the real kinds run below, each with its real marks)."""
    name = 'toy'
    summary = 'a toy distribution'
    refusal = 'toy regenerates config.toml at every start'


def register(monkeypatch, adapter, root):
    """adapter registered, its marks moved under root (node_files looks for them there)."""
    monkeypatch.setattr(adapter, 'marks', tuple(str(root) + mark for mark in (adapter.marks or ('/etc/toy',))))
    monkeypatch.setattr(kinds, 'ADAPTERS', tuple(dict.fromkeys(kinds.ADAPTERS + (adapter,))))
    monkeypatch.setitem(kinds.KINDS, adapter.name, adapter)
    return adapter.marks


def tree(directory):
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None) for p in directory.rglob('*')}


def test_a_plain_node_is_detected_in_the_first_read(run_action, tmp_path):
    result = run_action('containerd_config', args_for(tmp_path))
    assert result['detected_node_kinds'] == ['containerd'] and result['changed']
    assert run_action.calls[0]['exists'] == kinds.all_marks() and len(run_action.calls) == 2


@pytest.mark.parametrize('name', ['toy'] + sorted(name for name in kinds.KINDS if name != kinds.FALLBACK))
def test_a_node_with_another_kinds_marks_is_refused_and_left_as_it_was(name, run_action, tmp_path, monkeypatch):
    adapter = kinds.KINDS.get(name, ToyKind)
    root = tmp_path / 'root'
    marks = register(monkeypatch, adapter, root)
    Path(marks[0]).parent.mkdir(parents=True)
    Path(marks[0]).write_text('')  # the mark: a file or a directory, nothing reads it
    (tmp_path / 'config.toml').write_text(SEED)
    before = tree(tmp_path)
    result = run_action('containerd_config', args_for(tmp_path), diff=True)
    assert result['failed'] and result['changed'] is False and 'diff' not in result
    assert result['msg'].startswith('This node is not plain containerd: %s (' % name)
    assert marks[0] in result['msg'] and kinds.reason(name) in result['msg']
    assert 'spegel_node_kind: %s' % name in result['msg'] and 'spegel_node_kind: containerd' in result['msg']
    assert tree(tmp_path) == before and len(run_action.calls) == 1  # refused after the one read
    # The module's own option patches config.toml anyway, and says what it saw.
    forced = run_action('containerd_config', args_for(tmp_path, node_kind='containerd'))
    assert forced['changed'] and forced['detected_node_kinds'] == [name]
    assert any(name in warning for warning in forced['warnings'])


def test_an_unknown_or_another_kind_is_refused_before_the_node_is_read(run_action, tmp_path, monkeypatch):
    unknown = run_action('containerd_config', args_for(tmp_path, node_kind='k3z'))
    assert unknown['failed'] and "node_kind 'k3z' is no node kind this collection knows; use one of auto, " \
        "containerd" in unknown['msg']
    register(monkeypatch, ToyKind, tmp_path)
    other = run_action('containerd_config', args_for(tmp_path, node_kind='toy'))
    assert other['failed'] and 'peerpull.spegel.node_config with kind=toy' in other['msg']
    assert run_action.calls == [] and sorted(p.name for p in tmp_path.iterdir()) == []


LEGACY_MIRROR = SEED + ('\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n'
                        '  endpoint = ["https://mirror.example"]\n')


def hosts_args(tmp_path, **args):
    return dict(dict(hosts_dir=str(tmp_path / 'certs.d'), registries=['_default', 'docker.io'],
                     node_ip='198.18.0.5', containerd_version='1.7.24'), **args)


def hosts_says(run_action, args):
    """What containerd_hosts itself reports in check mode, without what the plan leaves out."""
    said = run_action('containerd_hosts', args, check_mode=True)
    return {key: value for key, value in said.items() if key not in ('restart_required', 'diff')}


@pytest.mark.parametrize('node_ip', ['198.18.0.5', 'auto'])
def test_hosts_options_plans_both_in_one_round_trip_as_each_module_would(run_action, tmp_path, node_ip):
    (tmp_path / 'config.toml').write_text(SEED)
    (tmp_path / 'certs.d' / 'quay.io').mkdir(parents=True)
    (tmp_path / 'certs.d' / 'quay.io' / 'hosts.toml').write_text('server = "https://quay.io"\n')
    hosts = hosts_args(tmp_path, node_ip=node_ip)
    planned = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts), check_mode=True, diff=True)
    assert len(run_action.calls) == 1
    assert planned['changed'] and planned['restart_required'] and 'failed' not in planned
    # The config part is containerd_config's own check-mode answer ...
    alone = run_action('containerd_config', args_for(tmp_path), check_mode=True, diff=True)
    assert {key: value for key, value in planned.items() if key != 'hosts_plan'} == alone
    # ... and the hosts part containerd_hosts' (with node_ip auto: this machine's discovery,
    # an answer or the same refusal), each of those one round trip of its own.
    assert planned['hosts_plan'] == hosts_says(run_action, hosts)
    assert len(run_action.calls) == 3
    if node_ip == '198.18.0.5':
        assert planned['hosts_plan']['changed'] and set(planned['hosts_plan']['files']) == {
            '_default', 'docker.io', 'quay.io'}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['certs.d', 'config.toml']
    assert (tmp_path / 'config.toml').read_text() == SEED


def test_hosts_options_of_a_ready_node_says_nothing_changes(run_action, tmp_path):
    hosts = hosts_args(tmp_path)
    run_action('containerd_config', args_for(tmp_path))
    run_action('containerd_hosts', hosts)
    calls = len(run_action.calls)
    planned = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts), check_mode=True)
    assert not planned['changed'] and not planned['restart_required']
    assert planned['hosts_plan']['changed'] is False and 'failed' not in planned['hosts_plan']
    assert len(run_action.calls) == calls + 1


def tree(directory):
    """{relative path: text} of every file under directory."""
    return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob('*')) if p.is_file()}


def test_hosts_options_writes_the_hosts_toml_files_in_the_configs_write_round_trip(run_action, tmp_path):
    """Outside check mode the planned hosts.toml changes ride on the config's own write: the files
    are those containerd_hosts writes, and the round trips those of containerd_config alone."""
    alone_dir = tmp_path / 'alone'
    for directory in (tmp_path, alone_dir):
        (directory / 'certs.d' / 'quay.io').mkdir(parents=True)
        (directory / 'certs.d' / 'quay.io' / 'hosts.toml').write_text('server = "https://quay.io"\n')
        (directory / 'config.toml').write_text(SEED)
    hosts = hosts_args(tmp_path, backup=True)
    done = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts), diff=True)
    assert 'failed' not in done and done['changed'] and done['restart_required']
    assert done['hosts_plan']['changed'] and done['hosts_plan']['written'] is True
    assert len(run_action.calls) == 2  # one read, one write (no containerd here to validate with)
    certs = tmp_path / 'certs.d'
    assert sorted(done['hosts_plan']['files']) == ['_default', 'docker.io', 'quay.io']
    assert done['hosts_plan']['files']['quay.io']['backup_file'].startswith(str(certs / 'quay.io' / 'hosts.toml.'))
    assert {entry['after_header'] for entry in done['diff']} == {
        str(tmp_path / 'config.toml'), str(certs / '_default' / 'hosts.toml'),
        str(certs / 'docker.io' / 'hosts.toml'), str(certs / 'quay.io' / 'hosts.toml')}
    run_action('containerd_hosts', hosts_args(alone_dir, backup=True))
    assert {k: v for k, v in tree(certs).items() if '.hosts.toml.' not in k and not k.endswith('~')} == {
        k: v for k, v in tree(alone_dir / 'certs.d').items() if not k.endswith('~')}

    calls = len(run_action.calls)
    again = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts))
    assert not again['changed'] and not again['hosts_plan']['changed'] and 'written' not in again['hosts_plan']
    assert len(run_action.calls) == calls + 1


def test_hosts_options_alone_changes_only_the_hosts_toml_files_and_asks_no_restart(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    run_action('containerd_config', args_for(tmp_path))
    done = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts_args(tmp_path)))
    assert done['changed'] and not done['restart_required'] and done['hosts_plan']['written'] is True
    assert '198.18.0.5:30020' in (tmp_path / 'certs.d' / '_default' / 'hosts.toml').read_text()


def test_hosts_options_write_nothing_when_the_config_write_fails(run_action, tmp_path, failing_rename):
    (tmp_path / 'config.toml').write_text(SEED)
    done = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts_args(tmp_path)))
    assert done['failed'] and not done['changed']
    assert done['hosts_plan']['written'] is False and 'config.toml change was not written' in \
        done['hosts_plan']['not_written']
    assert tree(tmp_path) == {'config.toml': SEED}  # no hosts.toml, no temp file


def test_hosts_options_leave_the_files_to_containerd_hosts_when_mirrors_migrate(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(LEGACY_MIRROR)
    planned = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts_args(tmp_path)))
    # The config change is made (its migrated mirror's hosts.toml with it); the plan is of the
    # node as read before it, so none of the plan's files is written.
    assert planned['changed'] and planned['hosts_plan']['changed'] and planned['hosts_plan']['written'] is False
    assert 'legacy mirrors' in planned['hosts_plan']['not_written']
    assert planned['hosts_files'] == [str(tmp_path / 'certs.d' / 'docker.io' / 'hosts.toml')]
    assert sorted(p.name for p in (tmp_path / 'certs.d').iterdir()) == ['docker.io']
    assert '198.18.0.5' not in (tmp_path / 'certs.d' / 'docker.io' / 'hosts.toml').read_text()


@pytest.mark.parametrize('hosts, message', [
    (dict(ports='many'), "hosts_options: Elements value for option 'ports'"),
    (dict(port=[30020]), 'hosts_options: unknown option port. Its options are: authorization, '),
    (dict(server={'quay.io': 'https://quay.io'}), "server names registry 'quay.io', which is not in registries"),
    (dict(mirrors=['http://user:pw@198.18.0.5:30020']), 'http://********@198.18.0.5:30020'),
    (dict(hosts_dir='/elsewhere/certs.d'), 'hosts_options: hosts_dir /elsewhere/certs.d is not the hosts_dir '
                                           'containerd reads'),
])
def test_hosts_options_that_would_be_refused_fail_before_the_node_is_read(run_action, tmp_path, hosts, message):
    """site's plan: a node whose mirror options are wrong fails there, before play 2 changes containerd."""
    (tmp_path / 'config.toml').write_text(SEED)
    for check_mode in (True, False):
        result = run_action('containerd_config', args_for(tmp_path, hosts_options=dict(hosts_args(tmp_path), **hosts)),
                            check_mode=check_mode)
        assert result['failed'] and not result['changed'] and message in result['msg']
        assert 'pw@' not in str(result)
    assert run_action.calls == [] and (tmp_path / 'config.toml').read_text() == SEED
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml']


def test_a_hosts_directory_the_node_cannot_list_fails_the_task_before_anything_changes(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    (tmp_path / 'certs.d').write_text('a file where the hosts directory should be\n')
    hosts = hosts_args(tmp_path)
    result = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts))
    said = run_action('containerd_hosts', hosts)
    assert result['failed'] and not result['changed'] and result['msg'] == said['msg']
    assert str(tmp_path / 'certs.d') in result['msg']
    assert (tmp_path / 'config.toml').read_text() == SEED
    assert sorted(p.name for p in tmp_path.iterdir()) == ['certs.d', 'config.toml']


def test_hosts_options_of_a_kind_that_writes_no_hosts_toml_is_skipped(run_action, tmp_path):
    (tmp_path / 'config.toml').write_text(SEED)
    planned = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts_args(tmp_path, node_kind='k3s')),
                         check_mode=True)
    assert planned['hosts_plan']['skipped'] and 'node_kind k3s' in planned['hosts_plan']['skip_reason']
    assert len(run_action.calls) == 1 and run_action.calls[0]['read_globs'] == []


def test_reuse_read_changes_the_node_from_the_check_mode_read_in_one_round_trip(run_action, tmp_path, kept_reads):
    (tmp_path / 'config.toml').write_text(SEED)
    alone = tmp_path / 'alone'
    alone.mkdir()
    (alone / 'config.toml').write_text(SEED)
    hosts = hosts_args(tmp_path)
    planned = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts, reuse_read=True),
                         check_mode=True)
    assert planned['changed'] and len(run_action.calls) == 1
    kept = list(kept_reads.iterdir())
    assert len(kept) == 1 and oct(kept[0].stat().st_mode & 0o777) == '0o600'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['alone', 'config.toml', 'local-tmp']

    done = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts, reuse_read=True), diff=True)
    assert 'failed' not in done and done['changed'] and done['hosts_plan']['written'] is True
    assert len(run_action.calls) == 2 and 'write' in run_action.calls[1]  # the write alone
    assert list(kept_reads.iterdir()) == []  # used once
    # the same files as a run that reads for itself
    assert run_action('containerd_config', args_for(alone, hosts_options=hosts_args(alone)))['changed']
    assert (tmp_path / 'config.toml').read_text() == (alone / 'config.toml').read_text().replace(str(alone), str(tmp_path))
    assert tree(tmp_path / 'certs.d') == tree(alone / 'certs.d') != {}

    assert done['reused_read'] is True

    calls = len(run_action.calls)
    again = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts, reuse_read=True))
    assert not again['changed'] and not again['reused_read'] and len(run_action.calls) == calls + 1  # nothing kept


def test_reuse_read_says_nothing_is_to_change_only_from_a_read_of_now(run_action, tmp_path, kept_reads):
    (tmp_path / 'config.toml').write_text(SEED)
    run_action('containerd_config', args_for(tmp_path))
    run_action('containerd_config', args_for(tmp_path, reuse_read=True), check_mode=True)
    (tmp_path / 'config.toml').write_text(SEED)  # undone by hand after the plan
    done = run_action('containerd_config', args_for(tmp_path, reuse_read=True))
    assert done['changed'] and not done['reused_read'] and 'config_path' in (tmp_path / 'config.toml').read_text()
    assert ['write' in call for call in run_action.calls[3:]] == [False, True]  # a read of its own, the write
    assert list(kept_reads.iterdir()) == []


def test_reuse_read_reads_again_when_the_file_changed_since(run_action, tmp_path, kept_reads):
    (tmp_path / 'config.toml').write_text(SEED)
    run_action('containerd_config', args_for(tmp_path, reuse_read=True), check_mode=True)
    edited = SEED + '\n# changed by hand after the plan\n'
    (tmp_path / 'config.toml').write_text(edited)
    done = run_action('containerd_config', args_for(tmp_path, reuse_read=True), diff=True)
    assert 'failed' not in done and done['changed'] and done['restart_required']
    # the plan's read; the write refused on it; a read and a write
    assert ['write' in call for call in run_action.calls] == [False, True, False, True]
    text = (tmp_path / 'config.toml').read_text()
    assert '# changed by hand after the plan' in text and 'config_path' in text
    assert done['diff'][0]['before'] == edited


def test_reuse_read_takes_no_read_kept_with_other_options_or_outside_its_run(run_action, tmp_path, kept_reads):
    (tmp_path / 'config.toml').write_text(SEED)
    run_action('containerd_config', args_for(tmp_path, reuse_read=True), check_mode=True)
    other = run_action('containerd_config', args_for(tmp_path, reuse_read=True, hosts_options=hosts_args(tmp_path)))
    assert other['changed'] and len(run_action.calls) == 3  # a read of its own, then the write
    assert len(list(kept_reads.iterdir())) == 1  # the other options' read stays unused
    (tmp_path / 'config.toml').write_text(SEED)
    not_asked = run_action('containerd_config', args_for(tmp_path))
    assert not_asked['changed'] and len(run_action.calls) == 5 and len(list(kept_reads.iterdir())) == 1


def test_reuse_read_writes_hosts_toml_files_only_while_config_toml_reads_as_planned(run_action, tmp_path, kept_reads):
    """A change of hosts.toml files alone, planned from a kept read: config.toml, which it does not
    write, changed since (reverted by hand), so the node is read again and config.toml set too."""
    (tmp_path / 'config.toml').write_text(SEED)
    run_action('containerd_config', args_for(tmp_path))
    hosts = hosts_args(tmp_path)
    planned = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts, reuse_read=True),
                         check_mode=True)
    assert not planned['changed'] and planned['hosts_plan']['changed']  # the hosts.toml files only
    (tmp_path / 'config.toml').write_text(SEED)
    done = run_action('containerd_config', args_for(tmp_path, hosts_options=hosts, reuse_read=True))
    assert done['changed'] and done['restart_required'] and not done['reused_read']
    assert 'config_path' in (tmp_path / 'config.toml').read_text()
    assert '198.18.0.5:30020' in (tmp_path / 'certs.d' / '_default' / 'hosts.toml').read_text()
    # the plan's read; the write refused on it (nothing written); a read and a write
    assert ['write' in call for call in run_action.calls[2:]] == [False, True, False, True]


def test_reuse_read_is_per_host_and_never_taken_in_check_mode(run_action, tmp_path, kept_reads):
    (tmp_path / 'config.toml').write_text(SEED)
    args = args_for(tmp_path, reuse_read=True)
    run_action('containerd_config', args, check_mode=True, task_vars=dict(inventory_hostname='n1'))
    run_action('containerd_config', args, check_mode=True, task_vars=dict(inventory_hostname='n1'))
    assert len(run_action.calls) == 2 and len(list(kept_reads.iterdir())) == 1  # read again, kept again
    other = run_action('containerd_config', args, task_vars=dict(inventory_hostname='n2'))
    assert other['changed'] and not other['reused_read'] and len(run_action.calls) == 4  # its own read, the write
    assert len(list(kept_reads.iterdir())) == 1


def test_reuse_read_keeps_no_answer_of_the_moment(run_action, tmp_path, kept_reads):
    (tmp_path / 'config.toml').write_text(SEED)
    args = args_for(tmp_path, reuse_read=True, cri_address=str(tmp_path / 'no.sock'))
    checked = run_action('containerd_config', args, check_mode=True)
    assert not checked['cri']['ok'] and list(kept_reads.iterdir()) == []


def test_reuse_read_reports_a_write_of_unknown_outcome_without_reading_again(
        run_action, tmp_path, kept_reads, monkeypatch):
    """node_files died during the write (no `written` in its answer): whether files changed is
    unknown, so the failure is reported as it is, not hidden behind a new read."""
    (tmp_path / 'config.toml').write_text(SEED)
    run_action('containerd_config', args_for(tmp_path, reuse_read=True), check_mode=True)
    real = node.run_node_files

    def dies_on_write(action, task_vars, **args):
        if args.get('write'):
            raise node.NodeFilesError({'failed': True, 'msg': 'MODULE FAILURE: killed'})
        return real(action, task_vars, **args)
    monkeypatch.setattr(node, 'run_node_files', dies_on_write)
    result = run_action('containerd_config', args_for(tmp_path, reuse_read=True))
    assert result['failed'] and 'MODULE FAILURE' in result['msg'] and len(run_action.calls) == 1  # no read again
    # It may have been written: a change, and the files to check are named.
    assert result['changed'] is True and result['restart_required'] is True
    assert 'whether these files changed is unknown: %s' % (tmp_path / 'config.toml') in result['msg']


def test_reuse_read_that_cannot_be_kept_is_only_read_again(run_action, tmp_path, kept_reads):
    (tmp_path / 'config.toml').write_text(SEED)
    kept_reads.rmdir()  # the run's temporary directory is gone
    planned = run_action('containerd_config', args_for(tmp_path, reuse_read=True), check_mode=True)
    assert planned['changed'] and 'failed' not in planned
    done = run_action('containerd_config', args_for(tmp_path, reuse_read=True))
    assert done['changed'] and not done['reused_read'] and len(run_action.calls) == 3  # read, read, write
