#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_files
short_description: Read, write and remove files on a node in one round trip
version_added: 0.1.0
description:
  - The node-side half of this collection's action plugins. The controller computes file
    contents (with C(tomlkit), which never has to exist on the node) and this module does
    the I/O in one round trip per phase.
  - Reads files and glob matches, and reports the containerd version, when a systemd
    service last started, and how the node's containerd reads its registry C(hosts.toml) files.
  - Writes files atomically (temporary file in the same directory, then rename), with
    mode and ownership applied before the content becomes visible, optional backup,
    optional validation command, and an optimistic lock on the content read earlier.
  - Most users call M(peerpull.spegel.toml_file), M(peerpull.spegel.containerd_config) or
    M(peerpull.spegel.containerd_hosts) rather than this module.
author:
  - peerpull.spegel maintainers (@peerpull)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode reads run and nothing is written or removed.
  diff_mode:
    support: none
    details: The action plugins that call this module compute and show the diffs.
  platform:
    support: full
    platforms: posix
options:
  read:
    description:
      - Files to read whole. A missing file is reported with RV(files[].exists=false).
      - A file larger than 4 MiB is not read (containerd configs and C(hosts.toml) files are a few KB);
        its RV(files[].error) names its size and the limit, and its content never leaves the node.
    type: list
    elements: path
    default: []
  read_globs:
    description:
      - Shell glob patterns; every regular file that matches is read as with O(read).
      - Used for containerd C(imports) drop-ins.
    type: list
    elements: str
    default: []
  containerd_version:
    description:
      - Run C(containerd --version) and return its output in RV(containerd).
    type: bool
    default: false
  config_dump:
    description:
      - Run C(containerd --config PATH config dump) with this path and return the effective
        configuration containerd would run with (imports merged, older layouts migrated) in
        RV(config_dump). Nothing runs when containerd is not installed or the file does not
        exist.
    type: path
  service_started:
    description:
      - A systemd unit whose state and start time to return in RV(service), on the clock
        of the files' RV(files[].mtime_us), so the controller can tell whether the running
        service loaded the files read.
    type: str
  hosts_probe:
    description:
      - Show the registry C(hosts.toml) files under O(hosts_probe.hosts_dir) to the node's own
        containerd and return what it makes of them in RV(hosts_probe).
      - For each reference, runs C(unshare --net -- ctr --debug content fetch-object --hosts-dir
        DIR REF) with the C(ctr) next to the C(containerd) binary. Without a daemon and in a
        private network namespace nothing is contacted and nothing is written, while C(ctr)'s
        debug log still names, in order, every host containerd would try for the reference.
      - Needs root (a network namespace). Where C(ctr) or C(unshare) is missing or C(unshare)
        fails, nothing runs and RV(hosts_probe.skipped) says why.
    type: dict
    suboptions:
      hosts_dir:
        description: The registry hosts directory.
        type: path
        required: true
      refs:
        description: Image references to resolve, such as V(docker.io/peerpull-verify/probe:probe).
        type: list
        elements: str
        required: true
  network_facts:
    description:
      - Return in RV(network) what node IP discovery (M(peerpull.spegel.node_ip)) needs,
        the default routes' source addresses and every interface address, from C(ip -j),
        or the raw C(/proc/net) tables where C(ip) cannot answer. Route lookups send no packet.
    type: bool
    default: false
  write:
    description:
      - Files to write. All are staged and validated before the first one replaces its
        target, so a rejected file leaves every target untouched.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: File to write.
        type: path
        required: true
      content:
        description: The whole new content (UTF-8 text).
        type: str
        required: true
      mode:
        description:
          - Octal mode of the file. Unset keeps the mode of an existing file, or C(0644)
            for a new one.
        type: raw
      owner:
        description: Owner of the file. Unset keeps the existing owner (or the caller).
        type: str
      group:
        description: Group of the file. Unset keeps the existing group (or the caller's).
        type: str
      backup:
        description: Keep a timestamped copy of the previous file next to it.
        type: bool
        default: false
      create_parents:
        description: Create missing parent directories (mode C(0755)).
        type: bool
        default: false
      expected_checksum:
        description:
          - SHA-1 of the content the controller computed from. The write fails if the file
            changed since then; the empty string means the file must not exist.
        type: str
      validate:
        description:
          - Command run against the temporary file before it replaces the target; C(%s)
            is replaced by the temporary file's path. It runs in the target's directory, so
            relative paths resolve as they will for the real file. A non-zero exit aborts the
            write and leaves the target untouched.
        type: str
  commit:
    description:
      - With V(false), every O(write) is staged and validated as usual, each validation's
        output is returned in RV(staged), and the temporary files (and any parent
        directory made for them) are removed again, so nothing changes on the node, and
        O(remove) is not done. The controller inspects the output, then writes for real.
    type: bool
    default: true
  remove:
    description: Files to remove, after the writes.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: File to remove.
        type: path
        required: true
      backup:
        description: Keep a timestamped copy of the file before removing it.
        type: bool
        default: false
      expected_checksum:
        description: As for O(write[].expected_checksum).
        type: str
      remove_empty_parent:
        description: Also remove the parent directory when it is left empty.
        type: bool
        default: false
notes:
  - File contents are transferred base64-encoded and are never logged on the node.
seealso:
  - module: peerpull.spegel.toml_file
  - module: peerpull.spegel.containerd_config
"""

EXAMPLES = r"""
- name: Read the containerd config and its drop-ins, and report the containerd version
  peerpull.spegel.node_files:
    read:
      - /etc/containerd/config.toml
    read_globs:
      - /etc/containerd/config.d/*.toml
    containerd_version: true
  register: node_state

- name: Replace a file atomically, validated by containerd, keeping a backup
  peerpull.spegel.node_files:
    write:
      - path: /etc/containerd/config.toml
        content: "{{ new_config }}"
        backup: true
        validate: containerd --config %s config dump
"""

RETURN = r"""
files:
  description: What was read, keyed by path.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the path exists.
      type: bool
    content_b64:
      description: The file's content, base64-encoded.
      type: str
    checksum:
      description: SHA-1 of the content (empty when the file does not exist).
      type: str
    mtime_us:
      description: Last modification, in microseconds since the epoch.
      type: int
    mode:
      description: Octal permission bits.
      type: str
    owner:
      description: Owner name.
      type: str
    group:
      description: Group name.
      type: str
    uid:
      description: Numeric owner.
      type: int
    gid:
      description: Numeric group.
      type: int
    error:
      description: Why the file could not be read, when it exists but cannot be read.
      type: str
globs:
  description: Sorted regular files matched by each pattern of O(read_globs).
  returned: always
  type: dict
containerd:
  description: The containerd binary found on the node.
  returned: when O(containerd_version=true)
  type: dict
  contains:
    path:
      description: Path of the binary, empty when containerd is not installed.
      type: str
    version_output:
      description: First line printed by C(containerd --version).
      type: str
config_dump:
  description: The result of O(config_dump).
  returned: when O(config_dump) is set
  type: dict
  contains:
    path:
      description: The config file dumped.
      type: str
    rc:
      description: Exit code of C(containerd config dump); null when it did not run.
      type: int
    stdout:
      description: The effective configuration (TOML).
      type: str
    stderr:
      description: containerd's warnings or error.
      type: str
    skipped:
      description: Why the dump did not run, when it did not.
      type: str
service:
  description: The unit named by O(service_started).
  returned: when O(service_started) is set
  type: dict
  contains:
    name:
      description: The unit.
      type: str
    active_state:
      description: systemd's C(ActiveState), such as V(active) or V(failed); null when systemd could not be asked.
      type: str
    started_us:
      description:
        - When the unit's main process last started, in microseconds since the epoch (the
          clock of RV(files[].mtime_us)); null when it never started or systemd could not be asked.
        - systemd's monotonic start time plus the current difference between the wall clock
          and the monotonic clock, so a clock step after the start (NTP at boot) does not
          move it away from the files' times.
      type: int
    now_us:
      description: The node's wall clock when it was asked, in microseconds since the epoch.
      type: int
    error:
      description: Why systemd could not be asked.
      type: str
hosts_probe:
  description: The result of O(hosts_probe).
  returned: when O(hosts_probe) is set
  type: dict
  contains:
    ctr:
      description: The C(ctr) that ran, empty when none did.
      type: str
    skipped:
      description: Why nothing ran, when nothing did.
      type: str
    results:
      description: One entry per reference, in the order given.
      type: list
      elements: dict
      contains:
        ref:
          description: The reference.
          type: str
        stderr:
          description: C(ctr)'s debug log (its exit code is always 1, as no host answers).
          type: str
network:
  description: Routes and addresses for node IP discovery.
  returned: when O(network_facts=true)
  type: dict
  contains:
    source:
      description: V(ip) when C(ip -j) answered, V(proc) when only the C(/proc/net) tables did.
      type: str
    route_v4:
      description: C(ip -j -4 route get) towards a public address, or null without such a route.
      type: list
      elements: dict
    route_v6:
      description: As RV(network.route_v4), for IPv6.
      type: list
      elements: dict
    addresses:
      description: C(ip -j addr show).
      type: list
      elements: dict
    proc:
      description: C(/proc/net/route), C(ipv6_route), C(if_inet6) and C(fib_trie) as text, when RV(network.source=proc).
      type: dict
written:
  description: One entry per O(write) and O(remove) item that changed something.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    action:
      description: C(written) or C(removed).
      type: str
    backup_file:
      description: The backup made, if any.
      type: str
    validate_stdout:
      description: Standard output of the validation command.
      type: str
staged:
  description: One entry per O(write) item staged and validated with O(commit=false).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    validate_stdout:
      description: Standard output of the validation command, when the item has one.
      type: str
"""

import base64
import glob
import grp
import hashlib
import os
import pwd
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.peerpull.spegel.plugins.module_utils import _network


def sha1(data):
    return hashlib.sha1(data).hexdigest()


# Larger files are refused before their content leaves the node: every byte read travels
# base64-encoded to the controller, which holds several copies per fork.
MAX_READ_BYTES = 4 * 1024 * 1024


def too_large(size):
    return ('it is %d bytes, above the %d MiB (%d bytes) this collection reads (containerd configs are a few KB). '
            'Check that it is the right file, or shrink it; nothing was changed'
            % (size, MAX_READ_BYTES // (1024 * 1024), MAX_READ_BYTES))


def describe(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {'exists': False, 'checksum': ''}
    info = {
        'exists': True,
        'mtime_us': st.st_mtime_ns // 1000,
        'mode': '%04o' % stat.S_IMODE(st.st_mode),
        'owner': _name(pwd.getpwuid, st.st_uid),
        'group': _name(grp.getgrgid, st.st_gid),
        'uid': st.st_uid,
        'gid': st.st_gid,
    }
    if st.st_size > MAX_READ_BYTES:
        info['error'] = too_large(st.st_size)
        return info
    try:
        with open(path, 'rb') as f:
            data = f.read(MAX_READ_BYTES + 1)  # a file that grew since stat() is still bounded
    except OSError as e:
        info['error'] = to_native(e)
        return info
    if len(data) > MAX_READ_BYTES:
        info['error'] = too_large(len(data))
        return info
    info['content_b64'] = to_native(base64.b64encode(data))
    info['checksum'] = sha1(data)
    return info


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def current_checksum(path):
    try:
        with open(path, 'rb') as f:
            return sha1(f.read())
    except FileNotFoundError:
        return ''


def check_unchanged(module, path, expected):
    if expected is not None and current_checksum(path) != expected:
        module.fail_json(
            msg='%s changed on the node while this task ran; nothing was written. Run the task again.' % path)


def resolve_ids(module, path, owner, group):
    uid = gid = -1
    try:
        if owner:
            uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError as e:
        module.fail_json(msg='%s: unknown owner or group %s; nothing was written.' % (path, to_native(e)))
    return uid, gid


def parse_mode(module, path, mode):
    if mode is None:
        return None
    try:
        return int(str(mode), 8)
    except ValueError:
        module.fail_json(msg="%s: mode must be octal such as '0644', got %r; nothing was written." % (path, mode))


def prepare(module, item, staged_before):
    """Write the new content to a temporary file next to the target and validate it; on a
    rejection, undo this and the earlier stagings (staged_before)."""
    path = item['path']
    if item['validate'] and '%s' not in item['validate']:
        # Before anything is created: no directory, no temporary file.
        module.fail_json(msg='%s: validate must contain %%s, which stands for the new file; got %r. Nothing was '
                         'written.' % (path, item['validate']))
    data = to_bytes(item['content'], errors='surrogate_or_strict')
    check_unchanged(module, path, item['expected_checksum'])
    existing = os.stat(path) if os.path.exists(path) else None
    mode = parse_mode(module, path, item['mode'])
    uid, gid = resolve_ids(module, path, item['owner'], item['group'])
    if existing is not None:
        mode = stat.S_IMODE(existing.st_mode) if mode is None else mode
        uid = existing.st_uid if uid == -1 else uid
        gid = existing.st_gid if gid == -1 else gid
    elif mode is None:
        mode = 0o644

    parent = os.path.dirname(path) or '.'
    made_dirs = []
    if not os.path.isdir(parent):
        if not item['create_parents']:
            module.fail_json(msg='%s: directory %s does not exist; nothing was written.' % (path, parent))
        missing = parent
        while missing and not os.path.isdir(missing):
            made_dirs.append(missing)
            missing = os.path.dirname(missing)
        os.makedirs(parent, 0o755)

    fd, tmp = tempfile.mkstemp(dir=parent, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
    module.add_cleanup_file(tmp)
    # Attributes first, so a secret never becomes visible with a looser mode.
    os.fchmod(fd, mode)
    if uid != -1 or gid != -1:
        os.fchown(fd, uid, gid)
    with os.fdopen(fd, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    staged = {'path': path, 'tmp': tmp, 'existed': existing is not None, 'item': item, 'made_dirs': made_dirs}
    if item['validate']:
        # containerd 1.6 resolves relative imports against the working directory.
        rc, out, err = module.run_command(item['validate'] % tmp, cwd=parent)
        if rc != 0:
            unstage_all(staged_before + [staged])
            module.fail_json(
                msg='%s: the new content failed validation (%s), so nothing was written: %s'
                % (path, item['validate'] % path, (err or out).strip() or 'exit code %d' % rc),
                rc=rc, stderr=err)
        staged['validate_stdout'] = out
    return staged


def commit(module, staged):
    path = staged['path']
    result = {'path': path, 'action': 'written'}
    if 'validate_stdout' in staged:
        result['validate_stdout'] = staged['validate_stdout']
    if staged['existed'] and staged['item']['backup']:
        result['backup_file'] = module.backup_local(path)
    check_unchanged(module, path, staged['item']['expected_checksum'])
    os.replace(staged['tmp'], path)
    if module.selinux_enabled():
        module.set_context_if_different(path, module.selinux_default_context(path), False)
    return result


def unstage_all(staged):
    """Undo prepare() in reverse order: temporary files, then the directories made for them."""
    results = []
    for entry in reversed(staged):
        os.unlink(entry['tmp'])
        for directory in entry['made_dirs']:
            os.rmdir(directory)
        result = {'path': entry['path']}
        if 'validate_stdout' in entry:
            result['validate_stdout'] = entry['validate_stdout']
        results.insert(0, result)
    return results


def remove_file(module, item):
    path = item['path']
    check_unchanged(module, path, item['expected_checksum'])
    if not os.path.exists(path):
        return None
    result = {'path': path, 'action': 'removed'}
    if item['backup']:
        result['backup_file'] = module.backup_local(path)
    os.unlink(path)
    parent = os.path.dirname(path)
    if item['remove_empty_parent'] and parent and not os.listdir(parent):
        os.rmdir(parent)
    return result


BIN_DIRS = ['/usr/local/bin', '/usr/bin', '/usr/sbin', '/bin', '/sbin']


def containerd_binary(module):
    return module.get_bin_path('containerd', opt_dirs=BIN_DIRS)


def containerd_version(module):
    binary = containerd_binary(module)
    if not binary:
        return {'path': '', 'version_output': ''}
    rc, out, err = module.run_command([binary, '--version'])
    if rc != 0:
        module.fail_json(msg='%s --version failed: %s' % (binary, (err or out).strip()))
    return {'path': binary, 'version_output': out.strip().splitlines()[0] if out.strip() else ''}


def config_dump(module, path):
    binary = containerd_binary(module)
    result = {'path': path, 'rc': None, 'stdout': '', 'stderr': ''}
    if not binary:
        result['skipped'] = 'containerd is not installed'
    elif not os.path.isfile(path):
        # containerd 2.x would dump its defaults for a missing file, without an error.
        result['skipped'] = 'no such file'
    elif os.path.getsize(path) > MAX_READ_BYTES:
        result['skipped'] = too_large(os.path.getsize(path))  # its dump would be as large
    else:
        # containerd 1.6 resolves relative imports against the working directory.
        rc, out, err = module.run_command([binary, '--config', path, 'config', 'dump'],
                                          cwd=os.path.dirname(path) or None)
        result.update(rc=rc, stdout=out, stderr=err)
    return result


def hosts_probe(module, hosts_dir, refs):
    result = {'ctr': '', 'results': []}
    containerd = containerd_binary(module)
    ctr = os.path.join(os.path.dirname(containerd), 'ctr') if containerd else ''
    if not os.access(ctr, os.X_OK):
        ctr = module.get_bin_path('ctr', opt_dirs=BIN_DIRS)
    unshare = module.get_bin_path('unshare', opt_dirs=BIN_DIRS)
    if not ctr:
        result['skipped'] = 'ctr is not installed'
    elif not unshare:
        result['skipped'] = 'unshare (util-linux) is not installed, and ctr would contact the mirrors without it'
    else:
        rc, out, err = module.run_command([unshare, '--net', '--', 'true'])
        if rc != 0:
            result['skipped'] = 'unshare --net failed (it needs root): %s' % ((err or out).strip() or 'exit code %d' % rc)
    if 'skipped' in result:
        return result
    result['ctr'] = ctr
    for ref in refs:
        _rc, _out, err = module.run_command([unshare, '--net', '--', ctr, '--debug', 'content', 'fetch-object',
                                             '--hosts-dir', hosts_dir, ref])
        result['results'].append({'ref': ref, 'stderr': err})
    return result


def service_started(module, name):
    """The unit's ActiveState and main-process start time on the files' (wall) clock.

    systemd's wall-clock start time is stamped when the service starts, often at boot
    before NTP steps the clock; its monotonic start time plus the wall-minus-monotonic
    offset of now is immune to such a step.
    """
    result = {'name': name, 'active_state': None, 'started_us': None, 'now_us': time.time_ns() // 1000}
    systemctl = module.get_bin_path('systemctl')
    if not systemctl:
        result['error'] = 'systemctl not found'
        return result
    rc, out, err = module.run_command([systemctl, 'show', name, '--property=ActiveState',
                                       '--property=ExecMainStartTimestampMonotonic'])
    offset_us = (time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_MONOTONIC)) // 1000
    if rc != 0:
        result['error'] = (err or out).strip() or 'systemctl show exited with %d' % rc
        return result
    props = dict(line.split('=', 1) for line in out.splitlines() if '=' in line)
    result['active_state'] = props.get('ActiveState') or None
    started = props.get('ExecMainStartTimestampMonotonic', '0')
    if started.isdigit() and int(started) > 0:
        result['started_us'] = int(started) + offset_us
    return result


def network_facts(module):
    ip = module.get_bin_path('ip', opt_dirs=_network.IP_DIRS)
    return _network.network_facts(ip, lambda argv: module.run_command(argv)[:2])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            read=dict(type='list', elements='path', default=[]),
            read_globs=dict(type='list', elements='str', default=[]),
            containerd_version=dict(type='bool', default=False),
            config_dump=dict(type='path'),
            service_started=dict(type='str'),
            hosts_probe=dict(type='dict', options=dict(
                hosts_dir=dict(type='path', required=True),
                refs=dict(type='list', elements='str', required=True),
            )),
            network_facts=dict(type='bool', default=False),
            commit=dict(type='bool', default=True),
            write=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                content=dict(type='str', required=True, no_log=True),
                mode=dict(type='raw'),
                owner=dict(type='str'),
                group=dict(type='str'),
                backup=dict(type='bool', default=False),
                create_parents=dict(type='bool', default=False),
                expected_checksum=dict(type='str', no_log=False),
                validate=dict(type='str'),
            )),
            remove=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                backup=dict(type='bool', default=False),
                expected_checksum=dict(type='str', no_log=False),
                remove_empty_parent=dict(type='bool', default=False),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params

    files = {path: describe(path) for path in params['read']}
    globs = {}
    for pattern in params['read_globs']:
        matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        globs[pattern] = matches
        for path in matches:
            files.setdefault(path, describe(path))

    result = {'changed': False, 'files': files, 'globs': globs, 'written': [], 'staged': []}
    if params['containerd_version']:
        result['containerd'] = containerd_version(module)
    if params['config_dump']:
        result['config_dump'] = config_dump(module, params['config_dump'])
    if params['service_started']:
        result['service'] = service_started(module, params['service_started'])
    if params['hosts_probe']:
        result['hosts_probe'] = hosts_probe(module, params['hosts_probe']['hosts_dir'], params['hosts_probe']['refs'])
    if params['network_facts']:
        result['network'] = network_facts(module)

    if not module.check_mode:
        # Stage and validate everything before the first target changes.
        staged = []
        for item in params['write']:
            staged.append(prepare(module, item, staged))
        if not params['commit']:
            result['staged'] = unstage_all(staged)
            module.exit_json(**result)
        for entry in staged:
            result['written'].append(commit(module, entry))
        for item in params['remove']:
            removed = remove_file(module, item)
            if removed:
                result['written'].append(removed)
    result['changed'] = bool(result['written'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
