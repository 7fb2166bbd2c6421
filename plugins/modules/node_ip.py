#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_ip
short_description: Find the node's own IP, the address Spegel's mirror listens on
version_added: 0.1.0
description:
  - Finds the IP the Spegel mirror URL must carry, in one round trip, changing nothing.
  - "In order: O(node_ip) when set; the kubelet's C(--node-ip) flag (from
    C(/etc/default/kubelet), C(/etc/sysconfig/kubelet), C(/var/lib/kubelet/kubeadm-flags.env),
    kubelet systemd drop-ins and unit files); the source address of the default IPv4 route,
    then of the default IPv6 route; the single global address of the node."
  - A dual-stack C(--node-ip=a,b) gives the address of the default route's family first,
    else the kubelet's own first address; RV(node_ips) holds both.
  - C(--node-ip=0.0.0.0) or C(--node-ip=::) only choose the family, as they do for the kubelet.
  - A node without a default route (airgapped) is normal; its single global address decides.
    Addresses on container networking and Service interfaces (C(kube-ipvs0), C(cni0),
    C(flannel.1), C(cali*), C(cilium_*), C(docker0), ...) and loopback, link-local,
    temporary and deprecated addresses never count.
  - When no rule gives a certain answer (several global addresses and no route or kubelet
    flag), the task fails and asks for C(spegel_node_ip).
  - Uses C(ip -j) on the node, or the C(/proc/net) tables where C(ip -j) is missing (IPv4
    addresses there carry no interface names, so fewer nodes can be decided).
author:
  - peerpull.spegel maintainers (@peerpull)
attributes:
  action:
    description: Runs on the controller; the node only reports its files and addresses.
    support: full
  check_mode:
    description: Changes nothing in any mode.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
  platform:
    description: Target operating systems.
    support: full
    platforms: posix
options:
  node_ip:
    description:
      - An address to use as is (validated, no discovery). Roles pass C(spegel_node_ip) here.
      - Loopback, link-local, unspecified, broadcast and multicast addresses and addresses with
        a zone ID (V(fe80::1%eth0)) are refused; an IPv4-mapped IPv6 address
        (V(::ffff:198.18.0.5)) is the IPv4 address.
      - V(auto) or an empty string discovers it.
    type: str
    default: auto
seealso:
  - module: peerpull.spegel.containerd_hosts
"""

EXAMPLES = r"""
- name: Find the node IP
  peerpull.spegel.node_ip:
    node_ip: "{{ spegel_node_ip | default('auto') }}"
  register: spegel_node

- name: Show it
  ansible.builtin.debug:
    msg: "{{ spegel_node.node_ip }} ({{ spegel_node.source }})"
"""

RETURN = r"""
node_ip:
  description: The node's IP for the mirror URL.
  returned: success
  type: str
  sample: 198.18.0.5
node_ips:
  description: Every node address found, RV(node_ip) first (both families on dual-stack nodes).
  returned: success
  type: list
  elements: str
  sample: [198.18.0.5, "fd00:5e6e::5"]
source:
  description: Which rule decided.
  returned: success
  type: str
  sample: default IPv4 route (eth0)
"""
