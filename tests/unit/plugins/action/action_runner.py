# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run an action plugin as ansible-core's own unit tests do (a mocked Task, connection and play
context), with its node round trips going to the real node_files module in this process, on
files under the test's tmp_path. Each round trip is recorded in ActionRun.calls.

An action that restarts units or asks containerd for its plugins (containerd_restart) gets a
stand-in node: ActionRun.node, with restart_units(units) and cri_plugins(address) methods
answering as the node would, in place of node_files' `systemctl restart` and `ctr plugins ls`
(whose judgement test_cri_real.py proves on real containerd; the restarts are proven on the
fleet); every round trip is recorded in ActionRun.steps, in order."""

from __future__ import annotations

import contextlib
import errno
import importlib
import io
import json
from unittest.mock import MagicMock

import pytest
from ansible import constants as C
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

from ansible_collections.peerpull.spegel.plugins.modules import node_files
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node import NODE_FILES


class ActionRun:
    def __init__(self):
        self.calls = []  # node_files arguments, one entry per round trip
        self.steps = []  # (module name or 'command', arguments), every round trip in order
        self.node = None  # stand-in for systemd and the containerd daemon

    def __call__(self, name, args, check_mode=False, diff=False, task_vars=None):
        task = MagicMock(Task)
        task.action = 'peerpull.spegel.%s' % name
        task.args = dict(args)
        task.async_val = 0
        task.check_mode = check_mode
        task.diff = diff
        task.delegate_to = None
        connection = MagicMock()
        connection._shell.tmpdir = '/nonexistent-remote-tmp'  # never used: no file transfer
        plugin = importlib.import_module('ansible_collections.peerpull.spegel.plugins.action.%s' % name)
        action = plugin.ActionModule(task, connection, PlayContext(), loader=None, templar=None, shared_loader_obj=None)

        def execute_module(module_name, module_args, task_vars):
            self.steps.append((module_name, module_args))
            assert module_name == NODE_FILES, module_name
            self.calls.append(module_args)
            out = io.StringIO()
            real = node_files.cri_plugins, node_files.restart_units
            if self.node is not None:
                node_files.cri_plugins = lambda _module, address: dict(self.node.cri_plugins(address), address=address)
                node_files.restart_units = lambda _module, units: self.node.restart_units(units)
            try:
                with patch_module_args(dict(module_args, _ansible_check_mode=check_mode)):
                    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
                        node_files.main()
            finally:
                node_files.cri_plugins, node_files.restart_units = real
            return json.loads(out.getvalue())

        action._execute_module = execute_module
        return action.run(task_vars=task_vars or {})


@pytest.fixture
def run_action():
    """run_action(name, args, check_mode=False, diff=False) -> result; run_action.calls."""
    return ActionRun()


@pytest.fixture
def kept_reads(tmp_path, monkeypatch):
    """The playbook run's local temporary directory (where reuse_read keeps reads), the test's own."""
    directory = tmp_path / 'local-tmp'
    directory.mkdir(mode=0o700)
    monkeypatch.setattr(C, 'DEFAULT_LOCAL_TMP', str(directory))
    return directory


@pytest.fixture
def failing_rename(monkeypatch):
    """Every rename onto a target fails as on a read-only file system."""
    def atomic_move(self, src, dest, *args, **kwargs):
        raise Exception('Could not replace %r with %r.' % (dest, src)) from OSError(errno.EROFS, 'Read-only')
    monkeypatch.setattr(AnsibleModule, 'atomic_move', atomic_move)


@pytest.fixture
def k3s_etc(tmp_path):
    """k3s's configuration directory under tmp_path (kind_options.config_dir)."""
    return tmp_path / 'etc' / 'rancher' / 'k3s'
