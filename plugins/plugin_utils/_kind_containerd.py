# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Plain containerd, the first node kind: /etc/containerd/config.toml edited over SSH.

kubeadm nodes, EKS AL2, GKE, DigitalOcean, AKS, minikube and containerd.io packages all run
containerd from a config.toml nothing regenerates. The adapter plans the config.toml change,
the restore marker that comes with the first change (`.peerpull-orig`, or the created
marker), and the hosts.toml of every legacy mirror it migrates out of config.toml.
"""

from __future__ import annotations

import shlex

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_effective import (
    check_effective, disabled_cri_in_dropins, predict_effective, settings_from_dump, wanted_settings,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    CONFIG_FILE, CREATED_MARKER_TEXT, CREATED_SUFFIX, HOSTS_DIR, ORIGINAL_SUFFIX, SERVICE_NAME,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_plan import ConfigPlan
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_restart import restart_state
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_merge as hosts_merge
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_names as hosts_names
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_write as hosts_write
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_kinds import FileChange, NodeKind, Plan
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import parse_plain


class ContainerdKind(NodeKind):

    name = 'containerd'
    summary = ('plain containerd (kubeadm, EKS AL2, GKE, DigitalOcean, AKS, minikube, containerd.io): '
               '/etc/containerd/config.toml edited in place')
    services = (SERVICE_NAME,)

    OPTIONS = dict(
        path=dict(type='path', default=CONFIG_FILE),
        enable_cri=dict(type='bool', default=False),
        migrate_mirrors=dict(type='bool', default=True),
        extra_settings=dict(type='list', elements='dict', default=[]),
        backup=dict(type='bool', default=False),
        keep_original=dict(type='bool', default=True),
        validate=dict(type='bool', default=True),
        service_name=dict(type='str', default=SERVICE_NAME),
    )

    def __init__(self, **options):
        super().__init__(**dict({name: spec.get('default') for name, spec in self.OPTIONS.items()}, **options))
        self.path = self.options['path']
        self.original_path = self.path + ORIGINAL_SUFFIX
        self.created_path = self.path + CREATED_SUFFIX
        self.services = (self.options['service_name'],) if self.options['service_name'] else ()
        self._config = None  # (version, ConfigPlan, new text), planned once per node state

    def reads(self, spec):
        return [self.path, self.original_path, self.created_path], []

    def probes(self, spec):
        return dict(containerd_version=True, config_dump=self.path if self.options['validate'] else None,
                    service_started=self.options['service_name'] or None)

    def follow_up(self, spec, state):
        """The hosts.toml files of migrated mirrors and the drop-ins config.toml imports."""
        _version, plan, _text = self._planned(spec, state)
        return list(self._migrated(spec, plan)), plan.imports()

    def _planned(self, spec, state):
        if self._config is None or self._config[0] is not state:
            version = spec.containerd or state.containerd_version()
            plan = ConfigPlan(state.file(self.path).text_or_empty, self.path, version).apply(
                hosts_dir=_hosts_dir(spec), enable_cri=self.options['enable_cri'],
                use_local_image_pull=spec.use_local_image_pull, migrate_mirrors=self.options['migrate_mirrors'],
                extra_settings=self.options['extra_settings'])
            self._config = (state, version, plan, plan.render())
        return self._config[1:]

    @staticmethod
    def _migrated(spec, plan):
        return {hosts_names.registry_hosts_file(_hosts_dir(spec), item['registry']): item for item in plan.migrated}

    def as_found(self, state):
        """The restore markers as the node has them."""
        return dict(original_file=self.original_path if state.file(self.original_path).exists else None,
                    created=state.file(self.created_path).exists)

    def plan(self, spec, state):
        path = self.path
        current = state.file(path)
        binary = state.containerd.get('path') or ''
        version, plan, new_text = self._planned(spec, state)
        migrated = self._migrated(spec, plan)
        dropins = _dropins(state, plan.imports(), path)
        # Did the running containerd load these files as they are? (compared before this task writes)
        loaded_files = ([(path, current.mtime_us)] if current.exists else []) + [
            (dropin, state.file(dropin).mtime_us) for dropin, _data in dropins]
        restart = restart_state(
            state.service or {'name': self.options['service_name'], 'error': 'no service_name given'}, loaded_files)

        wanted = wanted_settings(_hosts_dir(spec), spec.use_local_image_pull)
        effective, overriding = predict_effective(
            (path, parse_plain(new_text, path)), dropins, plan.layout, version)
        disabling = disabled_cri_in_dropins(dropins)
        if disabling:
            raise SpegelError('%s: the drop-in %s disables the CRI plugin (disabled_plugins = %s). Remove it there '
                              '(this module does not edit drop-ins); nothing was changed.' % ((path,) + disabling[0]))
        check_effective(effective, wanted, path)

        config_changed = not current.exists or new_text != current.text
        changes = []
        facts = self.as_found(state)
        original = state.file(self.original_path)
        if config_changed and self.options['keep_original'] and not original.exists and not facts['created']:
            # Before the first change this collection makes, so uninstall can restore the file
            # exactly, or remove the one it created; in the same staged write as the change.
            if current.exists:
                changes.append(FileChange(self.original_path, original, current.text, current.mode, None, False,
                                          owner=current.owner, group=current.group))
                facts['original_file'] = self.original_path
            else:
                changes.append(FileChange(self.created_path, state.file(self.created_path),
                                          CREATED_MARKER_TEXT % path, None, None, False))
                facts['created'] = True
        if config_changed:
            validate = '%s --config %%s config dump' % shlex.quote(binary) if binary and self.options['validate'] else None
            changes.append(FileChange(path, current, new_text, None, validate, True, backup=self.options['backup']))

        migrated_registries, hosts_files = [], []
        for hosts_path, item in migrated.items():
            existing = state.file(hosts_path)
            merged = hosts_merge.merge_registry(existing.text, hosts_path, item['registry'], item['server'],
                                                item['hosts'], position='last',
                                                containerd_major=version.major if version else None)
            migrated_registries.append({'registry': item['registry'], 'hosts_file': hosts_path,
                                        'hosts': [host['url'] for host in item['hosts']]})
            merged, mode = hosts_write.hosts_file_write(merged, existing.text,
                                                        existing.mode if existing.exists else None,
                                                        item['hosts'][0]['url'] if item['hosts'] else None)
            if existing.exists and merged == existing.text:
                continue
            changes.append(FileChange(hosts_path, existing, merged, mode, None, False))
            hosts_files.append(hosts_path)

        dump = state.config_dump
        from_dump = None
        if not config_changed and dump.get('rc') is not None:
            if dump['rc'] != 0:
                raise SpegelError('%s: containerd (%s) rejects the current file, which already holds what this module '
                                  'sets: %s. Fix the file or its imports by hand; nothing was changed.' % (
                                      path, binary, (dump.get('stderr') or dump.get('stdout') or '').strip()))
            from_dump = settings_from_dump(dump['stdout'], path)
        facts.update(
            path=path, config_version=plan.layout.version, containerd_version=str(version) if version else None,
            migrated_registries=migrated_registries,
            replaced_config_path=plan.replaced_config_path, overriding_imports=overriding,
            dropped_mirrors=plan.dropped_mirrors, enabled_cri=plan.enabled_cri, hosts_files=hosts_files,
            restart_pending=restart['restart_pending'], containerd_service=restart,
        )
        report_effective(facts, from_dump, effective, wanted, path)
        return Plan(changes, list(plan.warnings), facts)

    def loaded_by(self, spec, state):
        if not self.services:
            return super().loaded_by(spec, state)
        _version, plan, _text = self._planned(spec, state)
        dropins = [path for path, _data in _dropins(state, plan.imports(), self.path)]
        return self.options['service_name'], [self.path] + dropins, None

    def markers(self):
        """The restore markers' paths (their content shows in no diff)."""
        return self.original_path, self.created_path


def _hosts_dir(spec):
    return spec.hosts_dir or HOSTS_DIR


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


def report_effective(result, dumped, predicted, wanted, path):
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
