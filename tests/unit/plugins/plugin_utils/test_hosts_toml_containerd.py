# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""hosts.toml per containerd version: IPv6 mirrors as dotted keys on 1.x, tables on 2.x.

The first half checks the engine's text; the second half has every containerd family
(tests/containerd/binaries.py) read the engine's files, daemonless: in a private network
namespace with logging registries on test-range addresses, `ctr content fetch-object
--hosts-dir` resolves through containerd's own hosts.toml code, and the registries' log
shows which hosts it tried, in which order, with which headers. These need root, unshare
and ip; without them they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_merge as hosts_merge
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_text as hosts_text
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_write as hosts_write
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_merge import merge_registry, unmerge_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import default_server
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_render import DOTTED_NOTE
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_stale import stale_mirrors
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_write import note_mode
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_secrets

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)

SPEGEL = dict(capabilities=['pull', 'resolve'], dial_timeout='200ms')
AUTH = {'Authorization': 'Basic c3BlZ2VsOnB3'}
V6 = dict(SPEGEL, url='http://[fd00:5e6e:9::5]:30020', header=AUTH)
V6_NODEPORT = dict(SPEGEL, url='http://[fd00:5e6e:9::5]:30021')
V4 = dict(SPEGEL, url='http://198.18.0.5:30020', header=AUTH)
V4_NODEPORT = dict(SPEGEL, url='http://198.18.0.5:30021')
V6_URLS = [V6['url'], V6_NODEPORT['url']]
V4_URLS = [V4['url'], V4_NODEPORT['url']]
DOCKER_HUB = default_server('docker.io')

USER_DOCKER_IO = """server = "https://registry-1.docker.io"

# the user's own registry
[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
"""

FOR_1X = """server = "https://registry-1.docker.io"

%s
[host]
'http://[fd00:5e6e:9::5]:30020'.capabilities = ['pull', 'resolve']
'http://[fd00:5e6e:9::5]:30020'.dial_timeout = '200ms'
'http://[fd00:5e6e:9::5]:30020'.header.Authorization = 'Basic c3BlZ2VsOnB3'
'http://[fd00:5e6e:9::5]:30021'.capabilities = ['pull', 'resolve']
'http://[fd00:5e6e:9::5]:30021'.dial_timeout = '200ms'

# the user's own registry
[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
""" % DOTTED_NOTE

FOR_2X = """server = "https://registry-1.docker.io"

[host.'http://[fd00:5e6e:9::5]:30020']
capabilities = ['pull', 'resolve']
dial_timeout = '200ms'
[host.'http://[fd00:5e6e:9::5]:30020'.header]
Authorization = 'Basic c3BlZ2VsOnB3'

[host.'http://[fd00:5e6e:9::5]:30021']
capabilities = ['pull', 'resolve']
dial_timeout = '200ms'

# the user's own registry
[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
"""


def merged(user, hosts, containerd_major, registry='docker.io'):
    return merge_registry(user, 'f', registry, default_server(registry), hosts, containerd_major=containerd_major)


# --- the engine's text ------------------------------------------------------------------------

@pytest.mark.parametrize('containerd_major, expected', [(1, FOR_1X), (2, FOR_2X), (None, FOR_2X)])
def test_ipv6_mirrors_per_containerd_version(containerd_major, expected):
    text = merged(USER_DOCKER_IO, [V6, V6_NODEPORT], containerd_major)
    assert text == expected
    assert tomllib.loads(text) == tomllib.loads(FOR_2X)
    assert merged(text, [V6, V6_NODEPORT], containerd_major) == text
    assert unmerge_registry(text, 'f', V6_URLS, 'docker.io') == USER_DOCKER_IO


def test_ipv4_mirrors_are_tables_on_every_version():
    texts = {merged(USER_DOCKER_IO, [V4, V4_NODEPORT], major) for major in (1, 2, None)}
    assert len(texts) == 1
    assert texts.pop().startswith(USER_DOCKER_IO.split('#', maxsplit=1)[0] + "[host.'http://198.18.0.5:30020']\n")


def test_a_new_file_for_1x_and_its_removal():
    text = merged('', [V6, V6_NODEPORT], 1, registry='_default')
    assert text.startswith(DOTTED_NOTE + '\n[host]\n')
    assert list(tomllib.loads(text)['host']) == V6_URLS
    assert unmerge_registry(text, 'f', V6_URLS, '_default') is None


@pytest.mark.parametrize('was, now', [(1, 2), (2, 1), (None, 1)])
def test_a_changed_major_version_rewrites_the_entries(was, now):
    old = merged(USER_DOCKER_IO, [V6, V6_NODEPORT], was)
    rewritten = merged(old, [V6, V6_NODEPORT], now)
    assert rewritten == merged(USER_DOCKER_IO, [V6, V6_NODEPORT], now)
    assert merged(rewritten, [V6, V6_NODEPORT], now) == rewritten


def test_changed_fields_of_dotted_entries_and_the_secret_removed():
    text = merged(USER_DOCKER_IO, [V6, V6_NODEPORT], 1)
    pull_only = [dict(url=V6['url'], capabilities=['pull']), dict(url=V6_NODEPORT['url'], capabilities=['pull'])]
    changed = merged(text, pull_only, 1)
    assert tomllib.loads(changed)['host'][V6['url']] == {'capabilities': ['pull']}
    assert 'Authorization' not in changed
    assert unmerge_registry(changed, 'f', V6_URLS, 'docker.io') == USER_DOCKER_IO


def test_crlf_and_the_mode_note_on_dotted_entries_come_back_byte_for_byte():
    user = USER_DOCKER_IO.replace('\n', '\r\n')
    text = note_mode(merged(user, [V6, V6_NODEPORT], 1), V6['url'], '0644')
    assert '\n' not in text.replace('\r\n', '')
    assert hosts_write.recorded_mode(text) == '0644'
    # The note sits right above the first dotted key, and leaves with the entries.
    assert "[host]\r\n# peerpull.spegel: mode 0644" in text
    assert unmerge_registry(text, 'f', V6_URLS, 'docker.io') == user


def test_the_dotted_secret_is_redacted():
    text = merged(USER_DOCKER_IO, [V6], 1)
    assert redact_secrets(text).count("'********'") == 1
    assert 'c3BlZ2VsOnB3' not in redact_secrets(text)
    rotated = merged(text, [dict(V6, header={'Authorization': 'Basic bmV3'})], 1)
    assert "'http://[fd00:5e6e:9::5]:30020'.header.Authorization = '******** (new value)'" in \
        redact_secrets(rotated, before=text)


USER_HOST_TABLE = """server = "https://registry-1.docker.io"

[host]
# a mirror of the user's, written as dotted keys
"http://[fd00:5e6e:9::6]:5000".capabilities = ["pull"]

[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
"""

USER_ROOT_KEYS = """server = "https://registry-1.docker.io"
# a mirror of the user's, written as root-level dotted keys
host."http://[fd00:5e6e:9::6]:5000".capabilities = ["pull"]

[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
"""


def test_a_users_host_table_takes_our_keys_first():
    text = merged(USER_HOST_TABLE, [V6, V6_NODEPORT], 1)
    assert text.count('[host]') == 1
    assert text.startswith(USER_HOST_TABLE.split('# a mirror', maxsplit=1)[0] + "'http://[fd00:5e6e:9::5]:30020'.capabilities")
    assert list(tomllib.loads(text)['host']) == V6_URLS + ['http://[fd00:5e6e:9::6]:5000', 'http://198.18.0.6:5000']
    assert merged(text, [V6, V6_NODEPORT], 1) == text
    assert unmerge_registry(text, 'f', V6_URLS, 'docker.io') == USER_HOST_TABLE


def test_root_level_host_keys_take_ours_as_root_level_keys_first():
    text = merged(USER_ROOT_KEYS, [V6, V6_NODEPORT], 1)
    assert '[host]' not in text
    assert "\nhost.'http://[fd00:5e6e:9::5]:30020'.header.Authorization = 'Basic c3BlZ2VsOnB3'\n" in text
    assert list(tomllib.loads(text)['host'])[:2] == V6_URLS
    assert merged(text, [V6, V6_NODEPORT], 1) == text
    assert unmerge_registry(text, 'f', V6_URLS, 'docker.io') == USER_ROOT_KEYS


def test_ipv4_tables_go_before_a_users_host_table():
    text = merged(USER_HOST_TABLE, [V4], 1)
    assert text.index("[host.'http://198.18.0.5:30020']") < text.index('[host]\n')
    assert unmerge_registry(text, 'f', [V4['url']], 'docker.io') == USER_HOST_TABLE


@pytest.mark.parametrize('user, hosts, containerd_major, refusal', [
    # containerd 1.x ignores the whole file for the user's own header.
    ('[host."http://[fd00:5e6e:9::6]:5000"]\ncapabilities = ["pull"]\n', [V4], 1,
     r'containerd 1.x would ignore the whole file, because its table header \[host."http://\[fd00:5e6e:9::6\]:5000"\]'),
    # containerd 1.x tries inline tables first (line 0).
    ('[host]\n"http://198.18.0.6:5000" = { capabilities = ["pull"] }\n', [V6], 1, 'containerd 1.x would try'),
    ('[host]\n"http://198.18.0.6:5000" = { capabilities = ["pull"] }\n', [V4], None, 'containerd 1.x would try'),
    # A [host] table after the user's tables cannot put dotted keys first.
    ('[host."http://198.18.0.6:5000"]\ncapabilities = ["pull"]\n[host]\n"https://b.example".capabilities = ["pull"]\n',
     [V6], 1, 'containerd 1.x would try'),
    # Root-level host keys come before any table on 1.x.
    (USER_ROOT_KEYS, [V4], 1, 'containerd 1.x would try'),
])
def test_layouts_that_cannot_keep_the_order_are_refused(user, hosts, containerd_major, refusal):
    with pytest.raises(SpegelError, match='Refusing to write /etc/containerd/certs.d/docker.io/hosts.toml: ' + refusal):
        merge_registry(user, '/etc/containerd/certs.d/docker.io/hosts.toml', 'docker.io', None, hosts,
                       containerd_major=containerd_major)
    # containerd 2.x reads that header, and ignores the user's dotted and inline hosts anyway.
    text = merge_registry(user, 'f', 'docker.io', None, hosts, containerd_major=2)
    headers = [s.host() for s in hosts_text._statements(text) if s.kind == 'table' and s.host()]
    assert headers[0] == hosts[0]['url']


def test_dotted_entries_must_follow_each_other():
    with pytest.raises(SpegelError, match='must follow each other'):
        merge_registry('', 'f', '_default', None, [V6, V4, V6_NODEPORT], containerd_major=1)
    mixed = merge_registry('', 'f', '_default', None, [V4, V6, V6_NODEPORT], containerd_major=1)
    assert mixed.index("[host.'http://198.18.0.5:30020']") < mixed.index('[host]\n')


def test_stale_dotted_entries_are_pruned():
    old = merged(USER_DOCKER_IO, [dict(SPEGEL, url='http://[fd00:5e6e:9::9]:30020')], 1)
    stale = stale_mirrors(old, 'f', [30020], SPEGEL['capabilities'], ['fd00:5e6e:9::5'])
    assert stale == ['http://[fd00:5e6e:9::9]:30020']
    assert hosts_merge.remove_hosts(old, 'f', stale) == USER_DOCKER_IO


def test_statements_of_a_tricky_text():
    text = ('a = """\n[host.x]\nb = 1 # no\n"""\nc = [\n  "]",  # [host.y]\n  2,\n]\n'
            "[host.'http://[fd00::1]:1'.header] # c\nX = '='\n[[arr]]\n")
    found = [(s.kind, s.path, s.first, s.end) for s in hosts_text._statements(text)]
    assert found == [('pair', ['a'], 0, 4), ('pair', ['c'], 4, 8),
                     ('table', ['host', 'http://[fd00::1]:1', 'header'], 8, 9),
                     ('pair', ['host', 'http://[fd00::1]:1', 'header', 'X'], 9, 10), ('array', ['arr'], 10, 11)]


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


# --- dial_timeout as Go reads it ------------------------------------------------------------------

LONGEST_GO_DURATION = '2562047h47m16.854775807s'


@pytest.mark.parametrize('timeout', ['2562048h', '2562047h47m16.854775808s', '300y', '1', '-1s', '0s', '', 5])
def test_a_dial_timeout_go_cannot_read_is_refused(timeout):
    with pytest.raises(SpegelError, match="dial_timeout must be a Go duration"):
        merged('', [dict(V4, dial_timeout=timeout)], 2)


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
