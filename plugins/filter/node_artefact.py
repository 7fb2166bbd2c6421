# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.filter.role_list import role_list
from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import node_artefact as render
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_url_credentials

# List options, as the roles read them: a list, or an AWX string of items.
LISTS = {'registries': ('mirror_registries', 'str'), 'ports': ('mirror_ports', 'port'),
         'urls': ('mirror_urls', 'str'), 'capabilities': ('mirror_capabilities', 'str')}


def node_artefact(distribution, **options):
    """The artefact of one distribution (see node_artefact.yml)."""
    for name, (option, kind) in LISTS.items():
        if name in options:
            options[name] = role_list(options[name], option, kind)
    try:
        return render(distribution, **options)
    except SpegelError as exc:
        # The messages name options, never a secret's value.
        raise AnsibleFilterError('peerpull.spegel.node_artefact(%s): %s'
                                 % (distribution, redact_url_credentials(str(exc)))) from None
    except TypeError as exc:
        raise AnsibleFilterError('peerpull.spegel.node_artefact: %s' % exc) from None


class FilterModule:

    def filters(self):
        return {'node_artefact': node_artefact}
