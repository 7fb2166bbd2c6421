# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_ip: a given address needs no round trip; discovery is one round trip that reads the
kubelet's files and the node's addresses (here: a node with one NIC and a default route)."""

from __future__ import annotations

import pytest

from ansible_collections.peerpull.spegel.plugins.modules import node_files
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_ip import discovery_reads

ETH0 = {'ifname': 'eth0', 'flags': ['UP'], 'addr_info': [
    {'family': 'inet', 'local': '198.18.0.5', 'prefixlen': 24, 'scope': 'global'},
    {'family': 'inet6', 'local': 'fd00:5e6e::5', 'prefixlen': 64, 'scope': 'global'},
]}
ROUTED = {'source': 'ip', 'addresses': [ETH0],
          'route_v4': [{'dst': '8.8.8.8', 'dev': 'eth0', 'prefsrc': '198.18.0.5'}], 'route_v6': None}


@pytest.mark.parametrize('given, ip', [('198.18.0.5', '198.18.0.5'), (' ::ffff:198.18.0.5 ', '198.18.0.5'),
                                       ('fd00:5e6e::5', 'fd00:5e6e::5')])
def test_a_given_address_is_validated_without_a_round_trip(run_action, given, ip):
    result = run_action('node_ip', dict(node_ip=given))
    assert result == dict(changed=False, node_ip=ip, node_ips=[ip], source='spegel_node_ip')
    assert run_action.calls == []


@pytest.mark.parametrize('given, problem', [('127.0.0.1', 'loopback'), ('fe80::1%eth0', 'zone ID'),
                                            ('not-an-ip', 'spegel_node_ip')])
def test_a_bad_address_fails_naming_the_fix(run_action, given, problem):
    result = run_action('node_ip', dict(node_ip=given))
    assert result['failed'] and result['changed'] is False and problem in result['msg']
    assert 'spegel_node_ip' in result['msg'] and run_action.calls == []


@pytest.mark.parametrize('given', ['auto', '', None])
def test_discovery_is_one_round_trip(run_action, monkeypatch, given):
    monkeypatch.setattr(node_files, 'network_facts', lambda module: ROUTED)
    monkeypatch.setattr(node_files, 'describe', lambda path: {'exists': False, 'checksum': ''})  # no kubelet files
    result = run_action('node_ip', dict(node_ip=given))
    assert (result['node_ip'], result['node_ips']) == ('198.18.0.5', ['198.18.0.5'])
    assert result['source'].startswith('default IPv4 route') and not result['changed']
    assert run_action.calls == [discovery_reads()]


def test_no_certain_answer_asks_for_spegel_node_ip(run_action, monkeypatch):
    two = dict(ETH0, ifname='eth1', addr_info=[{'family': 'inet', 'local': '198.18.1.5', 'prefixlen': 24,
                                                'scope': 'global'}])
    monkeypatch.setattr(node_files, 'network_facts', lambda module: {'source': 'ip', 'addresses': [ETH0, two],
                                                                     'route_v4': None, 'route_v6': None})
    monkeypatch.setattr(node_files, 'describe', lambda path: {'exists': False, 'checksum': ''})
    result = run_action('node_ip', dict())
    assert result['failed'] and "Cannot tell this node's own IP for certain" in result['msg']
    assert 'Set spegel_node_ip' in result['msg']
