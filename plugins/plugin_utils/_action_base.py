# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The base of the collection's action plugins (modelled on community.crypto's ActionModuleBase).

A subclass names its ARGUMENT_SPEC (the module's DOCUMENTATION must agree with it:
tests/unit/plugins/action/test_argument_specs.py) and implements run_action(). The base
validates the task's arguments against the spec and turns a SpegelError into a failed result
whose message has URL credentials masked.
"""

from __future__ import annotations

import abc

from ansible.plugins.action import ActionBase

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_url_credentials


class ActionModuleBase(ActionBase, metaclass=abc.ABCMeta):

    TRANSFERS_FILES = False
    _requires_connection = True

    # The options, as an ansible.module_utils argument spec; ARGUMENT_RULES: the validator's
    # other keywords (required_if, mutually_exclusive, ...).
    ARGUMENT_SPEC = {}
    ARGUMENT_RULES = {}

    @abc.abstractmethod
    def run_action(self, args, task_vars, result):
        """Do the task with validated args, filling in result; raise SpegelError to fail."""

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC, **self.ARGUMENT_RULES)
        try:
            self.run_action(args, task_vars or {}, result)
        except SpegelError as exc:
            fail(result, exc)
        return result


def fail(result, exc, changed=None):
    """Make result a failure with exc's message. changed: whether files stay changed, by default
    what exc says; a result without changes shows no diff."""
    changed = exc.changed if changed is None else changed
    result.update(failed=True, changed=bool(changed), msg=redact_url_credentials(str(exc)))
    if not changed:
        result.pop('diff', None)
    return result
