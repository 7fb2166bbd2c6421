# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""containerd_restart's decisions: the files go through the real node_files on tmp_path; systemd
and `ctr plugins ls` are a stand-in node (StandInContainerd) that loads the config file as it is on
disk at each restart, so what is restored, removed and restarted, and in which order, is what the
stand-in sees. Whether real containerd comes back is proven on the fleet (molecule rolling,
generic, distros)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.modules import node_files
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import CREATED_SUFFIX, ORIGINAL_SUFFIX
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _containerd_restart as restart
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node import NODE_FILES

GOOD = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n'
OLD = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "overlayfs"\n'
BREAKS_CRI = GOOD + '# breaks CRI\n'
# OLD as containerd_config leaves it: the Spegel settings added, nothing else changed.
INSTALLED = OLD + '  discard_unpacked_layers = false\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n' \
    '  config_path = "/etc/containerd/certs.d"\n'
NOT_TOML = 'version = = 2\n'
SOCKET = '/run/test/containerd.sock'
PLUGINS_HEADER = 'TYPE                                   ID                       PLATFORMS      STATUS    \n'


class StandInContainerd:
    """systemd and containerd as the action sees them. At each restart it loads path as it is on
    disk: a file that is not TOML makes containerd exit (systemd reports the failed restart), a
    file with the comment '# breaks CRI' leaves the CRI plugin in error, anything else (or no file:
    the defaults) serves CRI. down_polls: polls that find no socket after a good restart."""

    def __init__(self, path, down_polls=0, systemd_fails=False):
        self.path = Path(path)
        self.loaded = []  # the config text (None: no file) at each restart
        self.state = 'ok'
        self.down_polls = down_polls
        self.systemd_fails = systemd_fails  # systemctl fails while the running containerd keeps serving

    def restart_units(self, units):
        assert units == ['containerd'], units
        if self.systemd_fails:
            self.systemd_fails = False
            return [{'unit': 'containerd', 'rc': 1, 'error': 'Failed to restart containerd.service: Connection timed '
                                                             'out'}]
        text = self.path.read_text() if self.path.exists() else None
        self.loaded.append(text)
        try:
            tomllib.loads(text or '')
        except tomllib.TOMLDecodeError:
            self.state = 'down'
            return [{'unit': 'containerd', 'rc': 1, 'error': 'Job for containerd.service failed because the control '
                                                             'process exited with error code.'}]
        self.state = 'cri-error' if text and '# breaks CRI' in text else 'ok'
        return [{'unit': 'containerd', 'rc': 0, 'error': ''}]

    def cri_plugins(self, address):
        assert address == SOCKET, address
        if self.state == 'down' or self.down_polls:
            self.down_polls = max(0, self.down_polls - 1)
            return {'rc': 1, 'stdout': '', 'stderr': 'ctr: failed to dial "%s": context deadline exceeded\n' % SOCKET}
        status = 'ok' if self.state == 'ok' else 'error'
        return {'rc': 0, 'stderr': '', 'stdout': PLUGINS_HEADER + (
            'io.containerd.grpc.v1                  cri                      linux/amd64    %s        \n'
            'io.containerd.internal.v1              restart                  -              ok        \n' % status)}


def args_for(tmp_path, **args):
    return dict(dict(path=str(tmp_path / 'config.toml'), address=SOCKET, timeout=1), **args)


def stand_in(run_action, tmp_path, **kwargs):
    run_action.node = StandInContainerd(tmp_path / 'config.toml', **kwargs)
    return run_action.node


def step_names(run_action):
    """The node_files round trips in order: 'restart' restarts units and waits for CRI, 'cri' only
    waits for it."""
    assert all(name == NODE_FILES for name, _args in run_action.steps), run_action.steps
    return ['restart' if args.get('restart') else 'cri' if args.get('cri_plugins') else 'node_files'
            for _name, args in run_action.steps]


def seed_change(tmp_path, new, old=OLD):
    """A config.toml that changed to `new`, with the timestamped backup of `old` next to it."""
    (tmp_path / 'config.toml').write_text(new)
    backup = tmp_path / 'config.toml.1234.2026-01-01@00:00:00~'
    backup.write_text(old)
    os.chmod(backup, 0o600)
    return backup


def test_containerd_back_with_cri_removes_the_copy_in_two_round_trips(run_action, tmp_path):
    containerd_node = stand_in(run_action, tmp_path)
    backup = seed_change(tmp_path, GOOD)
    result = run_action('containerd_restart', args_for(tmp_path, previous_config=str(backup)))
    assert 'failed' not in result, result['msg']
    assert result['changed'] and result['restarted'] and result['cri_ready'] and not result['rolled_back']
    assert result['msg'].startswith('containerd restarted and serves CRI after')
    assert containerd_node.loaded == [GOOD] and not backup.exists()
    assert step_names(run_action) == ['restart']  # the copy goes in the round trip that saw CRI


def test_cri_that_does_not_load_puts_the_previous_file_back_and_restarts_again(run_action, tmp_path):
    containerd_node = stand_in(run_action, tmp_path)
    backup = seed_change(tmp_path, BREAKS_CRI)
    os.chmod(tmp_path / 'config.toml', 0o644)
    result = run_action('containerd_restart', args_for(tmp_path, previous_config=str(backup)),
                        task_vars={'inventory_hostname': 'node-1'})
    assert result['failed'] and result['changed'] and result['rolled_back'] and result['cri_ready']
    assert containerd_node.loaded == [BREAKS_CRI, OLD]  # the restore came before the second restart
    assert (tmp_path / 'config.toml').read_text() == OLD
    assert oct((tmp_path / 'config.toml').stat().st_mode & 0o777) == '0o600'  # the backup's mode
    assert result['restored'] == str(backup) and backup.exists()
    assert step_names(run_action) == ['restart', 'node_files', 'node_files', 'restart']
    assert result['msg'] == (
        'containerd on node-1 did not come back with its CRI plugin after %s changed: it answered, but its CRI '
        'plugin did not load: io.containerd.grpc.v1 cri linux/amd64 error. The previous configuration was restored '
        'from %s and containerd was restarted: it runs again with CRI, so the node keeps working as before; see '
        'journalctl -u containerd for what the new configuration broke.' % (tmp_path / 'config.toml', backup))


def test_a_failed_systemd_restart_says_so_and_a_file_that_was_absent_is_removed(run_action, tmp_path):
    containerd_node = stand_in(run_action, tmp_path)
    (tmp_path / 'config.toml').write_text(NOT_TOML)
    result = run_action('containerd_restart', args_for(tmp_path, was_absent=True))
    assert result['failed'] and result['rolled_back'] and result['removed'] and result['cri_ready']
    assert containerd_node.loaded == [NOT_TOML, None] and not (tmp_path / 'config.toml').exists()
    assert 'systemd could not restart containerd: Job for containerd.service failed' in result['msg']
    assert 'The new %s was removed (there was none before) and containerd was restarted' % (
        tmp_path / 'config.toml') in result['msg']


def test_a_failed_systemctl_keeps_the_copy_for_the_rollback_even_when_cri_answers(run_action, tmp_path):
    """systemctl can fail (a D-Bus timeout) while the old containerd still serves CRI: the copy
    the rollback restores must not go in that round trip."""
    containerd_node = stand_in(run_action, tmp_path, systemd_fails=True)
    backup = seed_change(tmp_path, GOOD)
    result = run_action('containerd_restart', args_for(tmp_path, previous_config=str(backup)))
    assert result['failed'] and result['rolled_back'] and result['restored'] == str(backup)
    assert 'systemd could not restart containerd: Failed to restart containerd.service' in result['msg']
    assert (tmp_path / 'config.toml').read_text() == OLD and backup.exists()
    assert containerd_node.loaded == [OLD]  # the second restart ran the restored file
    assert step_names(run_action) == ['restart', 'node_files', 'node_files', 'restart']


def test_nothing_to_put_back_restarts_once_more_and_says_the_node_needs_attention(run_action, tmp_path):
    containerd_node = stand_in(run_action, tmp_path)
    (tmp_path / 'config.toml').write_text(BREAKS_CRI)
    result = run_action('containerd_restart', args_for(tmp_path))
    assert result['failed'] and result['rolled_back'] and result['cri_ready'] is False
    assert containerd_node.loaded == [BREAKS_CRI, BREAKS_CRI]
    assert (tmp_path / 'config.toml').read_text() == BREAKS_CRI
    assert 'so there was nothing to put back, and containerd was restarted' in result['msg']
    assert 'it STILL does not answer with CRI - this node needs attention now (journalctl -u containerd).' \
        in result['msg']
    assert step_names(run_action) == ['restart', 'restart']


def test_a_socket_that_never_answers_is_reported_with_the_timeout_and_ctrs_error(run_action, tmp_path):
    stand_in(run_action, tmp_path, down_polls=99)
    (tmp_path / 'config.toml').write_text(GOOD)
    result = run_action('containerd_restart', args_for(tmp_path))
    assert result['failed'] and result['cri_ready'] is False
    assert 'it did not answer on %s within 1s: ctr: failed to dial' % SOCKET in result['msg']


def test_the_node_asks_until_cri_answers_within_the_timeout_in_one_round_trip(run_action, tmp_path, monkeypatch):
    slept = []
    monkeypatch.setattr(node_files.time, 'sleep', slept.append)
    stand_in(run_action, tmp_path, down_polls=2)
    (tmp_path / 'config.toml').write_text(GOOD)
    result = run_action('containerd_restart', args_for(tmp_path, timeout=10))
    assert 'failed' not in result and result['cri_ready']
    assert step_names(run_action) == ['restart']
    assert slept == [node_files.CRI_WAIT_INTERVAL] * 2


def test_check_mode_restarts_nothing_and_touches_no_file(run_action, tmp_path):
    stand_in(run_action, tmp_path)
    backup = seed_change(tmp_path, GOOD)
    result = run_action('containerd_restart', args_for(tmp_path, previous_config=str(backup)), check_mode=True)
    assert result['changed'] and not result['restarted'] and result['cri_ready'] is None
    assert 'would be restarted' in result['msg'] and run_action.steps == [] and backup.exists()


def test_contradicting_options_are_refused_before_anything_runs(run_action, tmp_path):
    stand_in(run_action, tmp_path)
    both = run_action('containerd_restart', args_for(tmp_path, previous_config='/x~', was_absent=True))
    assert both['failed'] and 'previous_config and was_absent=true contradict' in both['msg']
    revert = run_action('containerd_restart', args_for(tmp_path, revert=True, was_absent=True))
    assert revert['failed'] and 'revert=true finds what to restore itself' in revert['msg']
    zero = run_action('containerd_restart', args_for(tmp_path, timeout=0))
    assert zero['failed'] and 'timeout must be at least 1' in zero['msg']
    relative = run_action('containerd_restart', args_for(tmp_path, path='config.toml'))
    assert relative['failed'] and 'path must be an absolute path' in relative['msg']
    assert run_action.steps == [] and not both['changed']


# --- revert (the role's uninstall) ---------------------------------------------------------------

def seed_installed(tmp_path, original=OLD, current=INSTALLED):
    (tmp_path / 'config.toml').write_text(current)
    (tmp_path / ('config.toml' + ORIGINAL_SUFFIX)).write_text(original)


def test_revert_puts_the_original_back_restarts_and_then_drops_every_copy(run_action, tmp_path):
    containerd_node = stand_in(run_action, tmp_path)
    seed_installed(tmp_path)
    result = run_action('containerd_restart', args_for(tmp_path, revert=True), diff=True)
    assert 'failed' not in result and result['changed'] and result['cri_ready']
    assert result['restored'] == str(tmp_path / ('config.toml' + ORIGINAL_SUFFIX))
    assert containerd_node.loaded == [OLD]
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml']
    assert (tmp_path / 'config.toml').read_text() == OLD
    assert result['diff'][0]['before'] == INSTALLED and result['diff'][0]['after'] == OLD
    assert step_names(run_action) == ['node_files', 'node_files', 'restart']


def test_revert_of_a_created_file_removes_it_and_its_marker(run_action, tmp_path):
    containerd_node = stand_in(run_action, tmp_path)
    (tmp_path / 'config.toml').write_text(GOOD)
    (tmp_path / ('config.toml' + CREATED_SUFFIX)).write_text('marker\n')
    result = run_action('containerd_restart', args_for(tmp_path, revert=True))
    assert 'failed' not in result and result['removed'] and result['cri_ready']
    assert containerd_node.loaded == [None] and list(tmp_path.iterdir()) == []


def test_revert_whose_original_breaks_cri_goes_back_to_the_collections_file_and_keeps_the_original(
        run_action, tmp_path):
    containerd_node = stand_in(run_action, tmp_path)
    seed_installed(tmp_path, original=BREAKS_CRI, current=GOOD)
    result = run_action('containerd_restart', args_for(tmp_path, revert=True))
    assert result['failed'] and result['rolled_back'] and result['cri_ready']
    assert containerd_node.loaded == [BREAKS_CRI, GOOD] and (tmp_path / 'config.toml').read_text() == GOOD
    assert (tmp_path / ('config.toml' + ORIGINAL_SUFFIX)).read_text() == BREAKS_CRI
    assert 'The previous configuration was restored from %s' % result['restored'] in result['msg']


def test_revert_to_an_original_where_the_file_is_gone_removes_it_again_when_cri_breaks(run_action, tmp_path):
    containerd_node = stand_in(run_action, tmp_path)
    (tmp_path / ('config.toml' + ORIGINAL_SUFFIX)).write_text(BREAKS_CRI)
    result = run_action('containerd_restart', args_for(tmp_path, revert=True))
    assert result['failed'] and result['removed'] and result['restored'] is None
    assert containerd_node.loaded == [BREAKS_CRI, None] and not (tmp_path / 'config.toml').exists()
    assert 'The new %s was removed (there was none before)' % (tmp_path / 'config.toml') in result['msg']


def test_a_copy_that_cannot_be_removed_after_a_good_restart_is_a_warning(run_action, tmp_path, monkeypatch):
    stand_in(run_action, tmp_path)
    backup = seed_change(tmp_path, GOOD)

    def unlink(path):
        raise PermissionError(13, 'Permission denied', path)
    monkeypatch.setattr(os, 'unlink', unlink)
    result = run_action('containerd_restart', args_for(tmp_path, previous_config=str(backup)))
    assert 'failed' not in result and result['cri_ready'] and backup.exists()
    [warning] = result['warnings']
    assert warning.startswith('%s could not be removed: ' % backup), warning
    assert 'Permission denied' in warning, warning


def test_revert_without_restart_changes_the_files_in_one_round_trip_and_leaves_no_copy(run_action, tmp_path):
    stand_in(run_action, tmp_path)
    seed_installed(tmp_path)
    result = run_action('containerd_restart', args_for(tmp_path, revert=True, restart=False))
    assert 'failed' not in result and result['changed'] and not result['restarted']
    assert 'restart containerd to load it' in result['msg']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml'] and step_names(run_action) == [
        'node_files', 'node_files']


def test_revert_where_nothing_was_kept_does_nothing(run_action, tmp_path):
    stand_in(run_action, tmp_path)
    (tmp_path / 'config.toml').write_text(GOOD)
    result = run_action('containerd_restart', args_for(tmp_path, revert=True))
    assert not result['changed'] and not result['restarted'] and step_names(run_action) == ['node_files']
    assert result['msg'].startswith('nothing to put back: neither %s nor %s exists (containerd_keep_original was false'
                                    % (tmp_path / ('config.toml' + ORIGINAL_SUFFIX), tmp_path / ('config.toml' + CREATED_SUFFIX)))


@pytest.mark.parametrize('edited, key', [
    (INSTALLED.replace('"overlayfs"', '"native"'), 'plugins."io.containerd.grpc.v1.cri".containerd.snapshotter'),
    ('oom_score = -999\n' + INSTALLED, 'oom_score'),
    (INSTALLED + 'version = = 2\n', 'the whole file (it is not valid TOML)'),
])
def test_revert_of_a_file_edited_since_is_refused_naming_the_keys(run_action, tmp_path, edited, key):
    """Putting the original back would silently undo an edit made after site (a snapshotter, a
    cgroup driver): refused, nothing changed, whether or not it would restart."""
    stand_in(run_action, tmp_path)
    seed_installed(tmp_path, current=edited)
    for restart in (True, False):
        result = run_action('containerd_restart', args_for(tmp_path, revert=True, restart=restart))
        assert result['failed'] and not result['changed'] and not result['restarted']
        said = '%s was changed since this collection wrote it, beyond the Spegel settings (%s); putting back %s' % (
            tmp_path / 'config.toml', key, tmp_path / ('config.toml' + ORIGINAL_SUFFIX))
        assert result['msg'].startswith(said), result['msg']
    assert (tmp_path / 'config.toml').read_text() == edited
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml', 'config.toml' + ORIGINAL_SUFFIX]


def test_revert_ignores_the_extra_settings_site_applied_and_comments(run_action, tmp_path):
    stand_in(run_action, tmp_path)
    setting = {'key': ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'snapshotter'], 'value': 'native'}
    seed_installed(tmp_path, current='# mine\n' + INSTALLED.replace('"overlayfs"', '"native"'))
    result = run_action('containerd_restart', args_for(tmp_path, revert=True, extra_settings=[setting]))
    assert 'failed' not in result and result['cri_ready'] and (tmp_path / 'config.toml').read_text() == OLD


def test_revert_of_a_created_file_edited_since_is_refused(run_action, tmp_path):
    stand_in(run_action, tmp_path)
    (tmp_path / 'config.toml').write_text('oom_score = -999\n' + GOOD)
    (tmp_path / ('config.toml' + CREATED_SUFFIX)).write_text('marker\n')
    result = run_action('containerd_restart', args_for(tmp_path, revert=True))
    assert result['failed'] and not result['changed']
    assert 'which this collection created, was changed since (oom_score); removing it would lose that' in result['msg']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml', 'config.toml' + CREATED_SUFFIX]


def test_revert_in_check_mode_shows_the_diff_and_writes_nothing(run_action, tmp_path):
    stand_in(run_action, tmp_path)
    seed_installed(tmp_path)
    result = run_action('containerd_restart', args_for(tmp_path, revert=True), check_mode=True, diff=True)
    assert result['changed'] and not result['restarted'] and result['diff'][0]['after'] == OLD
    assert (tmp_path / 'config.toml').read_text() == INSTALLED and step_names(run_action) == ['node_files']


def test_a_cri_plugin_missing_from_the_list_is_named_as_such():
    answer = restart.CriAnswer({'address': SOCKET, 'rc': 0,
                                'stdout': PLUGINS_HEADER + 'io.containerd.internal.v1  restart  -  ok\n'})
    assert not answer.ready
    assert answer.failure(60) == ('it answered, but its CRI plugin did not load: `ctr plugins ls` does not '
                                  'list it (disabled_plugins?)')


# --- node kinds (services: no rollback, CRI proven on the kind's socket) ---------------------------

KIND_SOCKET = '/run/k3s/containerd/containerd.sock'


class StandInKindNode:
    """systemd and the kind's containerd: each unit restart is recorded; failing_units fail in
    systemd; cri: what `ctr plugins ls` on KIND_SOCKET answers ('ok', 'error', or 'down')."""

    def __init__(self, cri='ok', failing_units=()):
        self.restarted = []
        self.cri = cri
        self.failing_units = failing_units

    def restart_units(self, units):
        said = []
        for unit in units:
            if unit in self.failing_units:
                return said + [{'unit': unit, 'rc': 1, 'error': 'Job for %s.service failed.' % unit}]
            self.restarted.append(unit)
            said.append({'unit': unit, 'rc': 0, 'error': ''})
        return said

    def cri_plugins(self, address):
        assert address == KIND_SOCKET, address
        if self.cri == 'down':
            return {'rc': 1, 'stdout': '', 'stderr': 'ctr: failed to dial "%s": no such file or directory\n'
                                                     % KIND_SOCKET}
        return {'rc': 0, 'stderr': '', 'stdout': PLUGINS_HEADER + (
            'io.containerd.grpc.v1                  cri                      linux/amd64    %s        \n' % self.cri)}


def kind_args(**args):
    return dict(dict(services=['rke2-server', 'rke2-helper'], address=KIND_SOCKET, timeout=1), **args)


def test_a_kinds_services_restart_in_order_and_cri_is_proven_on_its_socket(run_action):
    run_action.node = StandInKindNode()
    result = run_action('containerd_restart', kind_args())
    assert 'failed' not in result, result['msg']
    assert result['changed'] and result['restarted'] and result['cri_ready'] and not result['rolled_back']
    assert run_action.node.restarted == ['rke2-server', 'rke2-helper']
    assert step_names(run_action) == ['restart']  # no file read or written
    assert result['msg'].startswith('rke2-server, rke2-helper restarted; containerd serves CRI on %s after'
                                    % KIND_SOCKET)


def test_a_kinds_cri_that_never_comes_back_fails_and_says_the_files_stay(run_action):
    run_action.node = StandInKindNode(cri='down')
    result = run_action('containerd_restart', kind_args(), task_vars={'inventory_hostname': 'node-1'})
    assert result['failed'] and result['changed'] and result['cri_ready'] is False and not result['rolled_back']
    assert run_action.node.restarted == ['rke2-server', 'rke2-helper']  # once each: nothing to restart again
    assert step_names(run_action) == ['restart']
    assert result['msg'] == (
        'containerd on node-1 did not come back with its CRI plugin on %s after restarting rke2-server, '
        'rke2-helper: it did not answer on %s within 1s: ctr: failed to dial "%s": no such file or directory. '
        'Nothing was rolled back: the files the node kind\'s adapter wrote stay written. Remove them with the '
        'peerpull.spegel.uninstall playbook, or fix them by hand and restart rke2-server, rke2-helper; see '
        'journalctl -u rke2-server -u rke2-helper.' % (KIND_SOCKET, KIND_SOCKET, KIND_SOCKET))


def test_a_kinds_cri_plugin_in_error_is_named(run_action):
    run_action.node = StandInKindNode(cri='error')
    result = run_action('containerd_restart', kind_args(services=['k3s']))
    assert result['failed'] and 'it answered, but its CRI plugin did not load: io.containerd.grpc.v1 cri ' \
        'linux/amd64 error' in result['msg']


def test_a_kinds_unit_that_systemd_cannot_restart_stops_the_rest(run_action):
    run_action.node = StandInKindNode(failing_units=('rke2-server',))
    result = run_action('containerd_restart', kind_args())
    assert result['failed'] and run_action.node.restarted == [] and step_names(run_action) == ['restart']
    assert 'after restarting rke2-server, rke2-helper: systemd could not restart rke2-server: Job for ' \
        'rke2-server.service failed.' in result['msg']


def test_a_kind_in_check_mode_restarts_nothing(run_action):
    run_action.node = StandInKindNode()
    result = run_action('containerd_restart', kind_args(), check_mode=True)
    assert result['changed'] and not result['restarted'] and result['cri_ready'] is None
    assert result['msg'] == ('check mode: rke2-server, rke2-helper would be restarted, in this order, and '
                             'containerd must come back with CRI on %s.' % KIND_SOCKET)
    assert run_action.steps == []


def test_a_kind_without_units_restarts_nothing_and_waits_for_cri(run_action):
    run_action.node = StandInKindNode()
    result = run_action('containerd_restart', kind_args(services=[]))
    assert 'failed' not in result and not result['changed'] and not result['restarted'] and result['cri_ready']
    assert step_names(run_action) == ['cri']
    down = StandInKindNode(cri='down')
    run_action.node = down
    failed = run_action('containerd_restart', kind_args(services=[]))
    assert failed['failed'] and not failed['changed'] and 'after the change (no unit to restart)' in failed['msg']


def test_a_kind_without_restart_does_nothing(run_action):
    run_action.node = StandInKindNode()
    result = run_action('containerd_restart', kind_args(restart=False))
    assert 'failed' not in result and not result['changed'] and run_action.steps == []


def test_services_with_a_rollback_option_are_refused_before_anything_runs(run_action):
    run_action.node = StandInKindNode()
    for rollback in (dict(revert=True), dict(was_absent=True), dict(previous_config='/x~')):
        result = run_action('containerd_restart', kind_args(**rollback))
        assert result['failed'] and not result['changed']
        assert 'leave previous_config, was_absent and revert unset' in result['msg']
    assert run_action.steps == []
