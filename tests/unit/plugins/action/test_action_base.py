# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action plugins' base: arguments validated first, a SpegelError made a failed result."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.task import Task

from ansible_collections.peerpull.spegel.plugins.plugin_utils._action_base import ActionModuleBase
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError


class Raising(ActionModuleBase):
    ARGUMENT_SPEC = dict(name=dict(type='str', required=True), changed=dict(type='bool', default=False))

    def run_action(self, args, task_vars, result):
        result['diff'] = {'before': 'a', 'after': 'b'}
        error = SpegelError('%s: https://user:s3cret@registry.example/v2 refused; fix it.' % args['name'])
        error.changed = args['changed']
        raise error


def action(args):
    task = MagicMock(Task)
    task.args, task.async_val, task.check_mode, task.action = args, 0, False, 'peerpull.spegel.raising'
    connection = MagicMock()
    connection._shell.tmpdir = '/nonexistent-remote-tmp'
    return Raising(task, connection, MagicMock(), loader=None, templar=None, shared_loader_obj=None)


def test_an_error_is_a_failed_result_with_credentials_masked():
    result = action(dict(name='/etc/x.toml')).run(task_vars={})
    assert result['failed'] and result['changed'] is False
    assert result['msg'] == '/etc/x.toml: https://********@registry.example/v2 refused; fix it.'
    assert 'diff' not in result  # nothing changed: nothing to show


def test_an_error_after_a_change_that_stays_reports_the_change_and_its_diff():
    result = action(dict(name='/etc/x.toml', changed=True)).run(task_vars={})
    assert result['failed'] and result['changed'] is True and result['diff'] == {'before': 'a', 'after': 'b'}


@pytest.mark.parametrize('args, message', [
    ({}, 'missing required arguments: name'),
    (dict(name='x', colour='red'), 'Unsupported parameters'),
    (dict(name='x', changed='perhaps'), 'changed'),
])
def test_arguments_are_validated_before_run_action(args, message):
    with pytest.raises(AnsibleActionFail, match=message):
        action(args).run(task_vars={})
