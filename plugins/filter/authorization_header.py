# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import authorization_header as header


def authorization_header(value, option='mirror_authorization'):
    """The Authorization header containerd_hosts writes for value: a header value as it is, Basic from
    a dict with username and password (JSON strings with encoding json); '' when unset."""
    try:
        return header(value, option) or ''
    except SpegelError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:

    def filters(self):
        return {'authorization_header': authorization_header}
