# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_effective import (
    settings_from_dump, wanted_settings,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import CONFIG_FILE, HOSTS_DIR
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_restart import CriAnswer
from ansible_collections.peerpull.spegel.plugins.action import containerd_hosts
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _kinds as kinds
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node
from ansible_collections.peerpull.spegel.plugins.plugin_utils._action_base import ActionModuleBase, fail
from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import Options
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_containerd import ContainerdKind, report_effective
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import require_absolute


class ActionModule(ActionModuleBase):

    ARGUMENT_SPEC = dict(
        ContainerdKind.OPTIONS,
        hosts_dir=dict(type='path', default=HOSTS_DIR),
        containerd_version=dict(type='str'),
        use_local_image_pull=dict(type='bool'),
        node_kind=dict(type='str', default=kinds.AUTO),
        cri_address=dict(type='path'),
        hosts_options=dict(type='dict'),
        reuse_read=dict(type='bool', default=False),
    )

    def run_action(self, args, task_vars, result):
        # CRI's answer (cri_address) is of the moment: never kept.
        reuse = args['reuse_read'] and not args['cri_address']
        node.reusing_read(lambda reuse: self._configure(args, task_vars, result, reuse), result, reuse)

    def _configure(self, args, task_vars, result, reuse):
        path = require_absolute(args['path'], 'path', CONFIG_FILE)
        hosts_dir = str(args['hosts_dir'])
        if not hosts_dir.startswith('/') or ':' in hosts_dir:
            raise SpegelError('hosts_dir must be ONE absolute directory such as /etc/containerd/certs.d, got %r '
                              '(containerd >= 2.1 ignores hosts.toml files under a colon-separated list).'
                              % hosts_dir)
        node_kind = args['node_kind']
        if node_kind != kinds.AUTO and kinds.adapter_for(node_kind, 'node_kind', [kinds.AUTO] + sorted(kinds.KINDS)) is not ContainerdKind:
            raise SpegelError('node_kind %s: this module patches plain containerd\'s config.toml; a %s node is '
                              'configured by peerpull.spegel.node_config with kind=%s (the containerd role does '
                              'that with spegel_node_kind: %s). Nothing was changed.'
                              % (node_kind, node_kind, node_kind, node_kind))
        spec = Options(hosts_dir=hosts_dir, containerd_version=args['containerd_version'],
                       use_local_image_pull=args['use_local_image_pull'])
        adapter = ContainerdKind(**{name: args[name] for name in ContainerdKind.OPTIONS})
        # verify's CRI check, in the same round trip as the reads.
        if args['cri_address']:
            require_absolute(args['cri_address'], 'cri_address', '/run/containerd/containerd.sock')
        probes = dict(cri_plugins=args['cri_address']) if args['cri_address'] else {}
        hosts = HostsPlan(args['hosts_options'], hosts_dir)
        state = node.read_for(self, task_vars, adapter, spec, exists=kinds.all_marks(), also=hosts.reads,
                              reuse=reuse, **probes)
        with node.judged_now(state):
            if args['cri_address']:
                result['cri'] = CriAnswer(state.cri_plugins).check()
            detected = kinds.detect(state.present)
            refusal = kinds.refusal(state.present)
            if refusal and node_kind == kinds.AUTO:
                raise SpegelError(refusal)
            plan = adapter.plan(spec, state)
            if hosts.options is not None:
                result['hosts_plan'] = hosts.plan(state)
            # Outside check mode the hosts.toml changes ride on the config's write round trip.
            carried = hosts.carried(plan) if hosts.options is not None and not self._task.check_mode else []

            node.act_on(state, plan.changes or carried)
            result.update(plan.facts, changed=bool(plan.changes or carried), backup_file=None,
                          detected_node_kinds=detected, reused_read=state.kept,
                          restart_required=any(change.restart for change in plan.changes),
                          validated=bool(any(change.validate for change in plan.changes) and not self._task.check_mode))
            warnings = list(plan.warnings)
            if refusal:
                warnings.append('node_kind containerd: config.toml is patched although this node shows the marks '
                                'of %s.' % ', '.join(name for name in detected if name != kinds.FALLBACK))
            if hosts.options is not None:
                warnings += result['hosts_plan'].pop('warnings', [])
            if warnings:
                result['warnings'] = warnings
            if self._task.diff and result['changed']:
                result['diff'] = [node.file_diff(change.path, adapter.redact(change.path, change.before.text),
                                                 adapter.redact(change.path, change.after,
                                                                before=change.before.text or ''))
                                  for change in plan.changes if change.path not in adapter.markers()]
                result['diff'] += [change['diff'] for change in carried if change['diff']]
            if not result['changed'] or self._task.check_mode:
                return
            writes, removes = node.change_writes(plan.changes)
            writes += [change['write'] for change in carried if change.get('write')]
            removes += [change['remove'] for change in carried if change.get('remove')]
            try:
                # containerd's dump of the new file is judged before the file replaces the old one.
                validate_first = [write for write in writes if write.get('validate')]
                if validate_first:
                    staged = node.validate(self, task_vars, writes=validate_first)
                    dumped = settings_from_dump(staged[0]['validate_stdout'], path)
                    report_effective(result, dumped, None, wanted_settings(hosts_dir, spec.use_local_image_pull),
                                     path)
                    if result.get('failed') and state.kept:
                        raise node.StaleKeptRead()  # judged again from a read of now
                written = None if result.get('failed') else node.write(
                    self, task_vars, writes=writes, removes=removes, planned_from=state)
            except SpegelError as exc:
                # Files stay changed (the message names them): reported as a change. From a kept
                # read, a failure known to have changed nothing is judged again (judged_now).
                if exc.changed or (state.kept and exc.changed is False):
                    raise
                fail(result, exc)
                written = None
            if written is None:
                # Nothing was written: report the node as it still is.
                result.update(adapter.as_found(state), changed=False, restart_required=False, hosts_files=[])
                result.pop('diff', None)
                if carried:
                    result['hosts_plan'].update(written=False, not_written='the config.toml change was not written')
                return
            by_path = {entry['path']: entry for entry in written}
            result['backup_file'] = by_path.get(path, {}).get('backup_file')
            hosts.report_written(result, carried, by_path)


class HostsPlan:
    """hosts_options: what containerd_hosts would change with those options, planned from the read
    of this task's own round trip, and, outside check mode, written in its write round trip. A
    refused option, or a hosts.toml file that cannot be planned, fails the task before anything
    changes, as containerd_hosts would fail (site's plan: before containerd is touched)."""

    def __init__(self, options, config_hosts_dir):
        self.options = options
        self.args = self.request = self.result = None
        self.changes = []
        self.reads = {}
        if options is None:
            return
        self.args = kinds.checked_options(containerd_hosts.ActionModule.ARGUMENT_SPEC, options, 'hosts_options')
        reason = containerd_hosts.skip_reason(self.args)
        if reason:
            self.result = dict(changed=False, skipped=True, files={}, skip_reason=reason)
            return
        if str(self.args['hosts_dir']).rstrip('/') != config_hosts_dir.rstrip('/'):
            raise SpegelError('hosts_options: hosts_dir %s is not the hosts_dir containerd reads (%s): the hosts.toml '
                              'files would never be used. Give both the same directory (the roles: leave '
                              'mirror_hosts_dir unset, or equal to containerd_hosts_dir); nothing was changed.'
                              % (self.args['hosts_dir'], config_hosts_dir))
        self.request = containerd_hosts.plan_options(self.args)
        self.reads = containerd_hosts.node_reads(self.request)

    def plan(self, state):
        """The plan as containerd_hosts reports it in check mode, without diff or probe."""
        if self.result is None:
            self.result, self.changes = containerd_hosts.plan_files(self.args, self.request, state, diff=False)
        return self.result

    def carried(self, config_plan):
        """The planned hosts.toml changes to write with the config, or none, and then why in the
        result (written: false, not_written): containerd_hosts writes them in its own task."""
        if not self.changes or not self.result['changed']:
            return []
        why = None
        if config_plan.facts.get('hosts_files'):
            why = 'the config.toml change moves legacy mirrors into hosts.toml files first'
        elif self.args['state'] != 'present' or self.args['probe']:
            why = 'state absent and probe are containerd_hosts\' own'
        if why:
            self.result.update(written=False, not_written=why)
            return []
        return [change for change in self.changes if change['changed']]

    @staticmethod
    def report_written(result, carried, by_path):
        """hosts_plan says the carried files were written, with their backups as containerd_hosts
        reports them."""
        if not carried:
            return
        result['hosts_plan']['written'] = True
        for change in carried:
            backup = by_path.get(change['path'], {}).get('backup_file')
            if backup:
                result['hosts_plan']['files'][change['registry']]['backup_file'] = backup
