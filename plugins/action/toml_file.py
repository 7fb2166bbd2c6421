# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import (
    TomlEditError, TomlEditor, format_key, redact_secrets, redact_url_credentials,
)

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


def normalise_mode(mode, path):
    """Octal modes only: a symbolic mode cannot be compared on the controller."""
    if mode is None:
        return None
    text = str(mode)
    try:
        return '%04o' % int(text, 8)
    except ValueError:
        raise TomlEditError("%s: mode must be an octal string such as '0644', got %r" % (path, mode)) from None


def attributes_differ(current, mode, owner, group):
    """Whether the requested mode/owner/group differ from the file's (names or numeric ids)."""
    return ((mode is not None and current.mode != mode)
            or (owner and owner not in (current.owner, str(current.uid)))
            or (group and group not in (current.group, str(current.gid))))


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            required_if=[('state', 'present', ('value',))],
        )
        path = args['path']
        try:
            mode = normalise_mode(args['mode'], path)
            state = node.read(self, task_vars, paths=[path])
            current = state.file(path)
            if not current.exists and not args['create'] and args['state'] == 'present':
                raise TomlEditError('%s does not exist; set create: true to create it.' % path)

            editor = TomlEditor(current.text_or_empty, path)
            if args['state'] == 'present':
                editor.set(args['key'], args['value'])
            else:
                editor.remove(args['key'])
            new_text = editor.render()
        except (TomlEditError, node.NodeFilesError) as exc:
            result.update(failed=True, msg=redact_url_credentials(str(exc)))
            return result

        content_changed = new_text != current.text_or_empty if current.exists else args['state'] == 'present'
        attrs_changed = current.exists and attributes_differ(current, mode, args['owner'], args['group'])
        result.update(changed=bool(content_changed or attrs_changed), path=path, key=format_key(args['key']))
        if content_changed and self._task.diff:
            result['diff'] = node.file_diff(path, redact_secrets(current.text, path),
                                            redact_secrets(new_text, path, before=current.text or ''))
        if not result['changed'] or self._task.check_mode:
            return result

        write = dict(path=path, content=new_text, backup=args['backup'], mode=mode,
                     owner=args['owner'], group=args['group'], create_parents=args['create'],
                     expected_checksum=current.checksum, validate=args['validate'])
        try:
            written = node.write(self, task_vars, writes=[write])
        except node.NodeFilesError as exc:
            result.update(failed=True, changed=False, msg=redact_url_credentials(str(exc)))
            result.pop('diff', None)
            return result
        if written and written[0].get('backup_file'):
            result['backup_file'] = written[0]['backup_file']
        return result
