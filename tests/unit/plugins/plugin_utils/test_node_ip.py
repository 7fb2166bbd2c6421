# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Node IP discovery over real-shaped inputs: kubelet flag files as kubeadm and the distribution
packages write them, and `ip -j` / /proc/net output captured from real network namespaces."""

from __future__ import annotations

import json

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_ip import (
    discover, global_addresses, kubelet_node_ips, kubelet_sources,
)

# Captured with iproute2 6.1 in network namespaces on the test host (unshare -n; veth links,
# a bridge named kube-ipvs0 holding Service IPs as kube-proxy IPVS does, a cni0 bridge).

ADDR_NODE = (
    '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqu'
    'eue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address'
    '":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local'
    '":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"pref'
    'erred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host'
    '","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":2,"link":"et'
    'h0","ifname":"vpeer","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":'
    '"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"'
    'e2:6a:a2:55:5c:e1","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet6","local":'
    '"fe80::e06a:a2ff:fe55:5ce1","prefixlen":64,"scope":"link","valid_life_time":4294967295,"pr'
    'eferred_life_time":4294967295}]},{"ifindex":3,"link":"vpeer","ifname":"eth0","flags":["BRO'
    'ADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group"'
    ':"default","txqlen":1000,"link_type":"ether","address":"aa:d7:ec:f9:bf:f5","broadcast":"ff'
    ':ff:ff:ff:ff:ff","addr_info":[{"family":"inet","local":"198.18.0.5","prefixlen":24,"scope"'
    ':"global","label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"'
    'family":"inet6","local":"fd00:5e6e::5","prefixlen":64,"scope":"global","nodad":true,"valid'
    '_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::'
    'a8d7:ecff:fef9:bff5","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred'
    '_life_time":4294967295}]},{"ifindex":4,"ifname":"kube-ipvs0","flags":["BROADCAST","MULTICA'
    'ST"],"mtu":1500,"qdisc":"noop","operstate":"DOWN","group":"default","txqlen":1000,"link_ty'
    'pe":"ether","address":"86:b5:5a:24:2f:6c","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"f'
    'amily":"inet","local":"198.19.0.1","prefixlen":32,"scope":"global","label":"kube-ipvs0","v'
    'alid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet","local":"198'
    '.19.0.10","prefixlen":32,"scope":"global","label":"kube-ipvs0","valid_life_time":429496729'
    '5,"preferred_life_time":4294967295}]},{"ifindex":5,"ifname":"cni0","flags":["BROADCAST","M'
    'ULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UNKNOWN","group":"def'
    'ault","txqlen":1000,"link_type":"ether","address":"a6:9c:5b:6b:4f:6f","broadcast":"ff:ff:f'
    'f:ff:ff:ff","addr_info":[{"family":"inet","local":"198.19.128.1","prefixlen":24,"scope":"g'
    'lobal","label":"cni0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"fam'
    'ily":"inet6","local":"fe80::a49c:5bff:fe6b:4f6f","prefixlen":64,"scope":"link","valid_life'
    '_time":4294967295,"preferred_life_time":4294967295}]}]'
)
ROUTE_V4 = (
    '[{"dst":"8.8.8.8","gateway":"198.18.0.1","dev":"eth0","prefsrc":"198.18.0.5","flags":[],"u'
    'id":0,"cache":[]}]'
)
ROUTE_V6 = (
    '[{"dst":"2001:4860:4860::8888","from":"::","gateway":"fd00:5e6e::1","dev":"eth0","prefsrc"'
    ':"fd00:5e6e::5","metric":1024,"flags":[],"pref":"medium"}]'
)
ADDR_TWO_NICS = (
    '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqu'
    'eue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address'
    '":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local'
    '":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"pref'
    'erred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host'
    '","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":2,"link":"et'
    'h0","ifname":"vpeer0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc"'
    ':"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":'
    '"d6:ee:bb:bd:d0:b3","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet6","local"'
    ':"fe80::d4ee:bbff:febd:d0b3","prefixlen":64,"scope":"link","valid_life_time":4294967295,"p'
    'referred_life_time":4294967295}]},{"ifindex":3,"link":"vpeer0","ifname":"eth0","flags":["B'
    'ROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","grou'
    'p":"default","txqlen":1000,"link_type":"ether","address":"ce:1d:28:39:65:a0","broadcast":"'
    'ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet","local":"198.18.0.5","prefixlen":24,"scop'
    'e":"global","label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295},'
    '{"family":"inet6","local":"fe80::cc1d:28ff:fe39:65a0","prefixlen":64,"scope":"link","valid'
    '_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":4,"link":"eth1","ifn'
    'ame":"vpeer1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueu'
    'e","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"62:7d:5'
    'd:f5:90:d6","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet6","local":"fe80::'
    '607d:5dff:fef5:90d6","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred'
    '_life_time":4294967295}]},{"ifindex":5,"link":"vpeer1","ifname":"eth1","flags":["BROADCAST'
    '","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"defa'
    'ult","txqlen":1000,"link_type":"ether","address":"4a:91:9c:56:41:26","broadcast":"ff:ff:ff'
    ':ff:ff:ff","addr_info":[{"family":"inet","local":"198.18.1.5","prefixlen":24,"scope":"glob'
    'al","label":"eth1","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family'
    '":"inet6","local":"fe80::4891:9cff:fe56:4126","prefixlen":64,"scope":"link","valid_life_ti'
    'me":4294967295,"preferred_life_time":4294967295}]}]'
)
ADDR_V6_ONLY = (
    '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqu'
    'eue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address'
    '":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local'
    '":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"pref'
    'erred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host'
    '","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":2,"link":"et'
    'h0","ifname":"vpeer0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc"'
    ':"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":'
    '"8e:6f:3f:0e:ec:71","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet6","local"'
    ':"fe80::8c6f:3fff:fe0e:ec71","prefixlen":64,"scope":"link","valid_life_time":4294967295,"p'
    'referred_life_time":4294967295}]},{"ifindex":3,"link":"vpeer0","ifname":"eth0","flags":["B'
    'ROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","grou'
    'p":"default","txqlen":1000,"link_type":"ether","address":"36:b8:61:dd:27:e0","broadcast":"'
    'ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet6","local":"fd00:5e6e::7","prefixlen":64,"s'
    'cope":"global","nodad":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}'
    ',{"family":"inet6","local":"fe80::34b8:61ff:fedd:27e0","prefixlen":64,"scope":"link","vali'
    'd_life_time":4294967295,"preferred_life_time":4294967295}]}]'
)
PROC_NODE = {
    'route': (
        'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n'
        'eth0\t00000000\t010012C6\t0003\t0\t0\t0\t00000000\t0\t0\t0                                                                               \n'
        'eth0\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                                                               \n'
        'cni0\t008013C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                                                               \n'
    ),
    'ipv6_route': (
        'fd005e6e000000000000000000000000 40 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n'
        'fe800000000000000000000000000000 40 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000100 00000002 00000000 00000001    vpeer\n'
        'fe800000000000000000000000000000 40 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n'
        'fe800000000000000000000000000000 40 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000100 00000001 00000000 00000001     cni0\n'
        '00000000000000000000000000000000 00 00000000000000000000000000000000 0'
        '0 fd005e6e000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n'
        '00000000000000000000000000000001 80 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n'
        'fd005e6e000000000000000000000005 80 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0\n'
        'fe80000000000000a49c5bfffe6b4f6f 80 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000000 00000003 00000000 80200001     cni0\n'
        'fe80000000000000a8d7ecfffef9bff5 80 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0\n'
        'fe80000000000000e06aa2fffe555ce1 80 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000000 00000003 00000000 80200001    vpeer\n'
        'ff000000000000000000000000000000 08 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000100 00000004 00000000 00000001    vpeer\n'
        'ff000000000000000000000000000000 08 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n'
        'ff000000000000000000000000000000 08 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 00000100 00000001 00000000 00000001     cni0\n'
        '00000000000000000000000000000000 00 00000000000000000000000000000000 0'
        '0 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n'
    ),
    'if_inet6': (
        '00000000000000000000000000000001 01 80 10 80       lo\n'
        'fd005e6e000000000000000000000005 03 40 00 82     eth0\n'
        'fe80000000000000a49c5bfffe6b4f6f 05 40 20 80     cni0\n'
        'fe80000000000000a8d7ecfffef9bff5 03 40 20 80     eth0\n'
        'fe80000000000000e06aa2fffe555ce1 02 40 20 80    vpeer\n'
    ),
    'fib_trie': (
        'Main:\n'
        '  +-- 0.0.0.0/0 3 0 5\n'
        '     |-- 0.0.0.0\n'
        '        /0 universe UNICAST\n'
        '     +-- 127.0.0.0/8 2 0 2\n'
        '        +-- 127.0.0.0/31 1 0 0\n'
        '           |-- 127.0.0.0\n'
        '              /8 host LOCAL\n'
        '           |-- 127.0.0.1\n'
        '              /32 host LOCAL\n'
        '        |-- 127.255.255.255\n'
        '           /32 link BROADCAST\n'
        '     +-- 198.18.0.0/15 2 0 1\n'
        '        +-- 198.18.0.0/24 2 0 2\n'
        '           +-- 198.18.0.0/29 2 0 2\n'
        '              |-- 198.18.0.0\n'
        '                 /24 link UNICAST\n'
        '              |-- 198.18.0.5\n'
        '                 /32 host LOCAL\n'
        '           |-- 198.18.0.255\n'
        '              /32 link BROADCAST\n'
        '        +-- 198.19.0.0/28 2 0 2\n'
        '           |-- 198.19.0.1\n'
        '              /32 host LOCAL\n'
        '           |-- 198.19.0.10\n'
        '              /32 host LOCAL\n'
        '        +-- 198.19.128.0/24 2 0 2\n'
        '           +-- 198.19.128.0/31 1 0 0\n'
        '              |-- 198.19.128.0\n'
        '                 /24 link UNICAST\n'
        '              |-- 198.19.128.1\n'
        '                 /32 host LOCAL\n'
        '           |-- 198.19.128.255\n'
        '              /32 link BROADCAST\n'
        'Local:\n'
        '  +-- 0.0.0.0/0 3 0 5\n'
        '     |-- 0.0.0.0\n'
        '        /0 universe UNICAST\n'
        '     +-- 127.0.0.0/8 2 0 2\n'
        '        +-- 127.0.0.0/31 1 0 0\n'
        '           |-- 127.0.0.0\n'
        '              /8 host LOCAL\n'
        '           |-- 127.0.0.1\n'
        '              /32 host LOCAL\n'
        '        |-- 127.255.255.255\n'
        '           /32 link BROADCAST\n'
        '     +-- 198.18.0.0/15 2 0 1\n'
        '        +-- 198.18.0.0/24 2 0 2\n'
        '           +-- 198.18.0.0/29 2 0 2\n'
        '              |-- 198.18.0.0\n'
        '                 /24 link UNICAST\n'
        '              |-- 198.18.0.5\n'
        '                 /32 host LOCAL\n'
        '           |-- 198.18.0.255\n'
        '              /32 link BROADCAST\n'
        '        +-- 198.19.0.0/28 2 0 2\n'
        '           |-- 198.19.0.1\n'
        '              /32 host LOCAL\n'
        '           |-- 198.19.0.10\n'
        '              /32 host LOCAL\n'
        '        +-- 198.19.128.0/24 2 0 2\n'
        '           +-- 198.19.128.0/31 1 0 0\n'
        '              |-- 198.19.128.0\n'
        '                 /24 link UNICAST\n'
        '              |-- 198.19.128.1\n'
        '                 /32 host LOCAL\n'
        '           |-- 198.19.128.255\n'
        '              /32 link BROADCAST\n'
    ),
}

# kubeadm 1.31 writes this at `kubeadm join` time.
KUBEADM_FLAGS = ('KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock '
                 '--node-ip=198.18.0.5 --pod-infra-container-image=registry.k8s.io/pause:3.10"\n')
KUBEADM_FLAGS_DUAL = ('KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock '
                      '--node-ip=fd00:5e6e::5,198.18.0.5"\n')
# The kubeadm drop-in shipped by the kubelet packages (pkgs.k8s.io), /usr/lib/systemd/system/kubelet.service.d/
KUBEADM_DROPIN = """# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""
DEBIAN_DEFAULT = 'KUBELET_EXTRA_ARGS=\n'
DROPIN_GLOB = '/etc/systemd/system/kubelet.service.d/*.conf'
USR_DROPIN_GLOB = '/usr/lib/systemd/system/kubelet.service.d/*.conf'


def ip_network(addresses=ADDR_NODE, route_v4=None, route_v6=None):
    """node_files' `network` result, as it returns it from ip -j."""
    return {'source': 'ip', 'addresses': json.loads(addresses),
            'route_v4': json.loads(route_v4) if route_v4 else None,
            'route_v6': json.loads(route_v6) if route_v6 else None}


ROUTED = ip_network(route_v4=ROUTE_V4, route_v6=ROUTE_V6)
V6_ROUTED = ip_network(route_v6=ROUTE_V6)
AIRGAPPED = ip_network()


def kubeadm_node(flags=KUBEADM_FLAGS, default=DEBIAN_DEFAULT, extra_dropin=None):
    files = {'/var/lib/kubelet/kubeadm-flags.env': flags, '/etc/default/kubelet': default,
             '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf': KUBEADM_DROPIN}
    globs = {USR_DROPIN_GLOB: ['/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf'], DROPIN_GLOB: []}
    if extra_dropin:
        files['/etc/systemd/system/kubelet.service.d/20-node-ip.conf'] = extra_dropin
        globs[DROPIN_GLOB] = ['/etc/systemd/system/kubelet.service.d/20-node-ip.conf']
    return kubelet_sources(files, globs)


# --- the order of the rules ---------------------------------------------------------------------

def test_spegel_node_ip_wins_over_everything():
    found = discover(ROUTED, kubeadm_node(), override='198.18.7.7')
    assert (found.ip, found.source) == ('198.18.7.7', 'spegel_node_ip')


@pytest.mark.parametrize('override', ['', 'auto', None, '  '])
def test_empty_spegel_node_ip_means_discover(override):
    assert discover(ROUTED, [], override=override).source == 'default IPv4 route (eth0)'


@pytest.mark.parametrize('override', ['127.0.0.1', '::1', '0.0.0.0', 'fe80::1', 'node1.example', '198.18.0.256',
                                      '::ffff:127.0.0.1', 'fe80::1%eth0', 'fd00::5%eth0', '255.255.255.255', '::',
                                      '224.0.0.1', 'ff02::1', '999.1.1.1', '[::ffff:127.0.0.1]'])
def test_bad_spegel_node_ip_refused(override):
    with pytest.raises(SpegelError, match='spegel_node_ip'):
        discover(ROUTED, [], override=override)


@pytest.mark.parametrize('override', ['::ffff:198.18.7.7', '[::ffff:198.18.7.7]', '::FFFF:c612:707'])
def test_ipv4_mapped_spegel_node_ip_is_the_ipv4_address(override):
    assert discover(ROUTED, [], override=override).ip == '198.18.7.7'


def test_kubelet_flag_with_a_zone_id_is_an_error_naming_the_file():
    with pytest.raises(SpegelError, match='zone ID'):
        kubelet_node_ips('/etc/default/kubelet', 'KUBELET_EXTRA_ARGS=--node-ip=fe80::5%eth0')


def test_kubeadm_flags_env():
    found = discover(ROUTED, kubeadm_node())
    assert found.as_dict() == {'ip': '198.18.0.5', 'ips': ['198.18.0.5'],
                               'source': 'kubelet --node-ip in /var/lib/kubelet/kubeadm-flags.env'}


def test_node_ip_flag_beats_the_default_route():
    # The route says 198.18.0.5; the kubelet was told another address, and Spegel listens there.
    found = discover(ROUTED, kubeadm_node(flags=KUBEADM_FLAGS.replace('198.18.0.5', '198.18.3.3')))
    assert found.ip == '198.18.3.3'


def test_extra_args_override_kubeadm_flags():
    found = discover(ROUTED, kubeadm_node(default='KUBELET_EXTRA_ARGS="--node-ip 198.18.9.9 --v=2"\n'))
    assert (found.ip, found.source) == ('198.18.9.9', 'kubelet --node-ip in /etc/default/kubelet')


def test_systemd_dropin_environment():
    dropin = '[Service]\nEnvironment="KUBELET_EXTRA_ARGS=--node-ip=198.18.4.4"\n'
    found = discover(ROUTED, kubeadm_node(flags='KUBELET_KUBEADM_ARGS=""\n', extra_dropin=dropin))
    assert (found.ip, found.source) == (
        '198.18.4.4', 'kubelet --node-ip in /etc/systemd/system/kubelet.service.d/20-node-ip.conf')


def test_systemd_unit_execstart_and_commented_flags():
    unit = ('[Service]\n# ExecStart=/usr/bin/kubelet --node-ip=198.18.1.1\n'
            'ExecStart=/usr/local/bin/kubelet --config=/var/lib/kubelet/config.yaml \\\n  --node-ip=198.18.2.2\n')
    sources = kubelet_sources({'/etc/systemd/system/kubelet.service': unit}, {})
    assert discover(AIRGAPPED, sources).ip == '198.18.2.2'


def test_dual_stack_flag_prefers_the_default_route_family_and_returns_both():
    found = discover(ROUTED, kubeadm_node(flags=KUBEADM_FLAGS_DUAL))
    assert (found.ip, found.ips) == ('198.18.0.5', ['198.18.0.5', 'fd00:5e6e::5'])
    found = discover(V6_ROUTED, kubeadm_node(flags=KUBEADM_FLAGS_DUAL))
    assert (found.ip, found.ips) == ('fd00:5e6e::5', ['fd00:5e6e::5', '198.18.0.5'])


def test_dual_stack_flag_without_route_keeps_the_kubelets_order():
    found = discover(AIRGAPPED, kubeadm_node(flags=KUBEADM_FLAGS_DUAL))
    assert found.ips == ['fd00:5e6e::5', '198.18.0.5']


def test_unspecified_node_ip_asks_for_the_ipv6_route():
    found = discover(ROUTED, kubeadm_node(flags='KUBELET_KUBEADM_ARGS="--node-ip=::"\n'))
    assert (found.ip, found.source) == ('fd00:5e6e::5', 'default IPv6 route (eth0)')


@pytest.mark.parametrize('flag', ['--node-ip=node1', '--node-ip=127.0.0.1', '--node-ip=198.18.0.5,nope'])
def test_broken_kubelet_flag_is_an_error_naming_the_file(flag):
    with pytest.raises(SpegelError, match='/var/lib/kubelet/kubeadm-flags.env.*spegel_node_ip'):
        discover(ROUTED, kubeadm_node(flags='KUBELET_KUBEADM_ARGS="%s"\n' % flag))


def test_default_route_ipv4_then_ipv6():
    found = discover(ROUTED, kubeadm_node(flags='KUBELET_KUBEADM_ARGS=""\n'))
    assert found.as_dict() == {'ip': '198.18.0.5', 'ips': ['198.18.0.5', 'fd00:5e6e::5'],
                               'source': 'default IPv4 route (eth0)'}
    assert discover(V6_ROUTED, []).as_dict() == {'ip': 'fd00:5e6e::5', 'ips': ['fd00:5e6e::5'],
                                                 'source': 'default IPv6 route (eth0)'}


# --- airgapped nodes: no default route ------------------------------------------------------------

def test_airgapped_node_uses_its_single_global_address_ignoring_service_and_bridge_ips():
    # kube-ipvs0 holds ClusterIPs with scope global and cni0 the pod bridge's address.
    assert [(a.compressed, dev) for a, dev in global_addresses(AIRGAPPED)] == [
        ('198.18.0.5', 'eth0'), ('fd00:5e6e::5', 'eth0')]
    found = discover(AIRGAPPED, [])
    assert (found.ip, found.source) == ('198.18.0.5', 'single global IPv4 address (eth0)')


def test_airgapped_ipv6_only_node():
    found = discover(ip_network(ADDR_V6_ONLY), [])
    assert (found.ip, found.source) == ('fd00:5e6e::7', 'single global IPv6 address (eth0)')


def test_two_nics_and_no_route_is_uncertain():
    with pytest.raises(SpegelError) as raised:
        discover(ip_network(ADDR_TWO_NICS), [])
    message = str(raised.value)
    assert 'spegel_node_ip' in message
    assert '198.18.0.5 on eth0, 198.18.1.5 on eth1' in message


def test_nothing_at_all_is_uncertain():
    with pytest.raises(SpegelError, match='found: none.*spegel_node_ip'):
        discover({'source': 'ip', 'addresses': json.loads(ADDR_NODE)[:1]}, [])


# --- /proc/net, where ip -j cannot answer --------------------------------------------------------

def test_proc_fallback_reads_addresses_and_the_ipv6_route():
    network = {'source': 'proc', 'proc': PROC_NODE}
    found = global_addresses(network)
    assert {(a.compressed, dev) for a, dev in found} >= {('fd00:5e6e::5', 'eth0'), ('198.18.0.5', None)}
    # IPv4 addresses come without interface names, so kube-ipvs0's Service IPs cannot be
    # told apart and the IPv4 rules cannot decide; the IPv6 default route can.
    assert discover(network, []).as_dict() == {'ip': 'fd00:5e6e::5', 'ips': ['fd00:5e6e::5'],
                                               'source': 'default IPv6 route (eth0)'}


def test_proc_fallback_without_routes_refuses_ambiguous_ipv4():
    proc = dict(PROC_NODE, ipv6_route='', route='')
    with pytest.raises(SpegelError, match='spegel_node_ip'):
        discover({'source': 'proc', 'proc': proc}, [])


# --- kubelet file order --------------------------------------------------------------------------

def test_etc_dropin_shadows_the_packaged_one_of_the_same_name():
    files = {'/etc/systemd/system/kubelet.service.d/10-kubeadm.conf': 'Environment="A=--node-ip=198.18.5.5"',
             '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf': 'Environment="A=--node-ip=198.18.6.6"'}
    globs = {DROPIN_GLOB: ['/etc/systemd/system/kubelet.service.d/10-kubeadm.conf'],
             USR_DROPIN_GLOB: ['/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf']}
    assert [path for path, _text in kubelet_sources(files, globs)] == [
        '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf']
    assert discover(AIRGAPPED, kubelet_sources(files, globs)).ip == '198.18.5.5'


# --- captured on the test fleet's nodes (tests/fleet/fleet.py, systemd-nspawn, iproute2) --------

# trixie node started with no-default-route: airgapped, dual-stack on host0.
ADDR_FLEET_TRIXIE_AIRGAPPED = (
    '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqu'
    'eue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address'
    '":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local'
    '":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"pref'
    'erred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host'
    '","noprefixroute":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"'
    'ifindex":2,"link_index":22,"ifname":"host0","flags":["BROADCAST","MULTICAST","UP","LOWER_U'
    'P"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_ty'
    'pe":"ether","address":"ba:14:7f:07:c9:a3","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0'
    ',"addr_info":[{"family":"inet","local":"198.18.2.12","prefixlen":24,"scope":"global","labe'
    'l":"host0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6'
    '","local":"fd00:5e6e:2::12","prefixlen":64,"scope":"global","nodad":true,"valid_life_time"'
    ':4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::b814:7fff:f'
    'e07:c9a3","prefixlen":64,"scope":"link","protocol":"kernel_ll","valid_life_time":429496729'
    '5,"preferred_life_time":4294967295}]}]'
)
# sid node started ipv6-only, default route over IPv6 only.
ADDR_FLEET_SID_IPV6_ONLY = (
    '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqu'
    'eue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address'
    '":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local'
    '":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"pref'
    'erred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host'
    '","noprefixroute":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"'
    'ifindex":2,"link_index":25,"ifname":"host0","flags":["BROADCAST","MULTICAST","UP","LOWER_U'
    'P"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_ty'
    'pe":"ether","address":"1e:79:ec:6e:75:73","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0'
    ',"addr_info":[{"family":"inet6","local":"fd00:5e6e:2::13","prefixlen":64,"scope":"global",'
    '"nodad":true,"valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"ine'
    't6","local":"fe80::1c79:ecff:fe6e:7573","prefixlen":64,"scope":"link","protocol":"kernel_l'
    'l","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]'
)
ROUTE_V6_FLEET_SID = (
    '[{"dst":"2001:4860:4860::8888","from":"::","gateway":"fd00:5e6e:2::1","dev":"host0","prefs'
    'rc":"fd00:5e6e:2::13","metric":1024,"flags":[],"pref":"medium"}]'
)


def test_fleet_airgapped_node():
    found = discover(ip_network(ADDR_FLEET_TRIXIE_AIRGAPPED), [])
    assert found.as_dict() == {'ip': '198.18.2.12', 'ips': ['198.18.2.12'],
                               'source': 'single global IPv4 address (host0)'}


def test_fleet_ipv6_only_node():
    found = discover(ip_network(ADDR_FLEET_SID_IPV6_ONLY, route_v6=ROUTE_V6_FLEET_SID), [])
    assert found.as_dict() == {'ip': 'fd00:5e6e:2::13', 'ips': ['fd00:5e6e:2::13'],
                               'source': 'default IPv6 route (host0)'}
