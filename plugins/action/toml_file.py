# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.peerpull.spegel.plugins.module_utils._file_attributes import (
    attributes_differ, parse_attributes, wanted_context, wanted_flags,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node
from ansible_collections.peerpull.spegel.plugins.plugin_utils._action_base import ActionModuleBase
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import (
    TomlEditor, format_key, redact_secrets, require_absolute,
)


def normalise_mode(mode, path):
    """The mode as an octal string, read as ansible.builtin.copy reads it: a string is octal
    ('0644', '644'), an integer is the mode itself (YAML reads an unquoted 0644 as 420). A
    symbolic mode cannot be compared on the controller."""
    if mode is None:
        return None
    if isinstance(mode, bool) or not isinstance(mode, (int, str)):
        number = None
    elif isinstance(mode, int):
        number = mode
    else:
        try:
            number = int(mode, 8)
        except ValueError:
            number = None
    if number is None or not 0 <= number <= 0o7777:
        raise SpegelError("%s: mode must be octal, such as '0644' (quoted) or 0644, got %r; nothing was changed."
                          % (path, mode))
    return '%04o' % number


SELINUX_PARTS = ('seuser', 'serole', 'setype', 'selevel')


def check_options(path, validate, attributes=None):
    """Options that are wrong whatever the node holds: refused before anything is read. Which
    attribute letters exist is chattr's to say, on the node."""
    require_absolute(path, 'path', '/etc/containerd/config.toml')
    if validate is not None and '%s' not in validate:
        raise SpegelError("validate must contain %%s, which stands for the new file, such as "
                          "'containerd --config %%s config dump'; got %r. Nothing was changed." % (validate,))
    if attributes is not None:
        try:
            parse_attributes(attributes)
        except ValueError as exc:
            raise SpegelError('%s: %s. Nothing was changed.' % (path, exc)) from None


def metadata_changes(current, mode, args):
    """(before, after): the file's mode, owner, group, attributes and SELinux context that the
    task changes, as its diff shows them; both empty when it changes none. An owner or group is
    a name or a numeric id; SELinux parts count only where the node reports SELinux enabled."""
    before, after = {}, {}
    if mode is not None and current.mode != mode:
        before['mode'], after['mode'] = current.mode, mode
    for name, number in (('owner', current.uid), ('group', current.gid)):
        if args[name] and args[name] not in (getattr(current, name), str(number)):
            before[name], after[name] = getattr(current, name), args[name]
    if attributes_differ(current.attributes, args['attributes']):
        before['attributes'] = current.attributes
        after['attributes'] = wanted_flags(current.attributes or '', args['attributes'])
    if current.secontext:
        wanted = wanted_context(current.secontext, current.secontext_default, [args[part] for part in SELINUX_PARTS])
        if wanted != current.secontext:
            before['secontext'], after['secontext'] = ':'.join(current.secontext), ':'.join(wanted)
    return before, after


class ActionModule(ActionModuleBase):

    ARGUMENT_SPEC = dict(
        path=dict(type='path', required=True, aliases=['dest']),
        key=dict(type='list', elements='str', required=True, no_log=False),
        value=dict(type='raw'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        create=dict(type='bool', default=False),
        backup=dict(type='bool', default=False),
        validate=dict(type='str'),
        # ansible.builtin.files' options (applied on the node by ansible-core, see node_files).
        mode=dict(type='raw'),
        owner=dict(type='str'),
        group=dict(type='str'),
        seuser=dict(type='str'),
        serole=dict(type='str'),
        setype=dict(type='str'),
        selevel=dict(type='str'),
        attributes=dict(type='str', aliases=['attr']),
        unsafe_writes=dict(type='bool', default=False),
    )
    ARGUMENT_RULES = dict(required_if=[('state', 'present', ('value',))])

    def run_action(self, args, task_vars, result):
        path = args['path']
        check_options(path, args['validate'], args['attributes'])
        mode = normalise_mode(args['mode'], path)
        chattr_and_selinux = {name: args[name] for name in ('attributes',) + SELINUX_PARTS if args[name] is not None}
        # lsattr (and SELinux) only when asked about: one more command per file on the node.
        asked = dict(read_attributes=True) if chattr_and_selinux else {}
        current = node.read(self, task_vars, paths=[path], **asked).file(path)
        if not current.exists and not args['create'] and args['state'] == 'present':
            raise SpegelError('%s does not exist; set create: true to create it.' % path)

        editor = TomlEditor(current.text_or_empty, path)
        if args['state'] == 'present':
            editor.set(args['key'], args['value'])
        else:
            editor.remove(args['key'])
        new_text = editor.render()

        content_changed = new_text != current.text_or_empty if current.exists else args['state'] == 'present'
        before, after = metadata_changes(current, mode, args) if current.exists else ({}, {})
        result.update(changed=bool(content_changed or after), path=path, key=format_key(args['key']))
        if self._task.diff:
            diffs = []
            if content_changed:
                diffs.append(node.file_diff(path, redact_secrets(current.text, path),
                                            redact_secrets(new_text, path, before=current.text or '')))
            if after:
                diffs.append(dict(before=dict(path=path, **before), after=dict(path=path, **after)))
            if diffs:
                result['diff'] = diffs[0] if len(diffs) == 1 else diffs
        if not result['changed'] or self._task.check_mode:
            return

        write = dict(path=path, content=new_text, backup=args['backup'], mode=mode,
                     owner=args['owner'], group=args['group'], create_parents=args['create'],
                     expected_checksum=current.checksum, validate=args['validate'], **chattr_and_selinux)
        written = node.write(self, task_vars, writes=[write], unsafe_writes=args['unsafe_writes'])
        if written and written[0].get('backup_file'):
            result['backup_file'] = written[0]['backup_file']
