# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What node IP discovery (plugin_utils/_node_ip.py) reads of a node's network.

Standard library only: the node_files module runs it through Ansible, and the boot step of
an image bake (plugin_utils/_boot_hosts.py) runs it at every boot, without Ansible.
"""

from __future__ import annotations

import json
import os

IP_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin']

# Route lookups towards public addresses (as Ansible's own facts do): they name the default
# route's interface and source address without sending anything.
ROUTE_LOOKUPS = (('route_v4', ['-j', '-4', 'route', 'get', '8.8.8.8']),
                 ('route_v6', ['-j', '-6', 'route', 'get', '2001:4860:4860::8888']))
PROC_NET_TABLES = ('route', 'ipv6_route', 'if_inet6', 'fib_trie')


def network_facts(ip, run):
    """ip: the path of iproute2's `ip` (or None); run(argv) -> (rc, stdout)."""
    if ip:
        rc, out = run([ip, '-j', 'addr', 'show'])
        try:
            addresses = json.loads(out) if rc == 0 else None
        except ValueError:  # an iproute2 without -j
            addresses = None
        if isinstance(addresses, list):
            facts = {'source': 'ip', 'addresses': addresses}
            for key, args in ROUTE_LOOKUPS:
                rc, out = run([ip] + args)
                # No route (an airgapped node) is a normal answer: rc 2, "Network is unreachable".
                try:
                    facts[key] = json.loads(out) if rc == 0 else None
                except ValueError:
                    facts[key] = None
            return facts
    proc = {}
    for table in PROC_NET_TABLES:
        try:
            with open(os.path.join('/proc/net', table)) as f:
                proc[table] = f.read()
        except OSError:
            proc[table] = None
    return {'source': 'proc', 'proc': proc}
