# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which IP is this node's own: the address the Spegel mirror URL must carry.

Pure functions over what peerpull.spegel.node_files reads in one round trip (the kubelet's
flag files and `network_facts`). Order: spegel_node_ip if set; the kubelet's --node-ip; the
default route's source address, IPv4 then IPv6; the single global address. A node without a
default route (airgapped) is normal. Anything less than certain is an error that tells the
user to set spegel_node_ip.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.peerpull.spegel.plugins.module_utils import _network
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError

# Where a kubelet's flags live, in the order their --node-ip wins: kubeadm's drop-in runs
# `kubelet ... $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS` and the last flag counts, so the
# EXTRA_ARGS files (/etc/default on Debian, /etc/sysconfig on RHEL) beat kubeadm-flags.env.
KUBELET_FILES = (
    '/etc/default/kubelet',
    '/etc/sysconfig/kubelet',
    '/var/lib/kubelet/kubeadm-flags.env',
)
KUBELET_GLOBS = (
    '/etc/systemd/system/kubelet.service.d/*.conf',
    '/usr/lib/systemd/system/kubelet.service.d/*.conf',
    '/lib/systemd/system/kubelet.service.d/*.conf',
)
KUBELET_UNITS = (
    '/etc/systemd/system/kubelet.service',
    '/usr/lib/systemd/system/kubelet.service',
    '/lib/systemd/system/kubelet.service',
)

# --node-ip=VALUE or --node-ip VALUE, optionally quoted, on a line that is not a comment.
_NODE_IP_FLAG = re.compile(r'''--node-ip(?:=|\s+)["']?([^\s"']*)''')

UNSET = ('', 'auto', None)


BROADCAST = ipaddress.IPv4Address('255.255.255.255')


def parse_address(text):
    """The IP address of text (an IPv6 address may be in brackets), IPv4-mapped IPv6
    (::ffff:198.18.0.5) as the IPv4 address it is; ValueError with the reason otherwise.

    The one parser of every address this collection is given: node_ip, spegel_node_ip, the
    kubelet's --node-ip, the host of a mirror URL, the boot step's settings.
    """
    text = '' if text is None else str(text).strip()
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]
    if '%' in text:
        # Python 3.9+ takes fe80::1%eth0; a zone names an interface of one host only.
        raise ValueError('it has a zone ID (%%%s), which names an interface of one host only'
                         % text.split('%', 1)[1])
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError('it is not an IP address') from None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def destination_problem(address):
    """Why no connection can go to an address, or None."""
    if address.is_unspecified:
        return 'it is the unspecified address'
    if address == BROADCAST:
        return 'it is the broadcast address'
    if address.is_multicast:
        return 'it is a multicast address'
    return None


def address_problem(address):
    """Why an address cannot stand for a node, or None. Loopback breaks under kube-proxy IPVS."""
    if address.is_loopback:
        return 'it is a loopback address (localhost breaks under kube-proxy IPVS)'
    if address.is_link_local:
        return 'it is a link-local address'
    return destination_problem(address)


def node_address(text):
    """(address, None) when text is an address that can stand for a node, else (None, why not)."""
    try:
        address = parse_address(text)
    except ValueError as exc:
        return None, str(exc)
    problem = address_problem(address)
    return (None, problem) if problem else (address, None)


def discovery_reads():
    """The node_files arguments that bring back everything discover() looks at."""
    return dict(read=list(KUBELET_FILES + KUBELET_UNITS), read_globs=list(KUBELET_GLOBS), network_facts=True)


def discover_from_node(state, override=None):
    """discover() over the NodeState of a read that asked discovery_reads()."""
    texts = {path: item.text for path, item in state.files.items()}
    return discover(state.network, kubelet_sources(texts, state.globs), override)


class NodeIP:
    """The answer: ip (the one for the mirror URL), ips (every node IP found, primary first), source."""

    def __init__(self, ip, source, ips=None):
        self.ip = ip
        self.ips = ips or [ip]
        self.source = source

    def as_dict(self):
        return {'ip': self.ip, 'ips': self.ips, 'source': self.source}


def usable(text):
    """The address as an ipaddress object when it can stand for the node, else None."""
    return node_address(text)[0]


def kubelet_sources(files, globs):
    """(path, text) of the kubelet's flag files that exist, highest precedence first.

    files: path -> text (None when missing); globs: pattern -> sorted matching paths.
    A drop-in in /etc overrides the one of the same name in /usr/lib, and drop-ins apply in
    name order, so a later name wins.
    """
    ordered = [p for p in KUBELET_FILES if files.get(p) is not None]
    seen_names = set()
    dropins = []
    for pattern in KUBELET_GLOBS:
        for path in globs.get(pattern, []):
            name = path.rsplit('/', 1)[-1]
            if name not in seen_names:
                seen_names.add(name)
                dropins.append(path)
    ordered += sorted(dropins, key=lambda p: p.rsplit('/', 1)[-1], reverse=True)
    ordered += [p for p in KUBELET_UNITS if files.get(p) is not None]
    return [(path, files[path]) for path in ordered if files.get(path) is not None]


def kubelet_node_ips(path, text):
    """The addresses of the last --node-ip flag in one file, [] when it has none.

    `--node-ip=0.0.0.0` and `--node-ip=::` mean "pick by family" to the kubelet; they are
    returned as such (unspecified addresses) so the caller can prefer that family.
    """
    values = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(('#', ';')):
            continue
        values += _NODE_IP_FLAG.findall(stripped)
    if not values:
        return []
    addresses = []
    for item in values[-1].split(','):
        try:
            address = parse_address(item)
        except ValueError as exc:
            raise SpegelError('%s: the kubelet flag --node-ip=%s is not a list of IP addresses (%s: %s). Fix the '
                              'flag, or set spegel_node_ip for this host.' % (path, values[-1], item, exc)) from None
        if not address.is_unspecified and address_problem(address):
            raise SpegelError('%s: --node-ip=%s cannot be the mirror address: %s. Set spegel_node_ip for '
                              'this host.' % (path, values[-1], address_problem(address)))
        addresses.append(address)
    return addresses


# --- network facts ---------------------------------------------------------------------------

def global_addresses(network):
    """(address, interface) of every address that may be the node's own, in the node's order."""
    found = []
    for text, ifname in _network.address_candidates(network):
        address = usable(text)
        if address and (address, ifname) not in found:
            found.append((address, ifname))
    return found


def default_route_sources(network):
    """{4: (address, dev), 6: (address, dev)} for the families that have a default route. From
    /proc/net (no source given, and IPv4 without interface names): IPv6 only, where the default
    route's interface has one global address."""
    routes = {}
    for family, text, dev in _network.route_candidates(network):
        if text is None:  # /proc/net
            on_dev = [address for address, ifname in global_addresses(network)
                      if ifname == dev and address.version == family]
            address = on_dev[0] if len(on_dev) == 1 else None
        else:
            address = usable(text)
        if address:
            routes.setdefault(family, (address, dev))
    return routes


# --- the decision ------------------------------------------------------------------------------

def discover(network, kubelet_files, override=None):
    """This node's IP for the mirror, or SpegelError.

    network: node_files' `network` result; kubelet_files: kubelet_sources() output;
    override: spegel_node_ip (empty, None or 'auto' mean discover).
    """
    override = None if override is None else str(override).strip()
    if override not in UNSET:
        address, problem = node_address(override)
        if problem:
            raise SpegelError("spegel_node_ip=%r cannot be the mirror address: %s. Set spegel_node_ip to the "
                              "node's own IP, or leave it empty to discover it." % (override, problem))
        return NodeIP(address.compressed, 'spegel_node_ip')

    routes = default_route_sources(network or {})
    family_hint = None
    for path, text in kubelet_files:
        flagged = kubelet_node_ips(path, text)
        specific = [a for a in flagged if not a.is_unspecified]
        if specific:
            # Dual-stack --node-ip=a,b: the family of the default route first, else the
            # kubelet's own order (its first address is the node's primary one).
            route_family = min(routes) if routes else None
            primary = next((a for a in specific if a.version == route_family), specific[0])
            ips = [primary] + [a for a in specific if a != primary]
            return NodeIP(primary.compressed, 'kubelet --node-ip in %s' % path, [a.compressed for a in ips])
        if flagged:
            family_hint = flagged[0].version
            break

    families = (6, 4) if family_hint == 6 else (4, 6)
    for family in families:
        if family in routes:
            address, dev = routes[family]
            others = [routes[f][0].compressed for f in families if f != family and f in routes]
            return NodeIP(address.compressed, 'default IPv%d route (%s)' % (family, dev),
                          [address.compressed] + others)

    # No route: the one global address of the preferred family, or of the other family
    # when the preferred one has none.
    candidates = global_addresses(network or {})
    for family in families:
        of_family = [(a, dev) for a, dev in candidates if a.version == family]
        if len(of_family) == 1:
            address, dev = of_family[0]
            return NodeIP(address.compressed, 'single global IPv%d address%s'
                          % (family, ' (%s)' % dev if dev else ''))
        if of_family:
            break

    listed = ', '.join('%s%s' % (a.compressed, ' on %s' % dev if dev else '') for a, dev in candidates) or 'none'
    raise SpegelError(
        "Cannot tell this node's own IP for certain: no kubelet --node-ip (looked in %s), no default route, "
        "and not exactly one global address (found: %s). Set spegel_node_ip for this host to the IP Spegel "
        "listens on (the node's InternalIP)."
        % (', '.join(KUBELET_FILES) + ' and kubelet systemd drop-ins', listed))
