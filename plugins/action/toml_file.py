# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

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


def check_options(path, validate):
    """Options that are wrong whatever the node holds: refused before anything is read."""
    require_absolute(path, 'path', '/etc/containerd/config.toml')
    if validate is not None and '%s' not in validate:
        raise SpegelError("validate must contain %%s, which stands for the new file, such as "
                          "'containerd --config %%s config dump'; got %r. Nothing was changed." % (validate,))


def attributes_differ(current, mode, owner, group):
    """Whether the requested mode/owner/group differ from the file's (names or numeric ids)."""
    return ((mode is not None and current.mode != mode)
            or (owner and owner not in (current.owner, str(current.uid)))
            or (group and group not in (current.group, str(current.gid))))


class ActionModule(ActionModuleBase):

    ARGUMENT_SPEC = dict(
        path=dict(type='path', required=True, aliases=['dest']),
        key=dict(type='list', elements='str', required=True, no_log=False),
        value=dict(type='raw'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        create=dict(type='bool', default=False),
        backup=dict(type='bool', default=False),
        validate=dict(type='str'),
        mode=dict(type='raw'),
        owner=dict(type='str'),
        group=dict(type='str'),
    )
    ARGUMENT_RULES = dict(required_if=[('state', 'present', ('value',))])

    def run_action(self, args, task_vars, result):
        path = args['path']
        check_options(path, args['validate'])
        mode = normalise_mode(args['mode'], path)
        current = node.read(self, task_vars, paths=[path]).file(path)
        if not current.exists and not args['create'] and args['state'] == 'present':
            raise SpegelError('%s does not exist; set create: true to create it.' % path)

        editor = TomlEditor(current.text_or_empty, path)
        if args['state'] == 'present':
            editor.set(args['key'], args['value'])
        else:
            editor.remove(args['key'])
        new_text = editor.render()

        content_changed = new_text != current.text_or_empty if current.exists else args['state'] == 'present'
        attrs_changed = current.exists and attributes_differ(current, mode, args['owner'], args['group'])
        result.update(changed=bool(content_changed or attrs_changed), path=path, key=format_key(args['key']))
        if content_changed and self._task.diff:
            result['diff'] = node.file_diff(path, redact_secrets(current.text, path),
                                            redact_secrets(new_text, path, before=current.text or ''))
        if not result['changed'] or self._task.check_mode:
            return

        write = dict(path=path, content=new_text, backup=args['backup'], mode=mode,
                     owner=args['owner'], group=args['group'], create_parents=args['create'],
                     expected_checksum=current.checksum, validate=args['validate'])
        written = node.write(self, task_vars, writes=[write])
        if written and written[0].get('backup_file'):
            result['backup_file'] = written[0]['backup_file']
