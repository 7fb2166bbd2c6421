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


# Interfaces that carry addresses which are not the node's: Service IPs (kube-ipvs0 holds
# every ClusterIP with scope global), bridges and tunnels of container networking.
VIRTUAL_INTERFACE_PREFIXES = (
    'kube-ipvs', 'kube-bridge', 'kube-dummy', 'nodelocaldns', 'cni', 'cbr', 'docker', 'br-', 'veth',
    'flannel', 'cali', 'vxlan', 'tunl', 'cilium_', 'lxc', 'weave', 'vethwe', 'datapath', 'genev',
    'virbr', 'podman', 'antrea', 'ovn-k8s', 'nerdctl',
)


def virtual(ifname):
    return ifname.startswith(VIRTUAL_INTERFACE_PREFIXES)


def address_candidates(network):
    """(address text, interface or None) of every address of network_facts that may be the
    node's own, in the node's order: global, neither temporary nor deprecated, on an interface
    that is up and neither loopback nor virtual. From /proc/net: IPv6 addresses with their
    interface (if_inet6), IPv4 local addresses without one (fib_trie does not name interfaces)."""
    if network.get('source') == 'proc':
        return _proc_address_candidates(network.get('proc') or {})
    found = []
    for link in network.get('addresses') or []:
        ifname = link.get('ifname', '')
        flags = link.get('flags', [])
        if 'LOOPBACK' in flags or 'UP' not in flags or virtual(ifname):
            continue
        for info in link.get('addr_info', []):
            if info.get('scope') == 'global' and not info.get('temporary') and not info.get('deprecated'):
                found.append((info.get('local', ''), ifname))
    return found


def _proc_address_candidates(proc):
    found = []
    for line in (proc.get('if_inet6') or '').splitlines():
        fields = line.split()
        if len(fields) != 6 or virtual(fields[5]):
            continue
        scope, flags = int(fields[3], 16), int(fields[4], 16)
        # scope 0 is global; flags 0x01 temporary, 0x20 deprecated
        if scope == 0 and not flags & 0x21:
            found.append((':'.join(fields[0][i:i + 4] for i in range(0, 32, 4)), fields[5]))
    lines = (proc.get('fib_trie') or '').split('Local:')[0].splitlines()
    for previous, line in zip(lines, lines[1:]):
        if line.strip() == '/32 host LOCAL' and previous.strip().startswith('|--'):
            found.append((previous.strip()[3:].strip(), None))
    return found


def route_candidates(network):
    """The default routes of network_facts, in order: (family, source address text, interface),
    from the route lookups; from /proc/net, (6, None, interface) for each IPv6 default route (it
    names no source: the one address on that interface is, see _node_ip)."""
    if network.get('source') == 'proc':
        found = []
        for line in ((network.get('proc') or {}).get('ipv6_route') or '').splitlines():
            fields = line.split()
            if len(fields) == 10 and fields[0] == '0' * 32 and fields[1] == '00' and fields[9] != 'lo':
                found.append((6, None, fields[9]))
        return found
    return [(family, network[key][0].get('prefsrc', ''), network[key][0].get('dev', '?'))
            for family, key in ((4, 'route_v4'), (6, 'route_v6')) if network.get(key)]


def discovery_view(network):
    """What node IP discovery takes from network_facts, and nothing that changes by itself (the
    addresses of pods and Services, lifetimes, route caches): node_files' read_digest."""
    return {'addresses': address_candidates(network), 'routes': route_candidates(network)}
