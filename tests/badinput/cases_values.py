# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input, values and types: numbers at TOML's edges, addresses, durations, option types.

Each refused value is one a user can really type (an unquoted YAML mode, an AWX survey answer,
an address copied from `ip addr`); each accepted one is written so that containerd reads it.
"""

from __future__ import annotations

import math
import subprocess
import tomllib
from pathlib import Path

from harness import Case, binaries

HOSTS_DIR = '{dir}/certs.d'
DEFAULT_HOSTS = ('certs.d', 'certs.d/_default', 'certs.d/_default/hosts.toml')
CONFIG = 'version = 2\n'
PAUSE_THRESHOLD = ['plugins', 'io.containerd.gc.v1.scheduler', 'pause_threshold']
CRI = 'io.containerd.grpc.v1.cri'
# A 2.x family, so that no IPv6 dotted form and no containerd on this host is involved.
HOSTS = dict(hosts_dir=HOSTS_DIR, containerd_version='2.1.9')
# The mirror role writing into the case's directory, for a node whose IP is given.
ROLE = dict(mirror_hosts_dir=HOSTS_DIR, mirror_node_ip='198.18.0.5', mirror_containerd_version='2.1.9')
# The boot entry point installs into the case's directory too (it refuses before that).
BOOT = dict(ROLE, mirror_boot_lib='{dir}/lib', mirror_boot_settings='{dir}/bake.json',
            mirror_boot_unit_file='{dir}/systemd/peerpull-spegel-hosts.service')


def dumps_of_every_family(config: Path) -> dict[str, str]:
    """family -> `containerd config dump` of the file, by every containerd family."""
    dumps = {}
    for found in binaries.all_binaries():
        done = subprocess.run([str(found.containerd), '--config', str(config), 'config', 'dump'],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, f'{found.family} refuses {config}: {done.stderr[-400:]}'
        dumps[found.family] = done.stdout
    return dumps


def pause_threshold_read_as(*spellings):
    def judge(directory, _result, _bin_dir):
        config = directory / 'config.toml'
        assert math.isnan(tomllib.loads(config.read_text())['plugins'][PAUSE_THRESHOLD[1]]['pause_threshold']) \
            if 'nan' in spellings else True
        for family, dump in dumps_of_every_family(config).items():
            values = [line.split('=', 1)[1].strip() for line in dump.splitlines()
                      if line.strip().startswith('pause_threshold')]
            assert values and values[0] in spellings, f'{family} reads pause_threshold = {values}'
    return judge


def hosts_hold(*urls, absent=()):
    def judge(directory, _result, _bin_dir):
        hosts = tomllib.loads((directory / 'certs.d' / '_default' / 'hosts.toml').read_text())['host']
        assert list(hosts)[:len(urls)] == list(urls), list(hosts)
        assert not set(absent) & set(hosts), list(hosts)
    return judge


def mode_is(name, mode):
    def judge(directory, _result, _bin_dir):
        assert (directory / name).stat().st_mode & 0o7777 == mode, oct((directory / name).stat().st_mode)
    return judge


def node_ip_is(ip):
    def judge(_directory, result, _bin_dir):
        assert result['node_ip'] == ip, result
    return judge


def toml_case(case_id, value, expect='refused', message=(), files=None, why=''):
    return Case(case_id, 'peerpull.spegel.toml_file', dict(path='{dir}/config.toml', key=['b'], value=value), expect,
                files={'config.toml': 'a = 1\n'} if files is None else files, message=message, why=why,
                written=('config.toml',) if expect == 'changed' else ())


def role_case(case_id, message, entry='', why='', **options):
    return Case(case_id, 'role:peerpull.spegel.mirror' + (':' + entry if entry else ''),
                dict(BOOT if entry in ('boot', 'uninstall') else ROLE, **options), 'refused', message=message, why=why)


CASES = [
    # --- numbers at TOML's edges ------------------------------------------------------------
    toml_case('val-toml-integer-beyond-64-bits', 2 ** 63,
              message=('b: 9223372036854775808 is outside the range of a TOML integer',),
              why='a byte count in a config key: containerd 1.6/2.x refuse the file, 1.7 reads -2**63'),
    toml_case('val-toml-integer-below-64-bits', -2 ** 63 - 1,
              message=('b: -9223372036854775809 is outside the range of a TOML integer',)),
    Case('val-config-integer-beyond-64-bits', 'peerpull.spegel.containerd_config',
         dict(path='{dir}/config.toml', hosts_dir='/etc/containerd/certs.d', containerd_version='1.7.24',
              extra_settings=[{'key': ['plugins', CRI, 'max_concurrent_downloads'], 'value': 2 ** 64}]),
         'refused', files={'config.toml': CONFIG},
         message=('plugins."io.containerd.grpc.v1.cri".max_concurrent_downloads: 18446744073709551616 is outside',)),
    Case('val-config-nan-read-by-every-containerd', 'peerpull.spegel.containerd_config',
         dict(path='{dir}/config.toml', hosts_dir='/etc/containerd/certs.d',
              extra_settings=[{'key': PAUSE_THRESHOLD, 'value': float('nan')}]),
         'changed', files={'config.toml': CONFIG}, containerd='1.7',
         written=('config.toml', 'config.toml.peerpull-orig'), judge=pause_threshold_read_as('nan'),
         why='nan is valid TOML that go-toml v1 and v2 both read: accepted and written as nan'),
    Case('val-config-inf-read-by-every-containerd', 'peerpull.spegel.containerd_config',
         dict(path='{dir}/config.toml', hosts_dir='/etc/containerd/certs.d',
              extra_settings=[{'key': PAUSE_THRESHOLD, 'value': float('inf')}]),
         'changed', files={'config.toml': CONFIG}, containerd='2.1',
         written=('config.toml', 'config.toml.peerpull-orig'), judge=pause_threshold_read_as('+inf', 'inf')),
    toml_case('val-toml-nan-again-is-no-change', float('nan'), expect='ok', files={'config.toml': 'b = nan\n'},
              why='nan != nan in Python: a second run must not rewrite the file'),
    Case('val-config-key-containerd-1x-cannot-parse', 'peerpull.spegel.containerd_config',
         dict(path='{dir}/config.toml', hosts_dir='/etc/containerd/certs.d', containerd_version='1.7.24',
              extra_settings=[{'key': ['plugins', CRI, 'registry', 'headers', 'X-"Quoted"'], 'value': ['1']}]),
         'refused', files={'config.toml': CONFIG},
         message=('containerd 1.x cannot parse its key', 'X-\\"Quoted\\"', 'Change that key'),
         why='an image bake: no containerd on the node would have refused it, containerd 1.x then never starts'),
    Case('val-config-bracket-key-for-1x-bake', 'peerpull.spegel.containerd_config',
         dict(path='{dir}/config.toml', hosts_dir='/etc/containerd/certs.d',
              extra_settings=[{'key': ['plugins', CRI, 'registry', 'x[y'], 'value': {'k': 1}}]),
         'refused', files={'config.toml': CONFIG},
         message=('[plugins."io.containerd.grpc.v1.cri".registry."x[y"]', 'containerd 1.x cannot parse')),

    # --- paths, modes, validate -------------------------------------------------------------
    Case('val-toml-relative-path', 'peerpull.spegel.toml_file', dict(path='relative.toml', key=['b'], value=1),
         'refused', message=("path must be an absolute path such as /etc/containerd/config.toml, got "
                             "'relative.toml'",)),
    Case('val-config-relative-path', 'peerpull.spegel.containerd_config',
         dict(path='etc/containerd/config.toml', hosts_dir='/etc/containerd/certs.d', containerd_version='1.7.24'),
         'refused', message=("path must be an absolute path", "'etc/containerd/config.toml'")),
    Case('val-config-node-kind-unknown', 'peerpull.spegel.containerd_config',
         dict(path='{dir}/config.toml', hosts_dir='/etc/containerd/certs.d', containerd_version='1.7.24',
              node_kind='k3z'),
         'refused', files={'config.toml': CONFIG},
         message=("node_kind 'k3z' is no node kind this collection knows; use one of auto, containerd",
                  'Nothing was changed'),
         why='a typo in spegel_node_kind: refused before the node is read, naming the kinds there are'),
    Case('val-config-node-kind-of-another-adapter', 'peerpull.spegel.containerd_config',
         dict(path='{dir}/config.toml', hosts_dir='/etc/containerd/certs.d', containerd_version='1.7.24',
              node_kind='k3s'),
         'refused', files={'config.toml': CONFIG},
         message=('node_kind k3s: this module patches plain containerd', 'peerpull.spegel.node_config with kind=k3s',
                  'Nothing was changed'),
         why='spegel_node_kind: k3s given to containerd_config directly: refused before the node is read'),
    Case('val-toml-mode-unquoted-yaml-octal', 'peerpull.spegel.toml_file',
         dict(path='{dir}/new.toml', key=['b'], value=1, create=True, mode=0o644),
         'changed', written=('new.toml',), judge=mode_is('new.toml', 0o644),
         why='mode: 0644 unquoted is the integer 420, which ansible.builtin.copy takes as 0644'),
    Case('val-toml-mode-integer-changes-existing', 'peerpull.spegel.toml_file',
         dict(path='{dir}/config.toml', key=['a'], value=1, mode=0o600),
         'changed', files={'config.toml': 'a = 1\n'}, written=('config.toml',), judge=mode_is('config.toml', 0o600)),
    Case('val-toml-mode-symbolic', 'peerpull.spegel.toml_file',
         dict(path='{dir}/config.toml', key=['b'], value=1, mode='u=rw,g=r,o=r'),
         'refused', files={'config.toml': 'a = 1\n'}, message=('config.toml: mode must be octal',)),
    Case('val-toml-attributes-not-letters', 'peerpull.spegel.toml_file',
         dict(path='{dir}/config.toml', key=['b'], value=1, attributes='+i,A'),
         'refused', files={'config.toml': 'a = 1\n'},
         message=("config.toml: attributes must be chattr's letters after an optional +, - or =", "'+i,A'"),
         why='attributes written as a list: refused before the node is read'),
    Case('val-toml-validate-without-placeholder', 'peerpull.spegel.toml_file',
         dict(path='{dir}/etc/new.toml', key=['b'], value=1, create=True, validate='containerd config dump'),
         'refused', message=('validate must contain %s',),
         why='nothing may be created (no parent directory, no temporary file) for a validate that cannot work'),

    # --- addresses: node_ip and mirror URL hosts alike ---------------------------------------
    Case('val-hosts-node-ip-ipv4-mapped-loopback', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='::ffff:127.0.0.1'), 'refused', message=('127.0.0.1', 'loopback')),
    Case('val-hosts-node-ip-zone-id', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='fe80::1%eth0'), 'refused', message=('zone ID', 'spegel_node_ip')),
    Case('val-hosts-node-ip-broadcast', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='255.255.255.255'), 'refused', message=('broadcast',)),
    Case('val-hosts-node-ip-ipv4-mapped', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='::ffff:198.18.0.5'), 'changed', written=DEFAULT_HOSTS,
         judge=hosts_hold('http://198.18.0.5:30020'),
         why='an IPv4-mapped IPv6 address is the IPv4 address; [::ffff:...] in a URL would be another host'),
    Case('val-hosts-mirror-host-not-ipv4', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, mirrors=['http://999.1.1.1:30020']), 'refused',
         message=('the host 999.1.1.1 is not an IPv4 address',)),
    Case('val-hosts-mirror-host-zone-id', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, mirrors=['http://[fe80::1%25eth0]:30020']), 'refused', message=('zone ID',)),
    Case('val-hosts-mirror-host-multicast', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, mirrors=['http://224.0.0.1:30020']), 'refused', message=('multicast',)),
    Case('val-hosts-mirror-host-unspecified', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, mirrors=['http://[::]:30020']), 'refused', message=('unspecified',)),
    Case('val-hosts-mirror-host-ipv4-mapped', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, mirrors=['http://[::ffff:198.18.0.5]:30020']), 'changed', written=DEFAULT_HOSTS,
         judge=hosts_hold('http://198.18.0.5:30020', absent=('http://[::ffff:198.18.0.5]:30020',))),
    Case('val-node-ip-ipv4-mapped-loopback', 'peerpull.spegel.node_ip', dict(node_ip='::ffff:127.0.0.1'),
         'refused', message=('loopback', 'spegel_node_ip')),
    Case('val-node-ip-multicast', 'peerpull.spegel.node_ip', dict(node_ip='ff02::1'),
         'refused', message=('multicast',)),
    Case('val-node-ip-ipv4-mapped', 'peerpull.spegel.node_ip', dict(node_ip='::ffff:198.18.0.5'),
         'ok', judge=node_ip_is('198.18.0.5')),

    # --- dial_timeout as Go reads it --------------------------------------------------------
    Case('val-hosts-dial-timeout-beyond-go', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='198.18.0.5', dial_timeout='2562048h'), 'refused',
         message=('dial_timeout must be a Go duration', '292 years'),
         why='containerd 2.x fails to read the whole hosts.toml and bypasses the mirror'),
    Case('val-hosts-dial-timeout-no-unit', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='198.18.0.5', dial_timeout='200'), 'refused',
         message=('dial_timeout must be a Go duration', 'units')),

    # --- option types -----------------------------------------------------------------------
    Case('val-hosts-port-boolean', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='198.18.0.5', ports=[True]), 'refused',
         message=('ports: True is not a port number',)),
    Case('val-hosts-authorization-list', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='198.18.0.5', authorization=['Basic c3BlZ2VsOmh1bnRlcjI=']), 'refused',
         message=('authorization must be a header value', 'got a list'), secrets=('c3BlZ2VsOmh1bnRlcjI=',)),
    Case('val-hosts-authorization-integer', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='198.18.0.5', authorization=73519046), 'refused',
         message=('authorization must be a header value', 'got a number'), secrets=('73519046',)),
    Case('val-hosts-authorization-other-keys', 'peerpull.spegel.containerd_hosts',
         dict(HOSTS, node_ip='198.18.0.5', authorization={'username': 'spegel', 'password': 'hunter2pw', 'realm': 'x'}),
         'refused', message=('no other keys', 'password, realm, username'), secrets=('hunter2pw',)),
    role_case('val-role-ports-minus-one-string', ('mirror_ports', "'-1' is not a port"), mirror_ports='-1',
              why='an AWX survey answer; the regex of old made it port 1'),
    role_case('val-role-ports-minus-one', ('mirror_ports', '-1 is not a port'), mirror_ports=-1),
    role_case('val-role-ports-word', ('mirror_ports', "'abc' is not a port"), mirror_ports='abc'),
    role_case('val-role-ports-decimal', ('mirror_ports', "'30020.5' is not a port"), mirror_ports='30020.5',
              why='the regex of old made it ports 30020 and 5'),
    role_case('val-role-ports-zero', ('mirror_ports', '0 is not a port'), mirror_ports=0),
    role_case('val-role-ports-too-big', ('mirror_ports', '65536 is not a port'), mirror_ports=[30020, 65536]),
    role_case('val-role-registries-not-strings', ('mirror_registries', 'every item must be a non-empty string'),
              mirror_registries=['docker.io', 5000]),
    role_case('val-role-dial-timeout', ('dial_timeout must be a Go duration',), mirror_dial_timeout='1d'),
    role_case('val-role-boot-ports', ('mirror_ports', "'30020.5' is not a port"), entry='boot',
              mirror_ports='30020.5'),
    role_case('val-role-boot-node-ip', ('Nothing was installed', '127.0.0.1', 'loopback', 'spegel_node_ip'),
              entry='boot', mirror_node_ip='::ffff:127.0.0.1',
              why='the bake refuses what every boot of the image would fail on, before it installs anything'),
    role_case('val-role-boot-dial-timeout', ('Nothing was installed', 'dial_timeout must be a Go duration'),
              entry='boot', mirror_dial_timeout='2562048h'),
    role_case('val-role-uninstall-ports', ('mirror_ports', "'30020.5' is not a port"), entry='uninstall',
              mirror_ports='30020.5'),
    Case('val-role-ports-awx-string', 'role:peerpull.spegel.mirror', dict(ROLE, mirror_ports='30020, 30021'),
         'changed', written=DEFAULT_HOSTS, judge=hosts_hold('http://198.18.0.5:30020', 'http://198.18.0.5:30021'),
         why='AWX sends list answers as comma- or space-separated strings'),
    Case('val-role-ports-blank-is-unset', 'role:peerpull.spegel.mirror', dict(ROLE, mirror_ports=''),
         'changed', written=DEFAULT_HOSTS, judge=hosts_hold('http://198.18.0.5:30020')),
]
