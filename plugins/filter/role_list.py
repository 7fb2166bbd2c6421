# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import port_number
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import option_type

KINDS = ('str', 'port')


def role_list(value, option, kind='str'):
    """A role's list option as a list. A list stays as it is; a string (an AWX survey answer) is
    split at commas and white space; an empty string or None is the empty list. Every item must
    be of the kind: a non-empty string, or a port (an integer or digits, 1-65535, no boolean)."""
    if kind not in KINDS:
        raise AnsibleFilterError('role_list: kind must be one of %s, got %r' % (', '.join(KINDS), kind))
    if value is None or isinstance(value, str) and value.strip() == '':
        return []
    if isinstance(value, str):
        items = [item for item in re.split(r'[,\s]+', value) if item]
    elif isinstance(value, (list, tuple)):
        items = [] if list(value) == [''] else list(value)  # AWX's blank multiselect
    elif kind == 'port' and isinstance(value, (int, float)) and not isinstance(value, bool):
        items = [value]
    else:
        raise AnsibleFilterError('%s must be a list, or a string of items separated by commas or spaces; got %s.'
                                 % (option, option_type(value)))
    if kind == 'port':
        try:
            return [port_number(item, option) for item in items]
        except SpegelError as exc:
            raise AnsibleFilterError(str(exc)) from None
    for item in items:
        if not isinstance(item, str) or item.strip() == '':
            raise AnsibleFilterError('%s: every item must be a non-empty string, got %r.' % (option, item))
    return [str(item) for item in items]


class FilterModule:

    def filters(self):
        return {'role_list': role_list}
