# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whether the running containerd loaded its config files, whether it came back with CRI
after a restart, and the words for what happened (the containerd_restart action plugin)."""

from __future__ import annotations

import datetime
import re

from ansible_collections.peerpull.spegel.plugins.module_utils._cri import cri_loaded

ADDRESS = '/run/containerd/containerd.sock'
_CRI_WORD = re.compile(r'\bcri\b')


class CriAnswer:
    """Whether containerd answers on a socket with its CRI plugin loaded: the one judgement of
    node_files' cri_plugins probe (one `ctr plugins ls`), for the restart's come-back poll and
    for verify's cri check."""

    def __init__(self, probe):
        probe = probe or {}
        self.address = probe.get('address') or '?'
        self.rc = probe.get('rc')
        self.stdout = probe.get('stdout') or ''
        self.stderr = probe.get('stderr') or ''
        self.skipped = probe.get('skipped')

    @property
    def ready(self):
        return cri_loaded(self.rc, self.stdout)

    def _not_loaded(self):
        """The CRI plugin's line and the CRI lines not ok (the cause on 2.x), or that it is not listed."""
        cri_lines = [' '.join(line.split()) for line in self.stdout.splitlines() if _CRI_WORD.search(line)]
        named = [line for line in cri_lines if line.startswith('io.containerd.grpc.v1 cri ')
                 or not line.endswith(' ok')]
        return '; '.join(named) or '`ctr plugins ls` does not list it (disabled_plugins?)'

    def failure(self, timeout):
        """Why containerd is not back after a restart."""
        if self.skipped:
            return 'it could not be asked on %s: %s' % (self.address, self.skipped)
        if self.rc != 0:
            return 'it did not answer on %s within %ss: %s' % (self.address, timeout, self.stderr.strip())
        return 'it answered, but its CRI plugin did not load: %s' % self._not_loaded()

    def check(self):
        """verify's cri check: {ok, detail}, the detail naming the socket."""
        if self.ready:
            detail = 'containerd answers on %s with its CRI plugin loaded' % self.address
        elif self.skipped:
            detail = 'containerd on %s could not be asked: %s' % (self.address, self.skipped)
        elif self.rc != 0:
            detail = 'containerd does not answer on %s: %s' % (
                self.address, self.stderr.strip() or 'ctr exited with %s' % self.rc)
        else:
            detail = 'containerd answers on %s, but its CRI plugin is not loaded: %s' % (
                self.address, self._not_loaded())
        return {'ok': self.ready, 'detail': detail}


def failure_message(host, path, service_name, why, put_back, ready_again):
    """The failed task's message: what broke, what was put back (put_back: a sentence that ends
    where 'and containerd was restarted' follows), and whether the node runs again."""
    return ('containerd on %s did not come back with its CRI plugin after %s changed: %s. %s and containerd '
            'was restarted: %s' % (
                host, path, why, put_back,
                'it runs again with CRI, so the node keeps working as before; see journalctl -u %s for what the '
                'new configuration broke.' % service_name if ready_again else
                'it STILL does not answer with CRI - this node needs attention now (journalctl -u %s).'
                % service_name))


def kind_plan_sentence(services, address):
    """What containerd_restart does for a node kind (check mode's message)."""
    if not services:
        return 'nothing to restart (the kind restarts its containerd itself); containerd must answer with CRI on %s.' \
            % address
    return '%s would be restarted, in this order, and containerd must come back with CRI on %s.' % (
        ', '.join(services), address)


def kind_failure_message(host, services, address, why):
    """The failed task's message for a node kind: nothing is put back, so say what stays and the ways out."""
    units = ', '.join(services)
    return ('containerd on %s did not come back with its CRI plugin on %s after %s: %s. Nothing was rolled back: '
            'the files the node kind\'s adapter wrote stay written. Remove them with the peerpull.spegel.uninstall '
            'playbook, or fix them by hand and restart %s; see %s.' % (
                host, address, 'restarting %s' % units if services else 'the change (no unit to restart)', why,
                units or 'the node\'s containerd',
                'journalctl -u %s' % ' -u '.join(services) if services else 'the kind\'s own log'))


def put_back_sentence(path, restored_from=None, removed=False, error=None):
    if error:
        return 'Putting back the previous %s FAILED (%s),' % (path, error)
    if restored_from:
        return 'The previous configuration was restored from %s' % restored_from
    if removed:
        return 'The new %s was removed (there was none before)' % path
    return ('This run did not change %s (the restart loaded changes made before), so there was nothing to put '
            'back,' % path)


# --- did the running containerd load the files? ---------------------------------------------

def restart_state(service, changes):
    """Whether the running containerd loaded its config files as they are now.

    service: node_files' `service` ({name, active_state, started_us, now_us, error?});
    changes: [(path, mtime_us)] of the config file and its drop-ins that exist, on the same
    (node's wall) clock as started_us. The one comparison behind the module's
    restart_pending and the verify playbook's `restarted` check.
    """
    state = {'name': service.get('name'), 'active_state': service.get('active_state'),
             'started_at': _iso(service.get('started_us')), 'last_change_at': None, 'last_change_file': None,
             'restart_pending': False, 'up_to_date': False}
    changes = [(path, mtime) for path, mtime in changes if mtime is not None]
    started = service.get('started_us')
    if changes:
        path, mtime = max(changes, key=lambda change: change[1])
        state.update(last_change_at=_iso(mtime), last_change_file=path)
    if service.get('error'):
        state['detail'] = 'systemd cannot tell when %s started: %s' % (state['name'], service['error'])
    elif state['active_state'] != 'active':
        state['detail'] = '%s is %s' % (state['name'], state['active_state'] or 'unknown')
    elif not changes:
        state['detail'] = 'no config file to load'
    elif started is None:
        state['detail'] = '%s is active but systemd has no start time for it' % state['name']
    elif service.get('now_us') is not None and mtime > service['now_us']:
        # A restart could never start after it: no endless restarts for a skewed file date.
        state['detail'] = 'cannot tell: %s is dated %.1fs in the future (fix its date, e.g. touch it)' % (
            path, (mtime - service['now_us']) / 1e6)
    elif mtime > started:
        state['restart_pending'] = True
        state['detail'] = 'restart pending: %s changed %.1fs after %s started' % (
            path, (mtime - started) / 1e6, state['name'])
    else:
        state['up_to_date'] = True
        state['detail'] = 'started %.1fs after the last change of %s' % ((started - mtime) / 1e6, path)
    return state


def _iso(microseconds):
    if microseconds is None:
        return None
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=microseconds)
    return moment.isoformat().replace('+00:00', 'Z')
