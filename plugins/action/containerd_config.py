# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import shlex

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _containerd as containerd
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_toml as hosts_toml
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node
from ansible_collections.peerpull.spegel.plugins.plugin_utils._action_base import ActionModuleBase, fail
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import (
    parse_plain, redact_secrets, require_absolute,
)


class ActionModule(ActionModuleBase):

    ARGUMENT_SPEC = dict(
        path=dict(type='path', default=containerd.CONFIG_FILE),
        hosts_dir=dict(type='path', default=containerd.HOSTS_DIR),
        containerd_version=dict(type='str'),
        use_local_image_pull=dict(type='bool'),
        enable_cri=dict(type='bool', default=False),
        migrate_mirrors=dict(type='bool', default=True),
        extra_settings=dict(type='list', elements='dict', default=[]),
        backup=dict(type='bool', default=False),
        keep_original=dict(type='bool', default=True),
        validate=dict(type='bool', default=True),
        service_name=dict(type='str', default=containerd.SERVICE_NAME),
    )

    def run_action(self, args, task_vars, result):
        outcome = self._plan(args, task_vars)
        result.update(outcome.result)
        if self._task.diff and result['changed']:
            result['diff'] = outcome.diffs
        if not result['changed'] or self._task.check_mode:
            return
        try:
            # containerd's dump of the new file is judged before the file replaces the old one.
            if outcome.validate_first:
                staged = node.validate(self, task_vars, writes=outcome.validate_first)
                dumped = containerd.settings_from_dump(staged[0]['validate_stdout'], result['path'])
                _report_effective(result, dumped, None, outcome.wanted, result['path'])
            written = None if result.get('failed') else node.write(self, task_vars, writes=outcome.writes)
        except SpegelError as exc:
            if exc.changed:
                raise  # files stay changed (the message names them): reported as a change
            fail(result, exc)
            written = None
        if written is None:
            # Nothing was written: report the node as it still is.
            result.update(changed=False, restart_required=False, hosts_files=[],
                          original_file=outcome.original_before, created=outcome.created_before)
            result.pop('diff', None)
            return
        config = {entry['path']: entry for entry in written}.get(result['path'], {})
        result['backup_file'] = config.get('backup_file')

    def _plan(self, args, task_vars):
        path = require_absolute(args['path'], 'path', containerd.CONFIG_FILE)
        hosts_dir = str(args['hosts_dir'])
        if not hosts_dir.startswith('/') or ':' in hosts_dir:
            raise SpegelError('hosts_dir must be ONE absolute directory such as /etc/containerd/certs.d, got %r '
                              '(containerd >= 2.1 ignores hosts.toml files under a colon-separated list).'
                              % hosts_dir)
        original_path = path + containerd.ORIGINAL_SUFFIX
        created_path = path + containerd.CREATED_SUFFIX
        first = node.run_node_files(self, task_vars, read=[path, original_path, created_path],
                                    containerd_version=True, config_dump=path if args['validate'] else None,
                                    service_started=args['service_name'] or None)
        state = node.NodeState(first)
        current = state.file(path)
        binary = state.containerd.get('path') or ''
        version = state.containerd_version(args['containerd_version'])

        plan = containerd.ConfigPlan(current.text_or_empty, path, version).apply(
            hosts_dir=hosts_dir, enable_cri=args['enable_cri'], use_local_image_pull=args['use_local_image_pull'],
            migrate_mirrors=args['migrate_mirrors'], extra_settings=args['extra_settings'])
        new_text = plan.render()

        migrated = {hosts_toml.registry_hosts_file(hosts_dir, item['registry']): item for item in plan.migrated}
        patterns = plan.imports()
        second = node.read(self, task_vars, paths=list(migrated), globs=patterns) if (migrated or patterns) else None
        dropins = _dropins(second, patterns, path)
        # Did the running containerd load these files as they are? (compared before this task writes)
        loaded_files = ([(path, current.mtime_us)] if current.exists else []) + [
            (dropin, second.file(dropin).mtime_us) for dropin, _data in dropins]
        restart = containerd.restart_state(
            state.service or {'name': args['service_name'], 'error': 'no service_name given'}, loaded_files)

        wanted = containerd.wanted_settings(hosts_dir, args['use_local_image_pull'])
        effective, overriding = containerd.predict_effective(
            (path, parse_plain(new_text, path)), dropins, plan.layout, version)
        disabling = containerd.disabled_cri_in_dropins(dropins)
        if disabling:
            raise SpegelError('%s: the drop-in %s disables the CRI plugin (disabled_plugins = %s). Remove it there '
                              '(this module does not edit drop-ins); nothing was changed.' % ((path,) + disabling[0]))
        containerd.check_effective(effective, wanted, path)

        config_changed = not current.exists or new_text != current.text
        outcome = Outcome()
        writes, diffs, hosts_files = [], [], []
        original = state.file(original_path)
        original_file = outcome.original_before = original_path if original.exists else None
        created = outcome.created_before = state.file(created_path).exists
        if config_changed and args['keep_original'] and not original.exists and not created:
            # Before the first change this collection makes, so uninstall can restore the file
            # exactly, or remove the one it created; in the same staged write as the change.
            if current.exists:
                writes.append(dict(path=original_path, content=current.text, mode=current.mode,
                                   owner=current.owner, group=current.group, expected_checksum=''))
                original_file = original_path
            else:
                writes.append(dict(path=created_path, content=containerd.CREATED_MARKER_TEXT % path,
                                   create_parents=True, expected_checksum=''))
                created = True
        if config_changed:
            validate = '%s --config %%s config dump' % shlex.quote(binary) if binary and args['validate'] else None
            writes.append(dict(path=path, content=new_text, backup=args['backup'], create_parents=True,
                               expected_checksum=current.checksum, validate=validate))
            if validate:
                outcome.validate_first = [writes[-1]]
            diffs.append(node.file_diff(path, redact_secrets(current.text, path),
                                        redact_secrets(new_text, path, before=current.text or '')))

        migrated_registries = []
        for hosts_path, item in migrated.items():
            existing = second.file(hosts_path)
            merged = hosts_toml.merge_registry(existing.text, hosts_path, item['registry'], item['server'],
                                               item['hosts'], position='last',
                                               containerd_major=version.major if version else None)
            migrated_registries.append({'registry': item['registry'], 'hosts_file': hosts_path,
                                        'hosts': [host['url'] for host in item['hosts']]})
            if existing.exists and merged == existing.text:
                continue
            secret = merged != redact_secrets(merged, hosts_path)
            writes.append(dict(path=hosts_path, content=merged, create_parents=True,
                               expected_checksum=existing.checksum,
                               mode=hosts_toml.SECRET_FILE_MODE if secret and not existing.exists else None))
            diffs.append(node.file_diff(hosts_path, redact_secrets(existing.text, hosts_path),
                                        redact_secrets(merged, hosts_path, before=existing.text or '')))
            hosts_files.append(hosts_path)

        dump = first.get('config_dump', {})
        from_dump = None
        if not config_changed and dump.get('rc') is not None:
            if dump['rc'] != 0:
                raise SpegelError('%s: containerd (%s) rejects the current file, which already holds what this module '
                                  'sets: %s. Fix the file or its imports by hand; nothing was changed.' % (
                                      path, binary, (dump.get('stderr') or dump.get('stdout') or '').strip()))
            from_dump = containerd.settings_from_dump(dump['stdout'], path)
        outcome.writes = writes
        outcome.diffs = diffs
        outcome.wanted = wanted
        outcome.result = dict(
            changed=bool(writes), restart_required=config_changed, path=path,
            config_version=plan.layout.version, containerd_version=str(version) if version else None,
            backup_file=None, original_file=original_file, created=created, migrated_registries=migrated_registries,
            replaced_config_path=plan.replaced_config_path, overriding_imports=overriding,
            dropped_mirrors=plan.dropped_mirrors,
            enabled_cri=plan.enabled_cri, hosts_files=hosts_files,
            validated=bool(config_changed and binary and args['validate'] and not self._task.check_mode),
            restart_pending=restart['restart_pending'], containerd_service=restart,
        )
        if plan.warnings:
            outcome.result['warnings'] = plan.warnings
        _report_effective(outcome.result, from_dump, effective, wanted, path)
        return outcome


class Outcome:
    """What _plan decided: the result so far, the node_files writes, the diffs."""
    writes = ()
    diffs = ()
    wanted = None
    result = None
    original_before = None
    created_before = False
    validate_first = ()


def _dropins(state, patterns, source):
    """[(path, data)] in containerd's load order; a literal import that does not exist stops
    containerd, so it is an error here too."""
    dropins = []
    for pattern in patterns:
        if '*' in pattern:
            matches = state.globs.get(pattern, [])
        elif pattern in state.globs.get(pattern, []):
            matches = [pattern]
        else:
            raise SpegelError('%s imports %s, which does not exist, and containerd refuses to start without it. '
                              'Create it or remove it from imports; nothing was changed.' % (source, pattern))
        for path in matches:
            dropin = state.file(path)
            dropins.append((path, parse_plain(dropin.text_or_empty, path)))
    return dropins


def _report_effective(result, dumped, predicted, wanted, path):
    """Effective settings: containerd's own dump when there is one, else the prediction from
    the file and its drop-ins. A dump that contradicts what was wanted is a failure."""
    if dumped is not None:
        result['effective_from'] = 'containerd config dump'
        for name in ('config_path', 'discard_unpacked_layers', 'use_local_image_pull'):
            if name in dumped:
                result[name] = dumped[name]
        wrong = ['%s = %r' % (name, dumped.get(name)) for name, value in wanted.items() if dumped.get(name) != value]
        if dumped['cri_disabled']:
            wrong.append('disabled_plugins holds %s' % ', '.join(dumped['cri_disabled']))
        if wrong:
            result.update(failed=True, msg='%s: containerd config dump reports %s, not what this module wanted (%s). '
                          'Inspect the file and its imports; nothing was changed.' % (
                              path, ', '.join(wrong), ', '.join('%s = %r' % item for item in wanted.items())))
        return
    result['effective_from'] = 'files'
    for name in ('config_path', 'discard_unpacked_layers', 'use_local_image_pull'):
        if name != 'use_local_image_pull' or result['config_version'] >= 3:
            result[name] = predicted[name].value
