# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node
from ansible_collections.peerpull.spegel.plugins.plugin_utils._action_base import ActionModuleBase
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_ip import (
    UNSET, discover, discover_from_node, discovery_reads,
)


class ActionModule(ActionModuleBase):

    ARGUMENT_SPEC = dict(
        node_ip=dict(type='str', default='auto'),
    )

    def run_action(self, args, task_vars, result):
        override = '' if args['node_ip'] is None else str(args['node_ip']).strip()
        if override not in UNSET:
            found = discover({}, [], override)  # no round trip for a given address
        else:
            found = discover_from_node(node.NodeState(node.run_node_files(self, task_vars, **discovery_reads())))
        result.update(changed=False, node_ip=found.ip, node_ips=found.ips, source=found.source)
