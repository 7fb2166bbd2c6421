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
  - Reads files and glob matches, lists directories, and tells which paths exist.
  - Probes, apart from the file operations, run the node's own programs and write nothing -
    the containerd version, containerd's effective configuration, when a systemd service last
    started, how the node's containerd reads its registry C(hosts.toml) files, and the node's
    routes and addresses.
  - Writes files atomically (temporary file in the same directory, then
    C(AnsibleModule.atomic_move)), with mode and ownership applied before the content becomes
    visible, C(chattr) attributes and SELinux context after, optional backup, optional validation
    command, and an optimistic lock on the content read earlier. A write whose content is already
    there only sets the file's mode, ownership, attributes and context, in place (an immutable
    file's V(-i) included). All writes and removals of one call happen, or none; a failure
    names the file, the operating system's error and the fix.
  - Most users call M(peerpull.spegel.toml_file), M(peerpull.spegel.containerd_config) or
    M(peerpull.spegel.containerd_hosts) rather than this module.
author:
  - peerpull.spegel maintainers (@peerpull)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - peerpull.spegel._node_files
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
      - Files to read whole, following symbolic links (but not a link another user could have
        planted, see the notes). A missing file is reported with
        RV(files[].exists=false); anything there that is no regular file (a FIFO, a socket, a
        device, a directory, a broken link) with RV(files[].error), and is never opened.
      - A file larger than 4 MiB is not read (containerd configs and C(hosts.toml) files are a few KB);
        its RV(files[].error) names its size and the limit, and its content never leaves the node.
    type: list
    elements: path
    default: []
  read_attributes:
    description:
      - Also return, for each file read, its C(chattr) attributes in RV(files[].attributes) and,
        where SELinux is enabled, its context in RV(files[].secontext), so the controller can tell
        whether O(write[].attributes) or the SELinux options of a write would change it.
    type: bool
    default: false
  read_globs:
    description:
      - Shell glob patterns; every match that is not a directory is read as with O(read), so a
        FIFO or a broken link among containerd's drop-ins is reported rather than skipped.
      - Used for containerd C(imports) drop-ins.
    type: list
    elements: str
    default: []
  exists:
    description:
      - Paths whose existence to report in RV(exists), without opening them, so a directory or a
        large binary can be asked about. Used to tell the node's kind from the marks its
        distribution leaves (C(/usr/local/bin/k3s), C(/etc/k0s/containerd.toml), ...).
    type: list
    elements: path
    default: []
  list_dirs:
    description:
      - Directories whose entries to return in RV(dirs), by name and type, without opening any
        file in them (the certificates and keys of a registry directory stay on the node).
      - An entry's type is that of what it names, symbolic links followed, as containerd
        follows them when it looks for a registry's directory.
      - A directory of more than 4096 entries is not listed; its RV(dirs[].error) says so.
    type: list
    elements: path
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
        exist. A dump that has not ended after 20 seconds (containerd blocks on a FIFO among
        the imports) is stopped, with C(timeout) where the node has it, and reported as
        RV(config_dump.skipped).
    type: path
  service_started:
    description:
      - A systemd unit whose state and start time to return in RV(service), on the clock
        of the files' RV(files[].mtime_us), so the controller can tell whether the running
        service loaded the files read.
    type: str
  restart:
    description:
      - systemd units to restart (C(systemctl restart UNIT)), in order, stopping at the first
        that fails; before O(cri_plugins) is asked, so that with O(cri_wait) one round trip
        restarts containerd and waits for it. Nothing is restarted in check mode.
      - RV(restarted) says how each went.
    type: list
    elements: str
    default: []
  cri_plugins:
    description:
      - A containerd socket to ask for its plugins and their status
        (C(ctr --address PATH --connect-timeout 2s plugins ls)); the output is returned in
        RV(cri_plugins) for the controller to judge whether containerd answers with its CRI
        plugin loaded. Asked once, unless O(cri_wait) is set.
      - Runs the C(ctr) next to the C(containerd) binary, else the first on C(PATH), in
        C(/usr/local/bin), C(/usr/bin) or rke2's C(/var/lib/rancher/rke2/bin), else C(k0s ctr)
        (k0s ships no C(ctr)). Where there is none, nothing runs and RV(cri_plugins.skipped) says so.
    type: path
  cri_wait:
    description:
      - With O(cri_plugins), seconds to keep asking, every half second, until containerd
        answers with its CRI plugin loaded (the come-back wait after a restart, done on the node
        in this one round trip). V(0) asks once.
      - Writes and removals of the same call come after the wait; with O(cri_required), only
        when containerd answered with CRI.
    type: int
    default: 0
  cri_required:
    description:
      - With O(cri_plugins), write and remove nothing (O(write), O(remove)) unless every unit of
        O(restart) restarted and containerd answered with its CRI plugin loaded; RV(written) is
        then empty. For what only a restart
        that succeeded may remove, such as the copy kept to roll it back.
    type: bool
    default: false
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
      - A path that is a symbolic link is followed; the file behind it is written and the
        link stays. Links are resolved once; see the notes for the links that are refused.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: File to write. A symbolic link's target is written.
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
      attributes:
        description:
          - C(chattr) attributes of the file, as O(ansible.builtin.file#module:attributes) takes
            them (V(+i), V(-A), V(i)), set after the content is in place. They are compared as
            C(chattr) applies them, so a file that has them already is left alone. A value
            C(chattr) refuses fails the write naming the file and C(chattr)'s error, and the file
            is put back as it was.
        type: str
      seuser:
        description: As O(ansible.builtin.file#module:seuser); applied only where SELinux is enabled.
        type: str
      serole:
        description: As O(ansible.builtin.file#module:serole); applied only where SELinux is enabled.
        type: str
      setype:
        description: As O(ansible.builtin.file#module:setype); applied only where SELinux is enabled.
        type: str
      selevel:
        description: As O(ansible.builtin.file#module:selevel); applied only where SELinux is enabled.
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
  expect_read_digest:
    description:
      - RV(read_digest) of an earlier read with the same read and probe options. The reads and probes
        of this call are compared with it before anything is written; when they differ, nothing is
        written and the task fails with RV(changed_meanwhile).
      - How a change planned from a read kept for the playbook run is locked on all that read found,
        not only on the files it writes. Refused with O(restart), which changes what is read.
    type: str
  commit:
    description:
      - With V(false), every O(write) is staged and validated as usual, each validation's
        output is returned in RV(staged), and the temporary files (and any parent
        directory made for them) are removed again, so nothing changes on the node, and
        O(remove) is not done. The controller inspects the output, then writes for real.
    type: bool
    default: true
  unsafe_writes:
    description:
      - Where a target cannot be replaced by a rename (a bind-mounted file, some network file
        systems), write it in place, as O(ansible.builtin.copy#module:unsafe_writes) does. Such a
        write cannot be undone should a later target fail.
      - Also set by the environment variable E(ANSIBLE_UNSAFE_WRITES).
    type: bool
    default: false
  remove:
    description:
      - Files to remove, after the writes, in the same all-or-nothing step.
      - A path that is a symbolic link is not removed; the file behind it is emptied, so the
        link stays valid.
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
        description:
          - Also remove the parent directory when it is left empty; a parent that is a symbolic
            link stays, and so does the directory behind it.
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
    attributes:
      description:
        - The letters C(lsattr -d) shows (such as V(e), V(eA)); null where C(lsattr) cannot tell,
          such as on a file system without attributes.
      returned: when O(read_attributes=true)
      type: str
    secontext:
      description: The SELinux context (user, role, type and, with MLS, level).
      returned: when O(read_attributes=true) and SELinux is enabled
      type: list
      elements: str
    secontext_default:
      description: The policy's default context for the path (what V(_default) stands for).
      returned: when O(read_attributes=true) and SELinux is enabled
      type: list
      elements: str
    link_target:
      description: The file behind the path, when the path is a symbolic link.
      type: str
    error:
      description:
        - Why the file could not be read, when something is there that cannot be read, such
          as a FIFO, a device, a directory or a symbolic link to nothing.
      type: str
globs:
  description: Sorted matches, other than directories, of each pattern of O(read_globs).
  returned: always
  type: dict
exists:
  description: For each path of O(exists), whether something is there (a symbolic link counts when its target exists).
  returned: always
  type: dict
dirs:
  description: What O(list_dirs) found, keyed by directory.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the directory exists.
      type: bool
    entries:
      description:
        - "C({name: {type, link}}) for every entry. C(type) is V(directory), V(file), V(other)
          (a FIFO, a socket, a device) or V(broken) (a symbolic link to nothing, or a loop of
          links); C(link) says whether the entry is a symbolic link."
      type: dict
    error:
      description: Why the directory could not be listed, such as a file where it should be, or no permission.
      type: str
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
    started_monotonic_us:
      description: systemd's C(ExecMainStartTimestampMonotonic); null when it never started or systemd could not be asked.
      type: int
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
restarted:
  description: The units of O(restart) that systemd was asked to restart, in order.
  returned: when O(restart) is set and not in check mode
  type: list
  elements: dict
  contains:
    unit:
      description: The unit.
      type: str
    rc:
      description: Exit code of C(systemctl restart); null when systemctl is not installed.
      type: int
    error:
      description: What systemctl said when the restart failed; empty when it did not.
      type: str
cri_plugins:
  description: The result of O(cri_plugins).
  returned: when O(cri_plugins) is set
  type: dict
  contains:
    address:
      description: The socket asked.
      type: str
    ctr:
      description: The C(ctr) that ran, empty when none did.
      type: str
    rc:
      description: Exit code of C(ctr plugins ls); null when it did not run.
      type: int
    stdout:
      description: The plugins, one a line (C(TYPE ID PLATFORMS STATUS)).
      type: str
    stderr:
      description: Why C(ctr) could not ask, such as a socket without a daemon.
      type: str
    attempts:
      description: How many times C(ctr plugins ls) ran (more than one only with O(cri_wait)).
      type: int
    waited:
      description: Seconds spent asking, with O(cri_wait).
      type: float
    loaded:
      description: Whether containerd answered with its CRI plugin loaded.
      type: bool
    skipped:
      description: Why nothing ran, when nothing did.
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
  description:
    - One entry per O(write) and O(remove) item that changed something.
    - On a failure, the files that stay changed because they could not be put back
      (with RV(written[].action=changed)); the task then fails with C(changed=true).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    action:
      description: C(written), C(removed), or C(changed) for a file a failure left changed.
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
read_digest:
  description:
    - SHA-256 of what the reads and probes found (files, globs, listings, existence, containerd's
      version and dump, the unit's state and monotonic start, the addresses and default routes
      node IP discovery looks at), leaving out what changes by itself (the time of the call, the
      addresses of pods and Services, lifetimes, the dump's log lines) and the answers of CRI and
      of the mirrors. For O(expect_read_digest).
  returned: always
  type: str
changed_meanwhile:
  description:
    - On a failure because a file to write or remove changed since the controller read it
      (O(write[].expected_checksum)), that file; because what the reads found differs from
      O(expect_read_digest), the text C(the files and probes read for the plan). Nothing was
      written; a new read and plan can.
  returned: failure
  type: str
"""

import base64
import contextlib
import errno
import glob
import grp
import hashlib
import json
import os
import pwd
import secrets
import stat
import sys
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.peerpull.spegel.plugins.module_utils import _cri, _network
from ansible_collections.peerpull.spegel.plugins.module_utils._file_attributes import (
    attributes_differ, chattr_argument, wanted_context, wanted_flags,
)

# --- Errors and symbolic links, shared by every file operation --------------------------------

NOT_REGULAR = {
    stat.S_IFIFO: 'a FIFO (named pipe)',
    stat.S_IFSOCK: 'a socket',
    stat.S_IFCHR: 'a character device',
    stat.S_IFBLK: 'a block device',
    stat.S_IFDIR: 'a directory',
}

# What to do about an OS error, by errno; the message names the path and strerror first.
FIXES = {
    errno.EROFS: 'the file system is mounted read-only: remount it read-write, or make this change where '
                 'the image is built',
    errno.ENOSPC: 'free space on that file system, then run the task again',
    errno.EDQUOT: 'free space (the disk quota is exhausted), then run the task again',
    errno.EACCES: 'run the task as root (become: true) or fix the permissions',
    errno.EPERM: 'look for an immutable or append-only attribute (lsattr -d PATH; chattr -i PATH) or run as root',
    errno.ELOOP: 'fix the symbolic links',
    errno.ENAMETOOLONG: 'use a shorter path',
    errno.EBUSY: 'it is a mount point (a bind-mounted file) or in use, which a rename cannot replace: let the '
                 'module write it in place with unsafe_writes (set ANSIBLE_UNSAFE_WRITES=1 for the task), '
                 'or unmount it',
}
UNCHANGED = 'Nothing was changed.'
SELINUX_PARTS = ('seuser', 'serole', 'setype', 'selevel')


class NodeFileError(Exception):
    """A write or removal cannot be done; the message names the path, the OS error and the fix.
    written: the paths changed before the failure that could not be put back."""

    def __init__(self, msg, written=()):
        super().__init__(msg)
        self.written = list(written)


def os_failure(module, path, doing, exc, tail=UNCHANGED, subject=None, written=()):
    """NodeFileError for an OSError while doing something to path (subject: the file behind
    a link, where the cause is looked for)."""
    subject = subject or path
    fix = FIXES.get(exc.errno)
    if exc.errno == errno.ENOTDIR:
        blocker = non_directory_ancestor(subject)
        fix = ('%s is a file, not a directory: move it away or choose another path' % blocker) if blocker else None
    elif exc.errno in (errno.EPERM, errno.EACCES):
        flagged = immutable_entry(module, subject)
        if flagged:
            fix = '%s is immutable or append-only (chattr +i/+a): remove that with chattr -i -a %s' % (flagged, flagged)
    reason = exc.strerror or to_native(exc)
    return NodeFileError('%s: cannot %s: %s%s. %s' % (path, doing, reason, ': ' + fix if fix else '', tail), written)


def non_directory_ancestor(path):
    """The nearest existing ancestor of path that is not a directory, or None."""
    parent = os.path.dirname(path)
    while parent and parent != os.path.dirname(parent):
        if os.path.lexists(parent):
            return None if os.path.isdir(parent) else parent
        parent = os.path.dirname(parent)
    return None


def immutable_entry(module, path):
    """path or its directory when lsattr shows it immutable or append-only, else None."""
    for candidate in (path, os.path.dirname(path)):
        if candidate and os.path.lexists(candidate) and not os.path.islink(candidate):
            flags = module.get_file_attributes(candidate, include_version=False).get('attr_flags', '')
            if 'i' in flags or 'a' in flags:
                return candidate
    return None


MAX_LINKS = 40  # as the kernel's MAXSYMLINKS


def resolve(path):
    """What os.path.realpath(path) gives, with every symbolic link on the way checked by
    trusted_link. NodeFileError (without the path, which the caller adds) for a link refused."""
    current = '/'
    pending = list(reversed(os.path.join(os.getcwd(), path).split('/')))  # next component last
    links = 0
    while pending:
        name = pending.pop()
        if name in ('', '.'):
            continue
        if name == '..':
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            return os.path.normpath(os.path.join(candidate, *reversed(pending)))
        except OSError as exc:
            raise NodeFileError('%s: %s: %s' % (candidate, exc.strerror, FIXES.get(exc.errno, 'fix the path'))) from None
        if not stat.S_ISLNK(st.st_mode):
            current = candidate
            continue
        links += 1
        if links > MAX_LINKS:
            raise NodeFileError('%s: %s' % (os.strerror(errno.ELOOP), FIXES[errno.ELOOP]))
        trusted_link(path, candidate, st)
        target = os.readlink(candidate)
        if target.startswith('/'):
            current = '/'
        pending.extend(reversed(target.split('/')))
    return current


def trusted_link(path, link, link_stat):
    """Refuse a link another user could have pointed at a file of root's (the idea of the
    kernel's fs.protected_symlinks): one in a directory writable by group or others, or one
    owned by neither the caller nor the owner of what it points to."""
    who = 'it is' if link == os.path.abspath(path) else '%s is' % link
    directory = os.path.dirname(link)
    dir_stat = os.stat(directory)
    if dir_stat.st_mode & stat.S_IWOTH or (dir_stat.st_mode & stat.S_IWGRP and dir_stat.st_gid != 0):
        raise NodeFileError('%s a symbolic link in %s, which is writable by group or others (mode %04o), so another '
                            'user could have pointed it at any file; it is not followed: replace the link by the file '
                            'it points to, or make the directory writable by its owner only (chmod go-w %s)'
                            % (who, directory, stat.S_IMODE(dir_stat.st_mode), directory))
    if link_stat.st_uid == os.geteuid():
        return
    try:
        target_owner = os.stat(link).st_uid
    except OSError:
        target_owner = os.stat(existing_ancestor(os.path.realpath(link))).st_uid  # what it would create
    if link_stat.st_uid != target_owner:
        raise NodeFileError('%s a symbolic link owned by uid %d to %s, which uid %d owns, so it may not be what that '
                            'owner set up; it is not followed: replace the link by the file it points to, or give the '
                            'link its target\'s owner (chown -h %d %s)'
                            % (who, link_stat.st_uid, os.path.realpath(link), target_owner, target_owner, link))


def existing_ancestor(path):
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def locate(path):
    """(the file path names, links resolved once, and its os.lstat; None when there is no
    file). NodeFileError (without the path, which the caller adds) for anything else there."""
    target = resolve(path)
    try:
        st = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            raise NodeFileError('it is a symbolic link to %s, which does not exist: create that file or remove '
                                'the link' % target) from None
        return target, None
    except OSError as exc:
        raise NodeFileError('%s: %s' % (exc.strerror or to_native(exc), FIXES.get(exc.errno, 'fix the path'))) from None
    kind = stat.S_IFMT(st.st_mode)
    if kind != stat.S_IFREG:
        behind = ' (behind the symbolic link, %s)' % target if target != os.path.abspath(path) else ''
        raise NodeFileError('it is %s%s, not a regular file: remove it or point the module at a file'
                            % (NOT_REGULAR.get(kind, 'not a regular file'), behind))
    return target, st


# --- File I/O: reading and listing -------------------------------------------------------------

def read_bytes(target, limit=-1):
    """The content of a regular file (at most limit bytes), never through a link (target is
    resolved), never blocking on a FIFO swapped in after the stat."""
    fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW)
    with os.fdopen(fd, 'rb') as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise NodeFileError('it stopped being a regular file while it was read')
        return f.read(limit)


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
        target, st = locate(path)
    except NodeFileError as exc:
        return {'exists': True, 'checksum': '', 'error': '%s; nothing was changed' % exc}
    if st is None:
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
    if target != os.path.abspath(path):
        info['link_target'] = target
    if st.st_size > MAX_READ_BYTES:
        info['error'] = too_large(st.st_size)
        return info
    try:
        data = read_bytes(target, MAX_READ_BYTES + 1)  # a file that grew since stat() is still bounded
    except (OSError, NodeFileError) as exc:
        info['error'] = '%s; nothing was changed' % to_native(
            exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
        return info
    if len(data) > MAX_READ_BYTES:
        info['error'] = too_large(len(data))
        return info
    info['content_b64'] = to_native(base64.b64encode(data))
    info['checksum'] = sha1(data)
    return info


def file_attributes(module, target):
    """What read_attributes adds of a file: its lsattr letters and, where SELinux is on, its context."""
    info = {'attributes': module.get_file_attributes(target, include_version=False).get('attr_flags')}
    if module.selinux_enabled():
        info.update(secontext=module.selinux_context(target), secontext_default=module.selinux_default_context(target))
    return info


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


MAX_LIST_ENTRIES = 4096  # a registry hosts directory holds a few


def list_dir(path):
    """The entries of a directory by name: their type (links followed, as containerd's os.Stat
    follows them) and whether they are links. No file in it is opened."""
    result = {'exists': True, 'entries': {}}
    try:
        with os.scandir(path) as scan:
            for count, entry in enumerate(scan):
                if count == MAX_LIST_ENTRIES:
                    return {'exists': True, 'entries': {}, 'error': 'it holds more than %d entries, which this '
                            'collection does not list: check that it is the right directory' % MAX_LIST_ENTRIES}
                result['entries'][entry.name] = {'type': entry_type(entry), 'link': entry.is_symlink()}
    except FileNotFoundError:
        return {'exists': False, 'entries': {}}
    except NotADirectoryError as exc:
        return {'exists': True, 'entries': {}, 'error': '%s: move it away or choose another path' % exc.strerror}
    except OSError as exc:
        return {'exists': True, 'entries': {}, 'error': '%s: %s' % (
            exc.strerror or to_native(exc), FIXES.get(exc.errno, 'fix the path'))}
    return result


def entry_type(entry):
    try:
        kind = stat.S_IFMT(entry.stat().st_mode)
    except OSError:  # a link to nothing, or a loop of links
        return 'broken'
    return {stat.S_IFDIR: 'directory', stat.S_IFREG: 'file'}.get(kind, 'other')


# --- File I/O: writing and removing ------------------------------------------------------------


def checked_stat(module, path, expected):
    """(target, stat, checksum) of the regular file path names (stat None when absent), after
    the optimistic lock: the content must still be what the controller computed from
    (expected, '' for absent; None: any)."""
    try:
        target, st = locate(path)
        current = sha1(read_bytes(target)) if st is not None else ''
    except NodeFileError as exc:
        raise NodeFileError('%s: %s. %s' % (path, exc, UNCHANGED)) from None
    except OSError as exc:
        raise os_failure(module, path, 'read it', exc) from None
    if expected is not None and current != expected:
        raise ChangedMeanwhile(path)
    return target, st, current


class ChangedMeanwhile(NodeFileError):
    """The file changed since the controller read it."""

    def __init__(self, path):
        super().__init__('%s changed on the node while this task ran; nothing was written. Run the task again.' % path)
        self.path = path


def same_file(one, other):
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def resolve_ids(path, owner, group):
    uid = gid = -1
    try:
        if owner:
            uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError as e:
        raise NodeFileError('%s: unknown owner or group %s; nothing was written.' % (path, to_native(e))) from None
    return uid, gid


def parse_mode(path, mode):
    if mode is None:
        return None
    try:
        return int(str(mode), 8)
    except ValueError:
        raise NodeFileError("%s: mode must be octal such as '0644', got %r; nothing was written."
                            % (path, mode)) from None


def make_parents(module, path, directory):
    """Create directory and its missing parents (mode 0755); returns those made, deepest first."""
    made = []
    missing = directory
    while missing and not os.path.lexists(missing):
        made.append(missing)
        missing = os.path.dirname(missing)
    for made_dir in reversed(made):
        try:
            os.mkdir(made_dir, 0o755)
        except OSError as exc:
            remove_dirs(made[made.index(made_dir) + 1:])
            raise os_failure(module, path, 'create the directory %s' % made_dir, exc, subject=made_dir) from None
    return made


def remove_dirs(made):
    for directory in made:
        try:
            os.rmdir(directory)
        except OSError:
            pass


def keep_link(module, path, target, doing):
    """A hard link to target next to it, so a later failure can put the file back exactly
    (inode, attributes, SELinux context). Also proves the directory writable. None where
    the file system has no hard links, or the file is a mount point (EXDEV: a bind-mounted
    file, which only an in-place write with unsafe_writes can change)."""
    directory, name = os.path.split(target)
    while True:
        keep = os.path.join(directory, '.%s.%s.keep' % (name, secrets.token_hex(4)))
        try:
            os.link(target, keep)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV) and not immutable_entry(module, target):
                return None
            raise os_failure(module, path, doing, exc, subject=target) from None
        module.add_cleanup_file(keep)
        return keep


def make_backup(module, path, target):
    """A timestamped copy next to path, named as AnsibleModule.backup_local names it; unlike
    backup_local, a failed copy (a full disk) leaves no partial file behind."""
    backup = '%s.%s.%s' % (path, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S~', time.localtime()))
    try:
        module.preserved_copy(target, backup)
    except OSError as exc:
        module.cleanup(backup)
        raise os_failure(module, path, 'make the backup %s' % backup, exc) from None
    return backup


class Staged:
    """One write or removal, prepared so that committing it is a rename or an unlink."""

    def __init__(self, item, action, located):
        self.item = item
        self.action = action  # written | removed
        self.path = item['path']
        # Resolved once: a link's file is edited, the link stays; the commit checks it is still this file.
        self.target, self.original, self.checksum = located
        self.existed = self.original is not None
        self.tmp = None
        self.keep = None
        self.backup = None
        self.made_dirs = []
        self.file_args = None
        self.keep_dest_attrs = False
        # The content is already there: only metadata changes, in place. What to put back on a failure.
        self.in_place = None
        self.validate_stdout = None

    def result(self):
        result = {'path': self.path, 'action': self.action}
        if self.backup:
            result['backup_file'] = self.backup
        if self.validate_stdout is not None:
            result['validate_stdout'] = self.validate_stdout
        return result

    def discard(self, module):
        """Undo the staging: temporary file, hard link, backup, directories made."""
        for leftover in (self.tmp, self.keep, self.backup):
            if leftover:
                module.cleanup(leftover)
        remove_dirs(self.made_dirs)


def stage_write(module, item):
    """Write the new content to a temporary file next to the target (links followed),
    with its mode and owner set before any byte is written, and validate it."""
    path = item['path']
    if item['validate'] and '%s' not in item['validate']:
        # Before anything is created: no directory, no temporary file.
        raise NodeFileError('%s: validate must contain %%s, which stands for the new file; got %r. Nothing was '
                            'written.' % (path, item['validate']))
    staged = Staged(item, 'written', checked_stat(module, path, item['expected_checksum']))
    target, existing = staged.target, staged.original
    mode = parse_mode(path, item['mode'])
    uid, gid = resolve_ids(path, item['owner'], item['group'])
    if existing is not None:
        staged.keep_dest_attrs = ((mode is None or mode == stat.S_IMODE(existing.st_mode))
                                  and uid in (-1, existing.st_uid) and gid in (-1, existing.st_gid))
        mode = stat.S_IMODE(existing.st_mode) if mode is None else mode
        uid = existing.st_uid if uid == -1 else uid
        gid = existing.st_gid if gid == -1 else gid
    elif mode is None:
        mode = 0o644
    staged.file_args = module.load_file_common_arguments(
        dict(mode='%04o' % mode, owner=str(uid) if uid != -1 else None, group=str(gid) if gid != -1 else None,
             **{part: item.get(part) for part in SELINUX_PARTS}),
        path=target)
    if existing is not None and module.selinux_enabled():
        # The parts not asked for stay the file's own.
        staged.file_args['secontext'] = wanted_context(module.selinux_context(target), None,
                                                       staged.file_args['secontext'])
    data = to_bytes(item['content'], errors='surrogate_or_strict')
    if existing is not None and sha1(data) == staged.checksum:
        # No rename: an immutable file can be made mutable (-i), and nothing else changes.
        staged.in_place = dict(st=existing, secontext=module.selinux_context(target) if module.selinux_enabled()
                               else None, attributes=module.get_file_attributes(
                                   target, include_version=False).get('attr_flags'))
        if item['validate']:
            staged.validate_stdout = validate(module, path, item['validate'], target)
        return staged

    parent = os.path.dirname(target) or '.'
    try:
        if not os.path.isdir(parent):
            if os.path.lexists(parent) or not item['create_parents']:
                if os.path.lexists(parent) or non_directory_ancestor(parent):
                    raise os_failure(module, path, 'write it', OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)),
                                     subject=target)
                raise NodeFileError('%s: directory %s does not exist; nothing was written.' % (path, parent))
            staged.made_dirs = make_parents(module, path, parent)
        if staged.existed:
            staged.keep = keep_link(module, path, target, 'replace it')
        staged.tmp = write_temporary(module, path, parent, target, data, mode, uid, gid)
        if item['validate']:
            staged.validate_stdout = validate(module, path, item['validate'], staged.tmp)
        if staged.existed and item['backup']:
            staged.backup = make_backup(module, path, target)
    except NodeFileError:
        staged.discard(module)
        raise
    return staged


def write_temporary(module, path, parent, target, data, mode, uid, gid):
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix='.%s.' % os.path.basename(target), suffix='.tmp')
    except OSError as exc:
        raise os_failure(module, path, 'create a temporary file in %s' % parent, exc, subject=target) from None
    module.add_cleanup_file(tmp)
    try:
        # Attributes first, so a secret never becomes visible with a looser mode.
        os.fchmod(fd, mode)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        module.cleanup(tmp)
        raise os_failure(module, path, 'write it', exc, subject=target) from None
    return tmp


def validate(module, path, command, tmp):
    # containerd 1.6 resolves relative imports against the working directory.
    try:
        rc, out, err = module.run_command(command % tmp, cwd=os.path.dirname(path) or None, handle_exceptions=False)
    except (OSError, ValueError) as exc:
        raise NodeFileError('%s: the validate command %r cannot run (%s): fix validate; nothing was written.'
                            % (path, command % path, exc)) from None
    if rc != 0:
        raise NodeFileError('%s: the new content failed validation (%s), so nothing was written: %s'
                            % (path, command % path, (err or out).strip() or 'exit code %d' % rc))
    return out


def stage_remove(module, item):
    """Check that the file can be removed, keeping a hard link for the way back. A symbolic
    link is not removed: the file behind it is emptied, so the link stays valid."""
    staged = Staged(item, 'removed', checked_stat(module, item['path'], item['expected_checksum']))
    path = staged.path
    if not staged.existed:
        return None
    if os.path.islink(path):
        return stage_write(module, dict(item, content='', mode=None, owner=None, group=None, create_parents=False,
                                        validate=None))
    try:
        staged.keep = keep_link(module, path, staged.target, 'remove it')
        if staged.keep is None and not os.access(os.path.dirname(staged.target) or '.', os.W_OK):
            raise os_failure(module, path, 'remove it', OSError(errno.EACCES, os.strerror(errno.EACCES)),
                             subject=staged.target)
        if item['backup']:
            staged.backup = make_backup(module, path, staged.target)
    except NodeFileError:
        staged.discard(module)
        raise
    return staged


def commit(module, staged, unsafe_writes):
    """Make one staged change visible: atomic_move for a write (or only the metadata, in place,
    for content already there), then mode, ownership, SELinux context and attributes; unlink
    for a removal."""
    if staged.action == 'removed':
        os.unlink(staged.target)
        return
    file_args = staged.file_args
    if staged.keep_dest_attrs and not staged.in_place:
        module.atomic_move(staged.tmp, staged.target, unsafe_writes=unsafe_writes, keep_dest_attrs=True)
        file_args = dict(file_args, mode=None, owner=None, group=None)  # atomic_move kept the file's own
    elif not staged.in_place:
        # atomic_move gives a new file 0666 & ~umask; 0600 until the wanted mode is set keeps a secret safe.
        umask = os.umask(0o077)
        try:
            module.atomic_move(staged.tmp, staged.target, unsafe_writes=unsafe_writes, keep_dest_attrs=False)
        finally:
            os.umask(umask)
    attributes = staged.item.get('attributes')
    # Judged on the file now in place: a new inode has lost the old one's letters.
    current = module.get_file_attributes(staged.target, include_version=False).get('attr_flags') if attributes else None
    change = attributes_differ(current, attributes)
    # Clearing i or a comes first: the other changes need a file that is no longer immutable.
    unlocks = change and current is not None and bool(
        set('ia') & (set(current) - set(wanted_flags(current, attributes))))
    if unlocks:
        set_attributes(module, staged.target, attributes)
    module.set_fs_attributes_if_different(dict(file_args, attributes=None), False)
    if change and not unlocks:
        set_attributes(module, staged.target, attributes)


def set_attributes(module, target, attributes):
    """chattr, through ansible-core; its refusal named with the option and the fix."""
    try:
        module.set_attributes_if_different(target, chattr_argument(attributes), False)
    except ReportedFailure as exc:
        raise ReportedFailure('attributes %r: %s: use letters chattr takes on this file system (man chattr; '
                              'lsattr -d %s shows the current ones)' % (attributes, exc, target)) from None


def roll_back(module, entries):
    """Put back what entries changed, newest first; returns the paths that stay changed.
    Judged by what is on disk, so an entry whose commit failed before it changed anything
    (a bind-mounted target refusing the rename) is left alone."""
    stays = []
    for staged in reversed(entries):
        try:
            try:
                now = os.lstat(staged.target)
            except FileNotFoundError:
                now = None
            if staged.in_place:
                restore_metadata(module, staged)
            elif now is not None and staged.existed and same_file(now, staged.original):
                if sha1(read_bytes(staged.target)) != staged.checksum:
                    stays.append(staged.path)  # written in place (unsafe_writes): there is no way back
            elif staged.keep:
                os.rename(staged.keep, staged.target)  # the old inode: content, attributes, context
            elif not staged.existed:
                if now is not None:
                    os.unlink(staged.target)
            else:
                stays.append(staged.path)
        except (OSError, NodeFileError, ReportedFailure):
            stays.append(staged.path)
    return stays


def restore_metadata(module, staged):
    """Put back the attributes, ownership, mode and SELinux context an in-place write changed."""
    was, target = staged.in_place, staged.target
    with failures_raised(module):
        now = module.get_file_attributes(target, include_version=False).get('attr_flags')
        if None not in (was['attributes'], now) and set(now) != set(was['attributes']):
            module.set_attributes_if_different(target, was['attributes'] or '-' + now, False)
        os.chown(target, was['st'].st_uid, was['st'].st_gid)
        os.chmod(target, stat.S_IMODE(was['st'].st_mode))
        if was['secontext']:
            module.set_context_if_different(target, was['secontext'], False)


class ReportedFailure(Exception):
    """What AnsibleModule reported through fail_json while a file was being replaced."""


@contextlib.contextmanager
def failures_raised(module):
    """AnsibleModule reports some errors (chown, SELinux context) through fail_json, which
    exits; while a file is replaced they raise instead, so the rollback runs."""
    def raise_failure(msg, details=None, **_kwargs):
        raise ReportedFailure('%s (%s)' % (msg, details.strip()) if details else msg) from sys.exc_info()[1]
    module.fail_json = raise_failure
    try:
        yield
    finally:
        del module.fail_json


def commit_all(module, staged, unsafe_writes):
    """Commit every staged change, or none: on a failure the changes made so far go back."""
    for entry in staged:
        # Still the file staged: the link not re-pointed, the file not replaced.
        target, now, _checksum = checked_stat(module, entry.path, entry.item['expected_checksum'])
        if target != entry.target or (now is None) != (entry.original is None) or (
                now is not None and not same_file(now, entry.original)):
            raise ChangedMeanwhile(entry.path)
    committed = []
    for entry in staged:
        try:
            with failures_raised(module):
                commit(module, entry, unsafe_writes)
        except Exception as exc:  # atomic_move raises Exception; its cause is the OSError
            stays = roll_back(module, committed + [entry])
            if stays:
                tail = 'These files were changed and could not be put back: %s.' % ', '.join(stays)
            else:
                tail = 'The files replaced before it were put back; nothing was changed.' if committed else UNCHANGED
            cause = exc if isinstance(exc, OSError) else exc.__cause__
            if isinstance(cause, OSError):
                doing = 'replace it' if entry.action == 'written' else 'remove it'
                raise os_failure(module, entry.path, doing, cause, tail, entry.target, stays) from None
            raise NodeFileError('%s: %s. %s' % (entry.path, to_native(exc).rstrip('.'), tail), stays) from None
        committed.append(entry)
    for entry in committed:
        if entry.keep:
            module.cleanup(entry.keep)
    for entry in committed:
        parent = os.path.dirname(entry.path)  # the registry directory, never the one behind a link to it
        if (entry.action == 'removed' and entry.item['remove_empty_parent'] and parent and not os.path.islink(parent)
                and not os.listdir(parent)):
            try:
                os.rmdir(parent)
            except OSError:
                pass  # only tidying: the file itself is gone
    return [entry.result() for entry in committed]


# --- Probes: what the node's own programs say; nothing is written ------------------------------

BIN_DIRS = ['/usr/local/bin', '/usr/bin', '/usr/sbin', '/bin', '/sbin']
DUMP_TIMEOUT = 20  # seconds; a dump takes well under one
# rke2 keeps its ctr beside its containerd there, off PATH (k3s links /usr/local/bin/ctr).
CTR_KIND_DIRS = ['/var/lib/rancher/rke2/bin']
CRI_CONNECT_TIMEOUT = '2s'
CRI_WAIT_INTERVAL = 0.5  # seconds between two asks while waiting for CRI


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
    try:
        _target, st = locate(path)  # a link refused for the read is not dumped either
    except NodeFileError as exc:
        st, refused = None, to_native(exc)
    else:
        refused = None
    if not binary:
        result['skipped'] = 'containerd is not installed'
    elif refused:
        result['skipped'] = refused
    elif st is None:
        # containerd 2.x would dump its defaults for a missing file, without an error.
        result['skipped'] = 'no such file'
    elif st.st_size > MAX_READ_BYTES:
        result['skipped'] = too_large(st.st_size)  # its dump would be as large
    else:
        # containerd blocks for ever on a FIFO among its imports; the controller names it once
        # it reads the drop-ins, so a dump that does not end is cut short.
        timeout = module.get_bin_path('timeout', opt_dirs=BIN_DIRS)
        argv = ([timeout, '--kill-after=5', str(DUMP_TIMEOUT)] if timeout else []) + [
            binary, '--config', path, 'config', 'dump']
        # containerd 1.6 resolves relative imports against the working directory.
        rc, out, err = module.run_command(argv, cwd=os.path.dirname(path) or None)
        if timeout and rc in (124, 137):
            result['skipped'] = 'containerd config dump did not end within %d s' % DUMP_TIMEOUT
        else:
            result.update(rc=rc, stdout=out, stderr=err)
    return result


def ctr_binary(module, opt_dirs=None):
    """The ctr next to containerd (the same release), else the first one found (on PATH and in
    opt_dirs, by default BIN_DIRS)."""
    containerd = containerd_binary(module)
    ctr = os.path.join(os.path.dirname(containerd), 'ctr') if containerd else ''
    if not os.access(ctr, os.X_OK):
        ctr = module.get_bin_path('ctr', opt_dirs=opt_dirs or BIN_DIRS)
    return ctr or ''


def restart_units(module, units):
    """`systemctl restart` of each unit in order, up to the first that fails."""
    systemctl = module.get_bin_path('systemctl')
    if not systemctl:
        return [{'unit': units[0], 'rc': None, 'error': 'systemctl not found'}]
    restarted = []
    for unit in units:
        rc, out, err = module.run_command([systemctl, 'restart', unit])
        error = ((err or out).strip() or 'systemctl restart exited with %d' % rc) if rc else ''
        restarted.append({'unit': unit, 'rc': rc, 'error': error})
        if rc:
            break
    return restarted


def cri_plugins(module, address):
    """One `ctr plugins ls` on address: it needs a running daemon and lists each plugin's
    status. The controller judges the answer (_containerd_restart.CriAnswer)."""
    result = {'address': address, 'ctr': '', 'rc': None, 'stdout': '', 'stderr': ''}
    ctr = ctr_binary(module, BIN_DIRS + CTR_KIND_DIRS)
    argv = [ctr] if ctr else []
    if not ctr:
        # k0s ships containerd without ctr; `k0s ctr` hands the arguments after "ctr" to ctr.
        k0s = module.get_bin_path('k0s', opt_dirs=BIN_DIRS)
        argv = [k0s, 'ctr'] if k0s else []
    if not argv:
        result['skipped'] = 'ctr is not installed (looked next to containerd, on PATH and in %s; no k0s ctr)' % (
            ', '.join(BIN_DIRS + CTR_KIND_DIRS))
        return result
    # ctr waits 10s for a socket that is not there; cri_wait does the waiting.
    rc, out, err = module.run_command(argv + ['--address', address, '--connect-timeout', CRI_CONNECT_TIMEOUT,
                                              'plugins', 'ls'])
    result.update(ctr=' '.join(argv), rc=rc, stdout=out, stderr=err)
    return result


def cri_answer(module, address, wait):
    """cri_plugins, asked again every CRI_WAIT_INTERVAL until containerd serves CRI or wait
    seconds have passed: a restart's come-back wait in one round trip, not one per ask."""
    started = time.monotonic()
    attempts = 0
    while True:
        result = cri_plugins(module, address)
        attempts += 1
        loaded = _cri.cri_loaded(result['rc'], result['stdout'])
        if loaded or 'skipped' in result or time.monotonic() - started + CRI_WAIT_INTERVAL > wait:
            break
        time.sleep(CRI_WAIT_INTERVAL)
    result.update(attempts=attempts, waited=round(time.monotonic() - started, 1), loaded=loaded)
    return result


def hosts_probe(module, hosts_dir, refs):
    result = {'ctr': '', 'results': []}
    ctr = ctr_binary(module)
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
    result = {'name': name, 'active_state': None, 'started_us': None, 'started_monotonic_us': None,
              'now_us': time.time_ns() // 1000}
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
        result['started_monotonic_us'] = int(started)
        result['started_us'] = int(started) + offset_us
    return result


def network_facts(module):
    ip = module.get_bin_path('ip', opt_dirs=_network.IP_DIRS)
    return _network.network_facts(ip, lambda argv: module.run_command(argv)[:2])


# --- The module --------------------------------------------------------------------------------


def main():
    module = AnsibleModule(
        argument_spec=dict(
            read=dict(type='list', elements='path', default=[]),
            read_attributes=dict(type='bool', default=False),
            read_globs=dict(type='list', elements='str', default=[]),
            exists=dict(type='list', elements='path', default=[]),
            list_dirs=dict(type='list', elements='path', default=[]),
            containerd_version=dict(type='bool', default=False),
            config_dump=dict(type='path'),
            service_started=dict(type='str'),
            restart=dict(type='list', elements='str', default=[]),
            cri_plugins=dict(type='path'),
            cri_wait=dict(type='int', default=0),
            cri_required=dict(type='bool', default=False),
            hosts_probe=dict(type='dict', options=dict(
                hosts_dir=dict(type='path', required=True),
                refs=dict(type='list', elements='str', required=True),
            )),
            network_facts=dict(type='bool', default=False),
            commit=dict(type='bool', default=True),
            expect_read_digest=dict(type='str'),
            unsafe_writes=dict(type='bool', default=False, fallback=(env_fallback, ['ANSIBLE_UNSAFE_WRITES'])),
            write=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                content=dict(type='str', required=True, no_log=True),
                mode=dict(type='raw'),
                owner=dict(type='str'),
                group=dict(type='str'),
                attributes=dict(type='str'),
                seuser=dict(type='str'),
                serole=dict(type='str'),
                setype=dict(type='str'),
                selevel=dict(type='str'),
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
    refuse_nul(module, params)

    if params['expect_read_digest'] and params['restart']:
        module.fail_json(msg='expect_read_digest locks writes on a read; it cannot be given with restart, which '
                             'changes what is read. Nothing was changed.')
    if params['cri_required'] and not params['cri_plugins']:
        module.fail_json(msg='cri_required needs cri_plugins (the containerd socket to ask); nothing was written.')
    result = dict(read(module, params), changed=False, written=[], staged=[])
    if params['restart'] and not module.check_mode:
        result['restarted'] = restart_units(module, params['restart'])
        if result['restarted'][-1]['rc'] != 0:
            params['cri_wait'] = 0  # a unit that did not restart: nothing to wait for
    result.update(probe(module, params))
    result['read_digest'] = read_digest(result)
    if params['expect_read_digest'] and result['read_digest'] != params['expect_read_digest']:
        result.update(msg='What this task planned from changed on the node since it was read (the files and '
                          'probes read for the plan); nothing was written. Run the task again.',
                      changed_meanwhile='the files and probes read for the plan')
        module.fail_json(**result)
    # cri_required: only a restart that succeeded and a containerd that answered let the writes through.
    restart_failed = any(unit['rc'] != 0 for unit in result.get('restarted', []))
    cri_missing = params['cri_required'] and (restart_failed or not result['cri_plugins']['loaded'])
    if not module.check_mode and not cri_missing:
        write_or_remove(module, params, result)
    result['changed'] = bool(result['written'] or result.get('restarted'))
    module.exit_json(**result)


def read(module, params):
    """The result keys of the reads, listings and existence checks: files, globs, dirs, exists."""
    files = {path: describe(path) for path in params['read']}
    globs = {}
    for pattern in params['read_globs']:
        # Everything but directories: a FIFO or a broken link among them is reported, not skipped.
        matches = sorted(p for p in glob.glob(pattern) if not os.path.isdir(p))
        globs[pattern] = matches
        for path in matches:
            files.setdefault(path, describe(path))
    if params['read_attributes']:
        for path, info in files.items():
            if 'content_b64' in info:
                info.update(file_attributes(module, info.get('link_target') or path))
    dirs = {path: list_dir(path) for path in params['list_dirs']}
    exists = {path: os.path.exists(path) for path in params['exists']}
    return {'files': files, 'globs': globs, 'dirs': dirs, 'exists': exists}


def read_digest(result):
    """SHA-256 of what the reads and probes found, without what changes by itself: the time of
    the call (the unit's start taken as systemd's monotonic stamp, as its wall-clock form moves
    by microseconds), what node IP discovery does not look at in the network (the addresses of
    pods and Services, lifetimes, route caches), the dump's log lines, CRI's and the mirrors'
    answers."""
    found = {key: result[key] for key in ('files', 'globs', 'dirs', 'exists', 'containerd') if key in result}
    if 'config_dump' in result:
        found['config_dump'] = {key: value for key, value in result['config_dump'].items() if key != 'stderr'}
    if 'service' in result:
        found['service'] = {key: value for key, value in result['service'].items()
                            if key not in ('now_us', 'started_us')}
    if 'network' in result:
        found['network'] = _network.discovery_view(result['network'])
    return hashlib.sha256(json.dumps(found, sort_keys=True).encode('utf-8')).hexdigest()


def probe(module, params):
    """The result keys of the probes asked for."""
    result = {}
    if params['containerd_version']:
        result['containerd'] = containerd_version(module)
    if params['config_dump']:
        result['config_dump'] = config_dump(module, params['config_dump'])
    if params['service_started']:
        result['service'] = service_started(module, params['service_started'])
    if params['cri_plugins']:
        result['cri_plugins'] = cri_answer(module, params['cri_plugins'], params['cri_wait'])
    if params['hosts_probe']:
        result['hosts_probe'] = hosts_probe(module, params['hosts_probe']['hosts_dir'], params['hosts_probe']['refs'])
    if params['network_facts']:
        result['network'] = network_facts(module)
    return result


def write_or_remove(module, params, result):
    """Stage and validate every write and removal before the first target changes, then
    commit them all, or none."""
    staged = []
    try:
        for item in params['write']:
            staged.append(stage_write(module, item))
        if not params['commit']:
            result['staged'] = [{key: value for key, value in entry.result().items() if key != 'action'}
                                for entry in staged]
            return
        for item in params['remove']:
            entry = stage_remove(module, item)
            if entry:
                staged.append(entry)
        result['written'] = commit_all(module, staged, params['unsafe_writes'])
    except NodeFileError as exc:
        result['written'] = [{'path': path, 'action': 'changed'} for path in exc.written]
        result.update(failed=True, msg=str(exc))
        if isinstance(exc, ChangedMeanwhile):
            result['changed_meanwhile'] = exc.path
    finally:
        if result.get('failed') or not params['commit']:
            stays = {written['path'] for written in result['written']}
            # Last staged first: a directory made for an earlier file may hold a later one's.
            for entry in reversed(staged):
                if entry.path not in stays:
                    entry.discard(module)
    if result.get('failed'):
        module.fail_json(**dict(result, changed=bool(result['written'])))


def refuse_nul(module, params):
    """A NUL byte cannot be part of a file name: refused before anything is read."""
    paths = list(params['read']) + list(params['read_globs']) + list(params['exists']) + list(params['list_dirs'])
    paths += [params['config_dump'], params['cri_plugins']]
    paths += [item['path'] for item in params['write'] + params['remove']]
    if params['hosts_probe']:
        paths.append(params['hosts_probe']['hosts_dir'])
    for path in paths:
        if path and '\0' in path:
            module.fail_json(msg='%r contains a NUL byte, which no file name can hold: fix the path. %s'
                             % (path, UNCHANGED))


if __name__ == '__main__':
    main()
