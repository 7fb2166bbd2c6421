# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller's view of files on a node, through the peerpull.spegel.node_files module.

Action plugins read everything they need in one round trip, compute new contents on the
controller, and write (staged, validated, atomic) in a second round trip only when
something changes; one that must judge the validation's output first (containerd's dump
of the new file) validates in a round trip of its own before that write. A check-mode run
can keep its read for the next run on the node in the same playbook run (kept reads), which
then starts without a read round trip.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import tempfile

from ansible import constants as C
from ansible.utils.display import Display

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import parse_containerd_version

NODE_FILES = 'peerpull.spegel.node_files'

display = Display()


class NodeFile:
    """A file as read from the node: text is None when it does not exist."""

    def __init__(self, path, info):
        self.path = path
        self.exists = info.get('exists', False)
        self.checksum = info.get('checksum', '')
        self.mode = info.get('mode')
        self.owner = info.get('owner')
        self.group = info.get('group')
        self.uid = info.get('uid')
        self.gid = info.get('gid')
        # Read with read_attributes=True: lsattr's letters (None: it could not tell); the SELinux
        # context and the policy's default for the path, where SELinux is enabled (else None).
        self.attributes = info.get('attributes')
        self.secontext = info.get('secontext')
        self.secontext_default = info.get('secontext_default')
        self.mtime_us = info.get('mtime_us')
        self.text = None
        if info.get('error'):
            raise SpegelError('%s cannot be read on the node: %s' % (path, info['error']))
        if self.exists:
            self.text = decode(path, info.get('content_b64', ''))

    @property
    def text_or_empty(self):
        return self.text if self.text is not None else ''


def decode(path, content_b64):
    try:
        return base64.b64decode(content_b64).decode('utf-8')
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise SpegelError('%s is not UTF-8 text (%s); nothing was changed.' % (path, exc)) from None


class NodeDir:
    """A directory as listed on the node: entries {name: {'type', 'link'}}, empty when it does not exist."""

    def __init__(self, path, info):
        self.path = path
        self.exists = info.get('exists', False)
        if info.get('error'):
            raise SpegelError('%s cannot be listed on the node: %s; nothing was changed.' % (path, info['error']))
        self.entries = info.get('entries', {})

    def names(self, entry_type):
        """The names of the entries of that type (links followed), sorted."""
        return sorted(name for name, entry in self.entries.items() if entry['type'] == entry_type)


class NodeState:
    """The result of one read round trip."""

    def __init__(self, result):
        self.files = {path: NodeFile(path, info) for path, info in result.get('files', {}).items()}
        self.globs = result.get('globs', {})
        self.dirs = {path: NodeDir(path, info) for path, info in result.get('dirs', {}).items()}
        self.containerd = result.get('containerd', {})
        self.service = result.get('service')
        self.config_dump = result.get('config_dump', {})
        # node_files' cri_plugins probe (one `ctr plugins ls`), judged by _containerd_restart.CriAnswer.
        self.cri_plugins = result.get('cri_plugins')
        self.network = result.get('network') or {}  # read with network_facts=True
        # The paths asked about with node_files' exists probe that are there.
        self.present = {path for path, there in result.get('exists', {}).items() if there}
        # kept: taken from a kept read (see read_for) rather than read now; then the request it
        # answered, whose reads a write made from this state repeats and compares (read_digest).
        self.kept = False
        self.kept_request = None
        self.read_digest = result.get('read_digest')

    def merge(self, other):
        """Add a second read's files, globs and listings to this state."""
        self.files.update(other.files)
        self.globs.update(other.globs)
        self.dirs.update(other.dirs)
        self.present |= other.present
        return self

    def file(self, path):
        return self.files[path]

    def containerd_version(self, given=None):
        """The given version, else the one the node's `containerd --version` reported (read with
        containerd_version=True); None when neither is known."""
        if given:
            return parse_containerd_version(given)
        if self.containerd.get('path'):
            return parse_containerd_version(self.containerd.get('version_output', ''), self.containerd['path'])
        return None


class NodeFilesError(SpegelError):
    """node_files failed on the node; result holds what it returned. changed: whether files
    stay changed all the same (a failure part-way that could not be undone); None when the
    module did not say (it died before answering)."""

    def __init__(self, result):
        super().__init__(failure_message(result))
        self.result = result
        self.changed = bool(result['written']) if 'written' in result else None


def failure_message(result):
    """What went wrong on the node: the module's msg, or, when the module died on an
    exception (ansible-core 2.19 reports it without msg), the exception's own text."""
    if result.get('msg'):
        return str(result['msg'])
    exception = result.get('exception')
    event = getattr(exception, 'event', None)
    detail = getattr(event, 'msg', None) or (exception if isinstance(exception, str) else None)
    detail = detail or (result.get('module_stderr') or result.get('module_stdout') or '').strip()
    return '%s failed on the node: %s' % (NODE_FILES, detail or 'no message (run with -vvv)')


def run_node_files(action, task_vars, **args):
    result = action._execute_module(module_name=NODE_FILES, module_args=args, task_vars=task_vars)
    if result.get('failed'):
        raise NodeFilesError(result)
    return result


class StaleKeptRead(Exception):
    """A kept read is not to be acted on: the node changed since, or it shows nothing to change or
    a failure (either is said from a read of now)."""


def reusing_read(run, result, reuse):
    """run(reuse), filling in result; when it finds its kept read stale, run(False) on a fresh
    result: the node read again."""
    found = dict(result)
    try:
        run(reuse)
    except StaleKeptRead:
        result.clear()
        result.update(found)
        run(False)


def act_on(state, changed):
    """Raise StaleKeptRead when state is a kept read that shows nothing to change."""
    if state.kept and not changed:
        raise StaleKeptRead()


@contextlib.contextmanager
def judged_now(state):
    """A failure raised from a kept read is found again in a read of now (StaleKeptRead), when it
    is known to have changed nothing (changed is False: not a write whose outcome is unknown)."""
    try:
        yield
    except SpegelError as exc:
        if state.kept and exc.changed is False:
            raise StaleKeptRead() from None
        raise


def read(action, task_vars, paths=(), globs=(), dirs=(), **probes):
    """One read round trip: files, glob matches and (dirs) directory listings; probes: node_files'
    probe arguments (containerd_version, exists, ...)."""
    listing = dict(list_dirs=list(dirs)) if dirs else {}
    probes.setdefault('containerd_version', False)
    return NodeState(run_node_files(action, task_vars, read=list(paths), read_globs=list(globs), **listing, **probes))


def validate(action, task_vars, writes):
    """Stage and validate writes on the node, then drop them: nothing changes. Returns
    node_files' `staged` list (each validation's output)."""
    return run_node_files(action, task_vars, write=list(writes), commit=False)['staged']


def write(action, task_vars, writes=(), removes=(), unsafe_writes=False, planned_from=None):
    """Stage, validate and commit writes and removals on the node. Returns node_files' `written` list.
    unsafe_writes: as ansible.builtin.copy's; false leaves it to the node's ANSIBLE_UNSAFE_WRITES.
    planned_from: the NodeState the changes were planned from. When it is a kept read, the node
    repeats that read first and writes only if it finds the same (expect_read_digest); if not,
    or a file changed since, StaleKeptRead."""
    unsafe = dict(unsafe_writes=True) if unsafe_writes else {}
    kept = planned_from is not None and planned_from.kept
    same_read = dict(planned_from.kept_request, expect_read_digest=planned_from.read_digest) if kept else {}
    try:
        return run_node_files(action, task_vars, write=list(writes), remove=list(removes), **unsafe,
                              **same_read)['written']
    except NodeFilesError as exc:
        if kept and exc.result.get('changed_meanwhile'):
            raise StaleKeptRead() from None
        if exc.changed is None:
            raise WriteOutcomeUnknown(exc, [item['path'] for item in list(writes) + list(removes)]) from None
        raise


class WriteOutcomeUnknown(SpegelError):
    """node_files gave no answer to a write (it died before answering): the files may have
    changed, so the task reports a change, and the user is told which files to check."""

    changed = True

    def __init__(self, exc, paths):
        super().__init__('%s. The node gave no answer to the write, so whether these files changed is unknown: '
                         '%s. Check them, or run the task again: it shows what is left to change.'
                         % (str(exc).rstrip('.'), ', '.join(paths)))


def read_for(action, task_vars, adapter, spec, exists=(), also=None, reuse=False, **probes):
    """The node state a node kind's plan needs: its reads and probes in one round trip (with
    exists: paths whose presence to report, such as the other kinds' marks; also: a further
    read request of node_files arguments, such as another action's reads, answered in the same
    round trip; probes: the caller's own, such as cri_plugins), and a second read only when
    the adapter's follow_up asks for one.

    reuse: in check mode, keep the answer to the first request for this node in the playbook
    run; outside it, take the answer a check-mode run kept for the same request, if any
    (state.kept says so), once; a second read is always made now. Only the write's lock on that
    answer (write's planned_from) makes this safe: whoever acts on a kept state runs in
    reusing_read, checks its plan with act_on, judges it in judged_now (raising what fails) and
    writes with planned_from, so that it reads again when the node changed since, or when the
    kept read shows nothing to change or a failure."""
    paths, globs = adapter.reads(spec)
    request = union(dict(read=list(paths), read_globs=list(globs), exists=list(exists), containerd_version=False),
                    adapter.probes(spec), probes, also or {})
    state = _read_state(action, task_vars, request, reuse)
    with judged_now(state):
        more_paths, more_globs = adapter.follow_up(spec, state)
    if more_paths or more_globs:
        state.merge(read(action, task_vars, more_paths, more_globs))
    return state


def _read_state(action, task_vars, request, reuse):
    kept_path = _kept_read_path(action, task_vars, request) if reuse else None
    if kept_path and not action._task.check_mode:
        kept = _take_kept_read(kept_path)
        if kept is not None:
            try:
                state = NodeState(kept)
            except SpegelError:
                raise StaleKeptRead() from None  # said from a read of now
            state.kept, state.kept_request = True, request
            return state
    result = run_node_files(action, task_vars, **request)
    if kept_path and action._task.check_mode:
        _keep_read(kept_path, result)
    return NodeState(result)


def _kept_read_path(action, task_vars, request):
    """Where this playbook run keeps the answer to a read request for this node: the run's own
    local temporary directory (private to the user, removed when the run ends, where ansible-core
    caches its module payloads too), named by the host, the connection and the request."""
    context = action._play_context
    key = json.dumps([task_vars.get('inventory_hostname'), action._task.delegate_to, context.remote_addr,
                      context.port, context.remote_user, context.become and context.become_user, request],
                     sort_keys=True, default=str)
    name = 'peerpull-spegel-read-%s.json' % hashlib.sha256(key.encode('utf-8')).hexdigest()
    return os.path.join(C.DEFAULT_LOCAL_TMP, name)


def _keep_read(path, result):
    """Keep the answer, if it can be: a read not kept is only read again."""
    answer = {key: value for key, value in result.items() if key != 'invocation'}
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
    except OSError as exc:
        display.vvv('peerpull.spegel: the read is not kept (%s)' % exc)
        return
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as stream:
            json.dump(answer, stream)
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        display.vvv('peerpull.spegel: the read is not kept (%s)' % exc)


def _take_kept_read(path):
    """The kept answer, removed: each is used once. None when there is none (or it cannot be read)."""
    try:
        with open(path, encoding='utf-8') as stream:
            answer = json.load(stream)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        display.vvv('peerpull.spegel: the kept read is not used (%s)' % exc)
        answer = None
    with contextlib.suppress(OSError):
        os.unlink(path)
    return answer if isinstance(answer, dict) and answer.get('read_digest') else None


def union(*requests):
    """One node_files read request that asks all that each of requests asks: lists joined
    (each item once, in order), flags or-ed; None is not asking, and any other value (a path
    to dump, a service) must be the same wherever it is asked."""
    merged = {}
    for request in requests:
        for name, value in request.items():
            known = merged.get(name)
            if isinstance(value, list):
                merged[name] = list(dict.fromkeys((known or []) + value))
            elif isinstance(value, bool):
                merged[name] = bool(known) or value
            elif value is not None and known is not None and known != value:
                raise ValueError('node_files %s asked as both %r and %r' % (name, known, value))
            elif known is None:
                merged[name] = value
    return merged


def change_writes(changes):
    """node_files' write and remove arguments for FileChanges (see _node_kinds): every write
    locked on the content read (a new file: must still be absent), parents created."""
    writes, removes = [], []
    for change in changes:
        if change.after is None:
            removes.append(dict(path=change.path, backup=change.backup, expected_checksum=change.before.checksum))
            continue
        write = dict(path=change.path, content=change.after, create_parents=True,
                     expected_checksum=change.before.checksum)
        for name in ('mode', 'owner', 'group', 'validate', 'backup'):
            if getattr(change, name):
                write[name] = getattr(change, name)
        writes.append(write)
    return writes, removes


def file_diff(path, before, after):
    """An Ansible diff for one file; None stands for a file that does not exist."""
    return {
        'before_header': path if before is not None else '%s (absent)' % path,
        'after_header': path if after is not None else '%s (absent)' % path,
        'before': before or '',
        'after': after or '',
    }
