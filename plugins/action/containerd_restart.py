# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Restart containerd and prove it came back with CRI, or put the previous configuration back
(the shape of ansible.builtin.reboot: do it, poll with a timeout, report)."""

from __future__ import annotations

import time

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    CONFIG_FILE, CREATED_SUFFIX, ORIGINAL_SUFFIX, SERVICE_NAME,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _containerd_restart as restart
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node
from ansible_collections.peerpull.spegel.plugins.plugin_utils._action_base import ActionModuleBase
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_plan import edits_beyond_the_plan
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_secrets, require_absolute


class RestartFailed(SpegelError):
    changed = True  # containerd was restarted (and maybe a file put back): not undone by failing


class Rollback:
    """What goes back when containerd does not come back: the content of previous_config over
    path, or, when path did not exist before (was_absent), no file at all."""

    def __init__(self, previous_config=None, was_absent=False):
        self.previous_config = previous_config
        self.was_absent = was_absent


class ActionModule(ActionModuleBase):

    ARGUMENT_SPEC = dict(
        path=dict(type='path', default=CONFIG_FILE),
        service_name=dict(type='str', default=SERVICE_NAME),
        address=dict(type='path', default=restart.ADDRESS),
        timeout=dict(type='int', default=60),
        previous_config=dict(type='path'),
        was_absent=dict(type='bool', default=False),
        revert=dict(type='bool', default=False),
        extra_settings=dict(type='list', elements='raw', default=[]),
        restart=dict(type='bool', default=True),
        services=dict(type='list', elements='str'),
    )

    def run_action(self, args, task_vars, result):
        path = require_absolute(args['path'], 'path', CONFIG_FILE)
        previous = args['previous_config'] or None
        if previous:
            require_absolute(previous, 'previous_config', path + '.1234.2026-01-01@00:00:00~')
        if args['timeout'] < 1:
            raise SpegelError('timeout must be at least 1 (seconds to wait for CRI), got %d; nothing was restarted.'
                              % args['timeout'])
        if previous and args['was_absent']:
            raise SpegelError('previous_config and was_absent=true contradict each other: give previous_config when '
                              '%s existed before the change, was_absent=true when it did not; nothing was restarted.'
                              % path)
        if args['revert'] and (previous or args['was_absent']):
            raise SpegelError('revert=true finds what to restore itself: leave previous_config and was_absent unset; '
                              'nothing was restarted.')
        if args['services'] is not None and (previous or args['was_absent'] or args['revert']):
            raise SpegelError('services names the units of a node kind, whose files containerd_restart does not '
                              'put back: leave previous_config, was_absent and revert unset with it (service_name '
                              'and path are for plain containerd); nothing was restarted.')
        result.update(changed=False, restarted=False, elapsed=0.0, cri_ready=None, rolled_back=False,
                      restored=None, removed=False, path=path)
        if args['services'] is not None:
            if args['restart']:
                self._restart_kind(args['services'], args['address'], args['timeout'], task_vars, result)
            return

        rollback = Rollback(previous, args['was_absent'])
        cleanup = [previous] if previous else []  # only served the rollback: removed once CRI is back
        if args['revert']:
            change = self._revert(path, args, task_vars, result)
            if change is None:
                return
            rollback, cleanup = change
        if not args['restart']:
            return
        result['changed'] = True
        if self._task.check_mode:
            result['msg'] = 'check mode: %s would be restarted and must come back with CRI.' % args['service_name']
            return
        self._restart_and_prove(path, args, rollback, cleanup, task_vars, result)

    def _revert(self, path, args, task_vars, result):
        """Put back what containerd_config found before its first change: the saved original over
        path, or no file where it created one. Returns (rollback, cleanup) when containerd must
        restart for it, else None (done, or nothing to do). Refused, changing nothing, when path
        was edited since beyond what containerd_config sets: putting back would lose that edit."""
        restarting, service_name = args['restart'], args['service_name']
        original_path, marker_path = path + ORIGINAL_SUFFIX, path + CREATED_SUFFIX
        state = node.read(self, task_vars, paths=[path, original_path, marker_path])
        current, original, marker = state.file(path), state.file(original_path), state.file(marker_path)
        leftovers = [p for p, kept in ((original_path, original), (marker_path, marker)) if kept.exists]
        if current.exists and (original.exists or marker.exists):
            edited = edits_beyond_the_plan(original.text if original.exists else '', current.text,
                                           args['extra_settings'], path)
            if edited and original.exists:
                raise SpegelError(
                    '%s was changed since this collection wrote it, beyond the Spegel settings (%s); putting back '
                    '%s would lose that. Make the same change in %s and run again, or take the Spegel settings out '
                    'of %s by hand and delete %s; nothing was changed.'
                    % (path, ', '.join(edited), original_path, original_path, path, ', '.join(leftovers)))
            if edited:
                raise SpegelError(
                    '%s, which this collection created, was changed since (%s); removing it would lose that. Take '
                    'the Spegel settings out by hand and delete %s; nothing was changed.'
                    % (path, ', '.join(edited), marker_path))
        writes, removes, after = [], [], current.text
        if original.exists and original.text != current.text:
            writes.append(dict(path=path, content=original.text, mode=original.mode, owner=original.owner,
                               group=original.group, backup=restarting, create_parents=True,
                               expected_checksum=current.checksum))
            result['restored'], after = original_path, original.text
        elif marker.exists and not original.exists and current.exists:
            removes.append(dict(path=path, backup=restarting, expected_checksum=current.checksum))
            result['removed'], after = True, None
        if not leftovers:
            result['msg'] = ('nothing to put back: neither %s nor %s exists (containerd_keep_original was false, or this '
                             'collection never changed %s); Spegel settings in %s, if any, stay.'
                             % (original_path, marker_path, path, path))
            return None
        changed = bool(writes or removes)
        result['changed'] = True
        if changed and self._task.diff:
            result['diff'] = [node.file_diff(path, redact_secrets(current.text, path),
                                             redact_secrets(after, path, before=current.text or ''))]
        if not (changed and restarting):
            if changed:
                result['msg'] = '%s was put back; restart %s to load it.' % (path, service_name)
            if not self._task.check_mode:
                # Nothing for containerd to load, or its restart is left to the user: one round trip.
                node.write(self, task_vars, writes=writes, removes=removes + [dict(path=p) for p in leftovers])
            return None
        if self._task.check_mode:
            return Rollback(), []
        written = node.write(self, task_vars, writes=writes, removes=removes)
        rollback_copy = {entry['path']: entry for entry in written}.get(path, {}).get('backup_file')
        # The saved original and the marker go only once containerd runs the original again.
        return Rollback(rollback_copy, was_absent=not current.exists), [p for p in [rollback_copy] + leftovers if p]

    def _restart_and_prove(self, path, args, rollback, cleanup, task_vars, result):
        service, address, timeout = args['service_name'], args['address'], args['timeout']
        start = time.monotonic()
        answer, why = self._restart([service], address, timeout, task_vars, result, cleanup)
        result.update(restarted=True, cri_ready=answer.ready if answer else False,
                      elapsed=round(time.monotonic() - start, 1))
        if answer and answer.ready:
            result['msg'] = '%s restarted and serves CRI after %.1fs.' % (service, result['elapsed'])
            return

        if answer:
            why = answer.failure(timeout)
        error = None
        try:
            self._put_back(path, rollback, task_vars, result)
        except SpegelError as exc:
            error = str(exc)
        again, _why = self._restart([service], address, timeout, task_vars, result)
        result.update(rolled_back=True, cri_ready=bool(again and again.ready),
                      elapsed=round(time.monotonic() - start, 1))
        put_back = restart.put_back_sentence(path, result['restored'], result['removed'] and rollback.was_absent,
                                             error)
        raise RestartFailed(restart.failure_message(task_vars.get('inventory_hostname', 'this node'), path, service,
                                                    why, put_back, result['cri_ready']))

    def _restart_kind(self, services, address, timeout, task_vars, result):
        """A node kind's units, restarted in order, then CRI proven on the kind's socket. Nothing
        is put back (the adapter keeps no previous file). No units (k0s restarts its containerd
        itself when a drop-in changes): CRI is only awaited on address."""
        result['changed'] = bool(services)
        if self._task.check_mode:
            result['msg'] = 'check mode: %s' % restart.kind_plan_sentence(services, address)
            return
        start = time.monotonic()
        answer, why = self._restart(services, address, timeout, task_vars, result)
        result.update(restarted=bool(services), cri_ready=bool(answer and answer.ready),
                      elapsed=round(time.monotonic() - start, 1))
        if answer and answer.ready:
            result['msg'] = '%s; containerd serves CRI on %s after %.1fs.' % (
                '%s restarted' % ', '.join(services) if services else 'nothing to restart', address, result['elapsed'])
            return
        failure = restart.kind_failure_message(task_vars.get('inventory_hostname', 'this node'), services, address,
                                               why or answer.failure(timeout))
        raise RestartFailed(failure) if services else SpegelError(failure)

    def _restart(self, services, address, timeout, task_vars, result, cleanup=()):
        """One round trip: the node restarts the units in order, asks until containerd serves CRI
        on address or timeout seconds passed, and then removes cleanup (the paths that only served a
        rollback). Returns (the CriAnswer, None), or (None, why) when systemd could not restart a
        unit (the units after it are left as they are)."""
        removes = [dict(path=path) for path in cleanup]
        try:
            answered = node.run_node_files(self, task_vars, restart=list(services), cri_plugins=address,
                                           cri_wait=timeout, cri_required=bool(removes), remove=removes)
        except SpegelError as exc:
            if not removes:
                raise
            # The removal comes only after the restart and CRI's answer; asked again, that answer
            # decides, and a copy left behind is no reason to fail.
            result.setdefault('warnings', []).append('%s could not be removed: %s' % (', '.join(cleanup), exc))
            answered = node.run_node_files(self, task_vars, cri_plugins=address)
        failed = [unit for unit in answered.get('restarted', []) if unit['rc'] != 0]
        if failed:
            return None, 'systemd could not restart %s: %s' % (failed[0]['unit'], failed[0]['error'])
        return restart.CriAnswer(answered['cri_plugins']), None

    def _put_back(self, path, rollback, task_vars, result):
        if rollback.previous_config:
            saved = node.read(self, task_vars, paths=[rollback.previous_config]).file(rollback.previous_config)
            if not saved.exists:
                raise SpegelError('%s, the copy to restore, no longer exists' % rollback.previous_config)
            node.write(self, task_vars, writes=[dict(path=path, content=saved.text, mode=saved.mode,
                                                     create_parents=True)])
            result.update(restored=rollback.previous_config, removed=False)
        elif rollback.was_absent:
            node.write(self, task_vars, removes=[dict(path=path)])
            result.update(restored=None, removed=True)
