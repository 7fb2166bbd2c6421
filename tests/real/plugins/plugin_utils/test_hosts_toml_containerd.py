# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""hosts.toml per containerd version, as containerd reads it (the engine's text:
tests/unit/plugins/plugin_utils/test_hosts_toml_containerd.py).

Every containerd family (tests/containerd/binaries.py) reads the engine's files, daemonless:
in a private network namespace with logging registries on test-range addresses, `ctr content
fetch-object --hosts-dir` resolves through containerd's own hosts.toml code, and the
registries' log shows which hosts it tried, in which order, with which headers. These need root, unshare
and ip; without them they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_merge import unmerge_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_write import note_mode

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'plugin_utils'))
from _hosts_cases import (  # noqa: E402  (tests/unit/plugins/plugin_utils, put on sys.path just above)
    AUTH, V6, V6_NODEPORT, V4, V4_NODEPORT, V6_URLS, USER_DOCKER_IO, USER_HOST_TABLE, USER_ROOT_KEYS,
    LONGEST_GO_DURATION, merged,
)

# --- read by every containerd family -----------------------------------------------------------

REGISTRIES = (('198.18.0.5', 30020), ('198.18.0.5', 30021), ('198.18.0.6', 5000),
              ('fd00:5e6e:9::5', 30020), ('fd00:5e6e:9::5', 30021), ('fd00:5e6e:9::6', 5000))
NAMESPACE_SETUP = ('ip link set lo up && ip link add eth0 type veth peer name peer0 && ip link set eth0 up && '
                   'ip link set peer0 up && ip addr add 198.18.0.5/24 dev eth0 && ip addr add 198.18.0.6/24 dev eth0 && '
                   'ip -6 addr add fd00:5e6e:9::5/64 dev eth0 nodad && ip -6 addr add fd00:5e6e:9::6/64 dev eth0 nodad')

# Runs inside the namespace: with registries, which answer 404 to everything and log each
# request (host, path, Authorization), or without any network (as the mirror role's verify
# runs ctr). A case may run ctr under a terminal, as someone at a shell would.
IN_NAMESPACE = r"""
import http.server, json, os, pty, socket, subprocess, sys, threading
registries, cases = json.loads(sys.argv[1]), json.loads(sys.argv[2])
log = []
class Registry(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        host, port = self.server.server_address[:2]
        log.append(['[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port), self.path,
                    self.headers.get('Authorization')])
        self.send_response(404)
        self.send_header('Content-Length', '0')
        self.end_headers()
    do_GET = do_HEAD
    def log_message(self, *args):
        pass
class Registry6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
for host, port in registries:
    server = (Registry6 if ':' in host else http.server.ThreadingHTTPServer)((host, port), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
results = []
for ctr, hosts_dir, ref, terminal in cases:
    del log[:]
    argv = [ctr, '--debug', 'content', 'fetch-object', '--hosts-dir', hosts_dir, ref]
    if terminal:
        main, side = pty.openpty()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=side, timeout=60)
        os.close(side)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(main)
        stderr = b''.join(chunks).decode()
    else:
        stderr = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                timeout=60).stderr
    results.append({'requests': list(log), 'stderr': stderr})
print(json.dumps(results))
"""


def containerd_reads(cases, network=True):
    """[{requests, stderr}] per case (ctr, hosts_dir, ref[, terminal]), run in a fresh network
    namespace: with the REGISTRIES when network is true, else with nothing at all."""
    missing = [name for name in ('unshare', 'ip') if not shutil.which(name)]
    if os.geteuid() != 0 or missing:
        pytest.fail('needs root, unshare and ip for a private network namespace (missing: %s, uid %d)'
                    % (', '.join(missing) or 'nothing', os.geteuid()))
    cases = [[str(case[0]), str(case[1]), case[2], case[3] if len(case) > 3 else False] for case in cases]
    setup = NAMESPACE_SETUP if network else 'true'
    command = ['unshare', '-n', '--', 'sh', '-c', setup + ' && exec "$@"', 'sh', sys.executable, '-c', IN_NAMESPACE,
               json.dumps(REGISTRIES if network else []), json.dumps(cases)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout)


def major_of(family):
    return int(family.split('.')[0])


def hosts_dir(root, files):
    """A hosts directory: {registry: hosts.toml text}."""
    for registry, text in files.items():
        (root / registry).mkdir(parents=True)
        (root / registry / 'hosts.toml').write_text(text)
    return root


MANIFEST = '/v2/library/busybox/manifests/latest?ns=docker.io'
GHCR = '/v2/spegel-org/spegel/manifests/v0.3.0?ns=ghcr.io'
USER = ['198.18.0.6:5000', MANIFEST, None]


def ipv6_spegel(path):
    return [['[fd00:5e6e:9::5]:30020', path, AUTH['Authorization']], ['[fd00:5e6e:9::5]:30021', path, None]]


def ipv4_spegel(path):
    return [['198.18.0.5:30020', path, AUTH['Authorization']], ['198.18.0.5:30021', path, None]]


@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_every_family_reads_ipv6_mirrors_first(family, ctr, tmp_path):
    """The engine's output for the family's major version: two Spegel ports, the secret
    header, the user's host after them; a _default of our own; the user's file restored."""
    major = major_of(family)
    user_file = note_mode(merged(USER_DOCKER_IO, [V6, V6_NODEPORT], major), V6['url'], '0644')
    default_file = merged('', [V6, V6_NODEPORT], major, registry='_default')
    restored = unmerge_registry(user_file, 'f', V6_URLS, 'docker.io')
    assert restored == USER_DOCKER_IO
    mirrored = hosts_dir(tmp_path / 'mirrored', {'docker.io': user_file, '_default': default_file})
    back = hosts_dir(tmp_path / 'restored', {'docker.io': restored})
    docker_io, default, user_only = containerd_reads([
        (ctr[family], mirrored, 'docker.io/library/busybox:latest'),
        (ctr[family], mirrored, 'ghcr.io/spegel-org/spegel:v0.3.0'),
        (ctr[family], back, 'docker.io/library/busybox:latest'),
    ])
    assert docker_io['requests'] == ipv6_spegel(MANIFEST) + [USER]
    assert 'level=error' not in docker_io['stderr']
    assert default['requests'] == ipv6_spegel(GHCR)
    assert user_only['requests'] == [USER]


@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_every_family_reads_ipv4_mirrors_first_whatever_the_version(family, ctr, tmp_path):
    texts = {merged(USER_DOCKER_IO, [V4, V4_NODEPORT], major) for major in (1, 2, None)}
    assert len(texts) == 1
    (read,) = containerd_reads([(ctr[family], hosts_dir(tmp_path, {'docker.io': texts.pop()}),
                                 'docker.io/library/busybox:latest')])
    assert read['requests'] == ipv4_spegel(MANIFEST) + [USER]


@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_the_other_majors_file_skips_spegel_until_rewritten(family, ctr, tmp_path):
    """Why a changed major version needs the rewrite: 1.x ignores the 2.x file (an error in
    its log), 2.x silently drops the dotted entries of the 1.x file."""
    major = major_of(family)
    other = merged(USER_DOCKER_IO, [V6, V6_NODEPORT], 3 - major)
    rewritten = merged(other, [V6, V6_NODEPORT], major)
    old, new = containerd_reads([
        (ctr[family], hosts_dir(tmp_path / 'old', {'docker.io': other}), 'docker.io/library/busybox:latest'),
        (ctr[family], hosts_dir(tmp_path / 'new', {'docker.io': rewritten}), 'docker.io/library/busybox:latest'),
    ])
    if major == 1:
        assert old['requests'] == [] and 'level=error msg="failed to decode hosts.toml"' in old['stderr']
    else:
        assert old['requests'] == [USER] and 'level=error' not in old['stderr']
    assert new['requests'] == ipv6_spegel(MANIFEST) + [USER]


@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_every_family_reads_ours_first_in_a_users_dotted_layout(family, ctr, tmp_path):
    """The user's [host] table and root-level host keys: ours come first where containerd reads
    them; the user's dotted host is tried after ours on 1.x and, as before, not at all on 2.x."""
    major = major_of(family)
    users_v6 = ['[fd00:5e6e:9::6]:5000', '/v2/library/busybox/manifests/sha256:' + '0' * 64 + '?ns=docker.io', None]
    digest = 'docker.io/library/busybox@sha256:' + '0' * 64
    table, root = containerd_reads([
        (ctr[family], hosts_dir(tmp_path / 'table', {'docker.io': merged(USER_HOST_TABLE, [V6, V6_NODEPORT], major)}),
         digest),
        (ctr[family], hosts_dir(tmp_path / 'root', {'docker.io': merged(USER_ROOT_KEYS, [V6, V6_NODEPORT], major)}),
         digest),
    ])
    path = users_v6[1]
    expected = ipv6_spegel(path) + ([users_v6] if major == 1 else []) + [['198.18.0.6:5000', path, None]]
    # A digest is asked for as a manifest, then as a blob: the same hosts again.
    blobs = [[host, request.replace('/manifests/', '/blobs/'), auth] for host, request, auth in expected]
    assert table['requests'] == expected + blobs
    assert root['requests'] == expected + blobs


@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_an_unknown_version_gives_what_2x_reads(family, ctr, tmp_path):
    """The bake fallback (with the module's warning): tables, which 1.x ignores."""
    (read,) = containerd_reads([(ctr[family], hosts_dir(tmp_path, {'docker.io': merged(USER_DOCKER_IO, [V6], None)}),
                                 'docker.io/library/busybox:latest')])
    assert read['requests'] == ([] if major_of(family) == 1 else ipv6_spegel(MANIFEST)[:1] + [USER])


@pytest.mark.parametrize('family', [family for family in binaries.FAMILIES if major_of(family) == 2])
def test_a_dial_timeout_beyond_go_makes_containerd_2_skip_the_mirror(family, ctr, tmp_path):
    """Why dial_timeout is checked as Go's time.ParseDuration reads it: containerd 2.x fails to
    read the whole hosts.toml and pulls from the registry itself. The longest duration Go takes
    is written and works."""
    longest = merged('', [dict(V4, dial_timeout=LONGEST_GO_DURATION)], 2)
    beyond = longest.replace(LONGEST_GO_DURATION, '2562048h')
    good, bad = containerd_reads([
        (ctr[family], hosts_dir(tmp_path / 'longest', {'docker.io': longest}), 'docker.io/library/busybox:latest'),
        (ctr[family], hosts_dir(tmp_path / 'beyond', {'docker.io': beyond}), 'docker.io/library/busybox:latest'),
    ])
    assert good['requests'][0] == ['198.18.0.5:30020', MANIFEST, AUTH['Authorization']]
    assert not [request for request in bad['requests'] if request[0].startswith('198.18.0.5:3002')]
