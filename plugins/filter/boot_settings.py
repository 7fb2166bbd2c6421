# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._boot_hosts import check_settings
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_url_credentials


def boot_settings(settings):
    """The boot step's settings, checked as the boot step reads them (plugin_utils/_boot_hosts.py)."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError('boot_settings: the settings are a dict, got a %s' % type(settings).__name__)
    plain = {str(key): value for key, value in settings.items()}
    try:
        return check_settings(plain)
    except SpegelError as exc:
        raise AnsibleFilterError('The boot step could not write the hosts.toml files with these options: %s '
                                 'Nothing was installed.' % redact_url_credentials(str(exc))) from None


class FilterModule:

    def filters(self):
        return {'boot_settings': boot_settings}
