# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _kinds as kinds
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node
from ansible_collections.peerpull.spegel.plugins.plugin_utils._action_base import ActionModuleBase
from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import Options
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_restart import CriAnswer, restart_state
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError

# The distribution-neutral spec (_artefacts.Options), named as the mirror and containerd
# roles' variables name them without their prefix.
SPEC_OPTIONS = dict(
    registries=dict(type='list', elements='str'),
    ports=dict(type='list', elements='int'),
    urls=dict(type='list', elements='str'),
    capabilities=dict(type='list', elements='str'),
    dial_timeout=dict(type='str'),
    authorization=dict(type='raw', no_log=True),
    hosts_dir=dict(type='path'),
    node_ip=dict(type='str'),
    containerd_version=dict(type='str'),
    use_local_image_pull=dict(type='bool'),
    server=dict(type='dict'),
)

# What only a hosts.toml carries: a kind that leaves hosts.toml to containerd_hosts
# (writes_hosts_toml) would take them and silently drop them.
HOSTS_TOML_OPTIONS = ('urls', 'capabilities', 'dial_timeout', 'authorization', 'server')


class ActionModule(ActionModuleBase):

    ARGUMENT_SPEC = dict(
        SPEC_OPTIONS,
        kind=dict(type='str', required=True),
        kind_options=dict(type='dict', default={}),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        verify=dict(type='bool', default=False),
        reuse_read=dict(type='bool', default=False),
    )

    def run_action(self, args, task_vars, result):
        # verify's answers (CRI, the unit's start) are of the moment: never kept.
        reuse = args['reuse_read'] and not args['verify']
        node.reusing_read(lambda reuse: self._configure(args, task_vars, result, reuse), result, reuse)

    def _configure(self, args, task_vars, result, reuse):
        adapter = _adapter(args['kind'], args['kind_options'])
        if adapter.writes_hosts_toml:
            _refuse_hosts_toml_options(adapter, args)
        spec = Options(**{name: args[name] for name in SPEC_OPTIONS})
        if args['verify'] and args['state'] != 'present':
            raise SpegelError('verify: true checks a node readied with state: present; leave it unset with state: '
                              'absent. Nothing was changed.')
        # verify: containerd asked on the kind's socket in the same round trip as the reads.
        probes = dict(cri_plugins=adapter.cri_address) if args['verify'] else {}
        state = node.read_for(self, task_vars, adapter, spec, exists=kinds.all_marks(), reuse=reuse, **probes)
        with node.judged_now(state):
            if args['verify']:
                result['cri'] = CriAnswer(state.cri_plugins).check()
            # absent: the adapter's revert() removes exactly what its plan() added.
            plan = adapter.plan(spec, state) if args['state'] == 'present' else adapter.revert(spec, state)
            changes = list(plan.changes)
            node.act_on(state, changes)
            detected = kinds.detect(state.present)
            warnings = list(plan.warnings)
            if adapter.marks and adapter.name not in detected:
                warnings.append('kind %s: none of its marks (%s) is on this node; is it a %s node?'
                                % (adapter.name, ', '.join(adapter.marks), adapter.name))
            result.update(changed=bool(changes), kind=adapter.name, detected_node_kinds=detected,
                          reused_read=state.kept, files=[change.path for change in changes],
                          restart_required=any(change.restart for change in changes),
                          services=list(adapter.services), cri_address=adapter.cri_address,
                          facts=plan.facts)
            if warnings:
                result['warnings'] = warnings
            if args['verify']:
                result['loaded'] = _loaded(self, task_vars, adapter, spec, state)
            if self._task.diff and changes:
                result['diff'] = [node.file_diff(change.path, adapter.redact(change.path, change.before.text),
                                                 adapter.redact(change.path, change.after,
                                                                before=change.before.text or ''))
                                  for change in changes]
            if changes and not self._task.check_mode:
                writes, removes = node.change_writes(changes)
                try:
                    node.write(self, task_vars, writes=writes, removes=removes, planned_from=state)
                except SpegelError as exc:
                    if not exc.changed:  # nothing was written: report the node as it still is
                        result.update(files=[], restart_required=False, facts=dict(plan.facts, **adapter.as_found(state)))
                    raise


def _loaded(action, task_vars, adapter, spec, state):
    """Whether the running containerd loaded the adapter's files: the start of the kind's unit
    against their last change (one more round trip), as containerd_config's restart_pending; for
    a kind without such a unit, up_to_date null and the reason. files: the adapter's files."""
    unit, paths, why = adapter.loaded_by(spec, state)
    if unit is None:
        return {'up_to_date': None, 'restart_pending': False, 'detail': why, 'files': paths}
    service = node.read(action, task_vars, service_started=unit).service
    loaded = restart_state(service, [(path, state.file(path).mtime_us) for path in paths
                                     if path in state.files and state.file(path).exists])
    return dict(loaded, files=paths)


def _refuse_hosts_toml_options(adapter, args):
    """Options the adapter would ignore: on this kind they belong to containerd_hosts (names only:
    authorization's value is never shown)."""
    given = [name for name in HOSTS_TOML_OPTIONS if args[name] not in (None, '', [], {})]
    if given:
        raise SpegelError(
            '%s: kind %s writes only containerd\'s configuration; the hosts.toml files carry these, and '
            'peerpull.spegel.containerd_hosts writes them (the mirror role: %s). Set them there and leave them '
            'out here. Nothing was changed.'
            % (', '.join(given), adapter.name, ', '.join('mirror_' + name for name in given)))


def _adapter(name, options):
    """The over-SSH adapter registered as name, made with its kind_options checked against its OPTIONS."""
    return kinds.configured(kinds.adapter_for(name, 'kind', kinds.over_ssh()), options)
