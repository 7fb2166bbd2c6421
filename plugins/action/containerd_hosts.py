# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import posixpath

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_probe as hosts_probe
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_merge as hosts_merge
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_names as hosts_names
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_render as hosts_render
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_stale as hosts_stale
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_write as hosts_write
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _kinds as kinds
from ansible_collections.peerpull.spegel.plugins.plugin_utils._action_base import ActionModuleBase, fail
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_ip import (
    UNSET, discover, discover_from_node, discovery_reads,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_secrets


def plain_list(values):
    """Plain strings; an AWX survey's empty answer (Ansible makes it [''] ) is no list at all."""
    values = [str(v) for v in values or []]
    return [] if values == [''] else values


class ActionModule(ActionModuleBase):

    ARGUMENT_SPEC = dict(
        hosts_dir=dict(type='path', default='/etc/containerd/certs.d'),
        registries=dict(type='list', elements='str', default=['_default']),
        mirrors=dict(type='list', elements='str'),
        node_ip=dict(type='str', default='auto'),
        ports=dict(type='list', elements='int', default=[30020]),
        capabilities=dict(type='list', elements='str', default=['pull', 'resolve'],
                          choices=list(hosts_render.CAPABILITIES)),
        dial_timeout=dict(type='str', default='200ms'),
        server=dict(type='dict'),
        authorization=dict(type='raw', no_log=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        backup=dict(type='bool', default=False),
        prune_stale=dict(type='bool', default=True),
        containerd_version=dict(type='str'),
        probe=dict(type='bool', default=False),
        node_kind=dict(type='str', default=kinds.AUTO),
    )

    def run_action(self, args, task_vars, result):
        result['restart_required'] = False  # containerd re-reads hosts.toml on every pull
        reason = skip_reason(args)
        if reason:
            result.update(changed=False, skipped=True, files={}, skip_reason=reason)
            return
        plan = plan_options(args)
        state = node.NodeState(node.run_node_files(self, task_vars, **node_reads(plan)))
        planned, changes = plan_files(args, plan, state, self._task.diff)
        result.update(planned)
        if not result['changed'] or self._task.check_mode:
            return self._with_probe(result, args, plan, changes, task_vars)

        writes = [c['write'] for c in changes if c.get('write')]
        removes = [c['remove'] for c in changes if c.get('remove')]
        try:
            written = node.write(self, task_vars, writes=writes, removes=removes)
        except SpegelError as exc:
            if not exc.changed:  # nothing was written: no file changed
                for entry in result['files'].values():
                    entry['changed'] = False
            raise
        backups = {w['path']: w['backup_file'] for w in written if w.get('backup_file')}
        for change in changes:
            if change['path'] in backups:
                result['files'][change['registry']]['backup_file'] = backups[change['path']]
        return self._with_probe(result, args, plan, changes, task_vars)

    def _with_probe(self, result, args, plan, changes, task_vars):
        """With probe=true, the result with RV(probe): the node's containerd judges the files as
        they are now (in check mode, as they were)."""
        if not args['probe']:
            return result
        refs = {c['registry']: hosts_probe.probe_ref(c['registry'], plan['fields']['capabilities']) for c in changes}
        probes = dict(hosts_dir=args['hosts_dir'], refs=list(refs.values()))
        try:
            ran = node.run_node_files(self, task_vars, hosts_probe=probes)['hosts_probe']
        except SpegelError as exc:
            return fail(result, exc, changed=result['changed'])  # the files stay as written
        probe = result['probe'] = dict(skipped=ran.get('skipped'), ctr=ran['ctr'], files={}, problems=[])
        logs = {entry['ref']: entry['stderr'] for entry in ran['results']}
        for change in changes:
            if probe['skipped']:
                break
            ref = refs[change['registry']]
            hosts, problem = hosts_probe.judge_probe(change['path'], logs[ref], result['mirrors'])
            probe['files'][change['registry']] = dict(path=change['path'], ref=ref, hosts=hosts, problem=problem)
            if problem:
                probe['problems'].append(problem)
        return result


def skip_reason(args):
    """Why no hosts.toml is written for args' node_kind (its adapter configures the mirrors
    its own way), or None."""
    if args['node_kind'] == kinds.AUTO:
        return None
    adapter = kinds.adapter_for(args['node_kind'], 'node_kind', [kinds.AUTO] + sorted(kinds.KINDS))
    if adapter.writes_hosts_toml:
        return None
    return ('node_kind %s: its adapter configures the mirrors itself (peerpull.spegel.node_config); '
            'no hosts.toml is written' % adapter.name)


def node_reads(plan):
    """The node_files arguments of the one read round trip plan (plan_options) needs."""
    reads = dict(read=list(plan['paths'].values()), read_globs=list(plan['globs']), containerd_version=True)
    if plan['listed_dir']:
        reads['list_dirs'] = [plan['listed_dir']]
    if plan['discover']:
        reads = node.union(reads, discovery_reads())
    return reads


def plan_files(args, plan, state, diff):
    """What the hosts.toml files need, from the node state read with node_reads(plan): the
    result's fields (changed, mirrors, files, diff...) and the changes to write."""
    version = state.containerd_version(args['containerd_version'])
    plan['containerd_major'] = version.major if version else None
    found = None
    if plan['discover'] or plan['node_ip'] not in UNSET:
        found = discover_from_node(state, None if plan['discover'] else plan['node_ip'])
    mirrors = plan['mirrors'] or [hosts_names.mirror_url(found.ip, port) for port in plan['ports']]
    # Stale entries are known only by the node's current IPs, so not with given mirrors.
    node_ips = found.ips if found is not None and not plan['mirrors'] and args['prune_stale'] else None
    targets = [(registry, path, 'listed') for registry, path in plan['paths'].items()]
    for pattern in plan['globs']:
        shadowing = hosts_stale.shadowing_files(state.globs.get(pattern, []), plan['paths'].values())
        targets += [(name, path, 'shadowing') for name, path in sorted(shadowing.items())]
    changes = [compute(args, plan, registry, path, reason, state.file(path), mirrors, node_ips)
               for registry, path, reason in targets]
    without_hosts_file = []
    if plan['listed_dir']:
        without_hosts_file = hosts_stale.dirs_without_hosts_file(
            plan['listed_dir'], state.dirs[plan['listed_dir']].names('directory'), state.globs[plan['globs'][0]])

    result = dict(
        changed=any(c['changed'] for c in changes),
        mirrors=mirrors,
        files={c['registry']: file_result(c) for c in changes},
        containerd_version=str(version) if version else None,
        dirs_without_hosts_toml=without_hosts_file,
    )
    if version is None and args['state'] == 'present' and any(hosts_render.dotted_form(url, 1) for url in mirrors):
        result['warnings'] = [
            'containerd is not installed on this node, so its version is unknown: the IPv6 mirrors are written '
            'as [host.\'URL\'] tables, which containerd 2.x reads but containerd 1.6 and 1.7 do not (they ignore '
            'the whole file). Set containerd_version when the node will run containerd 1.x.']
    if found is not None:
        result['node_ip'] = found.as_dict()
    if diff:
        result['diff'] = [c['diff'] for c in changes if c['diff']]
    return result, changes


def file_result(change):
    """A file's entry in RV(files)."""
    entry = {key: change[key] for key in ('path', 'changed', 'reason')}
    if change['pruned']:
        entry['pruned'] = change['pruned']
    return entry


def plan_options(args):
    """Everything that can be checked before touching the node: nothing is read or written
    when a name, URL or option is wrong."""
    registries = plain_list(args['registries']) or [hosts_names.DEFAULT_REGISTRY]
    paths = {}
    for registry in registries:
        paths[registry] = hosts_names.registry_hosts_file(args['hosts_dir'], registry)
    servers = hosts_names.validate_servers(args['server'], list(paths))
    mirrors = [hosts_names.validate_host_url(url) for url in plain_list(args['mirrors'])]
    node_ip = '' if args['node_ip'] is None else str(args['node_ip']).strip()
    ports = [hosts_names.port_number(port, 'ports') for port in args['ports'] or []]
    if not mirrors:
        if not ports:
            raise SpegelError('Give mirrors, or ports to build them from the node IP.')
        if node_ip not in UNSET:
            # Refuse a bad address before anything is read.
            found = discover({}, [], node_ip)
            for port in ports:
                hosts_names.mirror_url(found.ip, port)
    fields = {'capabilities': plain_list(args['capabilities'])}
    if args['dial_timeout']:
        fields['dial_timeout'] = str(args['dial_timeout'])
    header = hosts_names.authorization_header(args['authorization'])
    if header:
        fields['header'] = {'Authorization': header}
    # containerd takes a registry's own directory over _default: with _default, every
    # registry directory's hosts.toml is read in the same round trip (see compute).
    # A registry directory without a hosts.toml hides _default too: the hosts directory is listed.
    with_default = hosts_names.DEFAULT_REGISTRY in paths
    globs = [hosts_stale.shadowing_glob(args['hosts_dir'])] if with_default else []
    listed_dir = posixpath.normpath(args['hosts_dir']) if with_default else None
    return dict(paths=paths, servers=servers, mirrors=mirrors, ports=ports, fields=fields, globs=globs,
                listed_dir=listed_dir, node_ip=node_ip, discover=not mirrors and node_ip in UNSET)


def compute(args, plan, registry, path, reason, current, mirrors, node_ips):
    """One file's new text and the write or removal that gets it there.

    reason 'listed': a file of `registries`. 'shadowing': an existing registry directory's
    hosts.toml that hides _default; it gets the same entries, never a server line, and is
    never removed (it is the user's).
    """
    change = dict(registry=registry, path=path, reason=reason, changed=False, diff=None, pruned=[])
    text = current.text
    if node_ips is not None:
        change['pruned'] = hosts_stale.stale_mirrors(text, path, plan['ports'],
                                                     plan['fields']['capabilities'], node_ips)
        if change['pruned']:
            text = hosts_merge.remove_hosts(text, path, change['pruned'])
    if args['state'] == 'present':
        if reason == 'shadowing':
            server, replace_server = None, False
        else:
            server = plan['servers'].get(registry, hosts_names.default_server(registry))
            replace_server = registry in plan['servers']
        hosts = [dict(plan['fields'], url=url) for url in mirrors]
        new_text = hosts_merge.merge_registry(text, path, registry, server, hosts, replace_server=replace_server,
                                              containerd_major=plan['containerd_major'])
    else:
        if reason == 'shadowing':
            new_text = hosts_merge.remove_hosts(text, path, mirrors) if text is not None else None
        else:
            new_text = hosts_merge.unmerge_registry(text, path, mirrors, registry)
    # The mode noted in the file read (before any entry, and the note with it, went).
    new_text, mode = hosts_write.hosts_file_write(new_text, current.text,
                                                  current.mode if current.exists else None,
                                                  mirrors[0] if mirrors else None)
    content_changed = new_text != current.text
    if content_changed and new_text is None:
        change['remove'] = dict(path=path, backup=args['backup'], remove_empty_parent=True,
                                expected_checksum=current.checksum)
    elif content_changed or (current.exists and mode is not None and current.mode != mode):
        change['write'] = dict(path=path, content=new_text, mode=mode, backup=args['backup'],
                               create_parents=True, expected_checksum=current.checksum)
    change['changed'] = bool(change.get('write') or change.get('remove'))
    if content_changed:
        change['diff'] = node.file_diff(path, redact_secrets(current.text, path),
                                        redact_secrets(new_text, path, before=current.text or ''))
    return change
