# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""hosts.toml names, URLs, merges and unmerges, checked by parsing the results with tomllib."""

from __future__ import annotations

import tomllib

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_merge as hosts_merge
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_names as hosts_names
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_stale as hosts_stale
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_merge import merge_registry, unmerge_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import (
    default_server, mirror_url, registry_hosts_file, validate_host_url,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_stale import (
    shadowing_files, shadowing_glob, stale_mirrors,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_text import _key_path, _statements
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_write import (
    drop_mode_note, holds_secret, note_mode, recorded_mode,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_secrets


SPEGEL = dict(capabilities=['pull', 'resolve'], dial_timeout='200ms')
V4 = dict(SPEGEL, url='http://198.18.0.5:30020')
V4_NODEPORT = dict(SPEGEL, url='http://198.18.0.5:30021')

# What Spegel's own templateHosts renders for docker.io with two targets (its unit tests),
# plus the trailing newline a text file has.
SPEGEL_DOCKER_IO = """server = 'https://registry-1.docker.io'

[host.'http://198.18.0.5:30020']
capabilities = ['pull', 'resolve']
dial_timeout = '200ms'

[host.'http://198.18.0.5:30021']
capabilities = ['pull', 'resolve']
dial_timeout = '200ms'
"""

USER_DOCKER_IO = """server = "https://registry-1.docker.io"

# Our corporate pull-through cache, with its own CA
[host."https://mirror.corp.example"]
  capabilities = ["pull", "resolve"]
  ca = "/etc/containerd/certs.d/docker.io/corp-ca.pem"
  client = [["/etc/pki/client.pem", "/etc/pki/client.key"]]

[host."https://registry-1.docker.io"]
  capabilities = ["pull", "resolve"]  # upstream last
"""


def host_order(text):
    return list(tomllib.loads(text).get('host', {}))


# --- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize('registry, expected', [
    ('_default', '/etc/containerd/certs.d/_default/hosts.toml'),
    ('docker.io', '/etc/containerd/certs.d/docker.io/hosts.toml'),
    ('registry.example:5000', '/etc/containerd/certs.d/registry.example:5000/hosts.toml'),
    ('198.18.0.9:5000', '/etc/containerd/certs.d/198.18.0.9:5000/hosts.toml'),
    ('[fd00:5e6e::9]:5000', '/etc/containerd/certs.d/[fd00:5e6e::9]:5000/hosts.toml'),
    ('localhost', '/etc/containerd/certs.d/localhost/hosts.toml'),
])
def test_registry_hosts_file(registry, expected):
    assert registry_hosts_file('/etc/containerd/certs.d/', registry) == expected


@pytest.mark.parametrize('registry, reason', [
    ('..', 'leave the hosts directory'),
    ('../etc', 'leave the hosts directory'),
    ('docker.io/../../etc', 'leave the hosts directory'),
    ('/etc', 'leave the hosts directory'),
    ('a/b', 'leave the hosts directory'),
    ('', 'empty'),
    ('   ', 'empty'),
    ('docker.io ', 'whitespace'),
    ('dock er.io', 'whitespace'),
    ('registry.example:0', 'port'),
    ('registry.example:65536', 'port'),
    ('registry.example:http', 'port'),
    ('-bad.example', 'DNS name'),
    ('fd00::9', 'DNS name'),
    ('[fd00::zz]:5000', 'DNS name'),
    (None, 'empty'),
])
def test_registry_names_refused(registry, reason):
    with pytest.raises(SpegelError, match=reason) as raised:
        registry_hosts_file('/etc/containerd/certs.d', registry)
    assert 'nothing was written' in str(raised.value)


def test_hosts_dir_must_be_absolute():
    with pytest.raises(SpegelError, match="hosts_dir must be an absolute path"):
        registry_hosts_file('etc/containerd/certs.d', 'docker.io')


def test_default_server():
    assert default_server('docker.io') == 'https://registry-1.docker.io'
    assert default_server('_default') is None
    assert default_server('ghcr.io') == 'https://ghcr.io'
    assert default_server('registry.example:5000') == 'https://registry.example:5000'


# --- URLs -----------------------------------------------------------------------------------

@pytest.mark.parametrize('ip, port, expected', [
    ('198.18.0.5', 30020, 'http://198.18.0.5:30020'),
    ('fd00:5e6e::5', 30020, 'http://[fd00:5e6e::5]:30020'),
    ('[fd00:5e6e::5]', '30021', 'http://[fd00:5e6e::5]:30021'),
    ('fd00:5e6e:0:0:0:0:0:5', 30020, 'http://[fd00:5e6e::5]:30020'),
    ('::ffff:198.18.0.5', 30020, 'http://198.18.0.5:30020'),
    ('[::ffff:198.18.0.5]', 30020, 'http://198.18.0.5:30020'),
])
def test_mirror_url(ip, port, expected):
    assert mirror_url(ip, port) == expected


@pytest.mark.parametrize('ip, port, reason', [
    ('127.0.0.1', 30020, 'loopback'),
    ('::1', 30020, 'loopback'),
    ('0.0.0.0', 30020, 'unspecified'),
    ('::', 30020, 'unspecified'),
    ('169.254.1.1', 30020, 'link-local'),
    ('fe80::1', 30020, 'link-local'),
    ('localhost', 30020, 'not an IP'),
    ('198.18.0.300', 30020, 'not an IP'),
    ('', 30020, 'not an IP'),
    ('198.18.0.5', 0, 'port'),
    ('198.18.0.5', 65536, 'port'),
    ('198.18.0.5', 'x', 'port'),
    ('198.18.0.5', True, 'port'),
    ('::ffff:127.0.0.1', 30020, 'loopback'),
    ('fe80::1%eth0', 30020, 'zone ID'),
    ('[fe80::1%eth0]', 30020, 'zone ID'),
    ('255.255.255.255', 30020, 'broadcast'),
    ('224.0.0.1', 30020, 'multicast'),
    ('ff02::1', 30020, 'multicast'),
    ('999.1.1.1', 30020, 'not an IP'),
])
def test_mirror_url_refused(ip, port, reason):
    with pytest.raises(SpegelError, match=reason):
        mirror_url(ip, port)


@pytest.mark.parametrize('url, expected', [
    ('http://198.18.0.5:30020', 'http://198.18.0.5:30020'),
    ('HTTPS://Mirror.Example/', 'https://mirror.example'),
    ('https://mirror.example:5000/v2/proxy', 'https://mirror.example:5000/v2/proxy'),
    ('http://[fd00:5e6e::5]:30020', 'http://[fd00:5e6e::5]:30020'),
    ('http://[::ffff:198.18.0.5]:30020/v2', 'http://198.18.0.5:30020/v2'),
    ('http://[::FFFF:c612:5]', 'http://198.18.0.5'),
    # A mirror URL may name the node itself (a registry on localhost), unlike node_ip.
    ('http://127.0.0.1:5000', 'http://127.0.0.1:5000'),
    ('http://[::ffff:127.0.0.1]:5000', 'http://127.0.0.1:5000'),
    ('http://registry.example1:5000', 'http://registry.example1:5000'),
])
def test_validate_host_url(url, expected):
    assert validate_host_url(url) == expected


@pytest.mark.parametrize('url', [
    'ftp://mirror.example', 'mirror.example:5000', 'http://', 'http://mirror.example:0',
    'http://mirror.example:99999', 'http://mirror.example/?x=1', 'http://mirror.example/#top',
    "http://mirror.example/'", 'http://mirror.example/"', 'http://mirror .example',
    'http://user:pw@mirror.example', 'http://fd00::5:30020', 'http://-x.example', '',
])
def test_validate_host_url_refused(url):
    with pytest.raises(SpegelError, match='not valid'):
        validate_host_url(url)


@pytest.mark.parametrize('url, reason', [
    ('http://999.1.1.1:30020', 'the host 999.1.1.1 is not an IPv4 address'),
    ('http://10.1.2.3.4:30020', 'not an IPv4 address'),
    ('http://[fe80::1%eth0]:30020', 'zone ID'),
    ('http://[fe80::1%25eth0]:30020', 'zone ID'),
    ('http://255.255.255.255:30020', 'broadcast'),
    ('http://0.0.0.0:30020', 'unspecified'),
    ('http://[::]:30020', 'unspecified'),
    ('http://[::ffff:0.0.0.0]:30020', 'unspecified'),
    ('http://239.1.1.1:30020', 'multicast'),
    ('http://[ff02::1]:30020', 'multicast'),
])
def test_validate_host_url_refuses_addresses_no_connection_can_go_to(url, reason):
    with pytest.raises(SpegelError, match='not valid: .*%s' % reason):
        validate_host_url(url)


# --- merge ----------------------------------------------------------------------------------

def test_new_file_is_spegels_own_format():
    text = merge_registry('', 'docker.io/hosts.toml', 'docker.io', default_server('docker.io'), [V4, V4_NODEPORT])
    assert text == SPEGEL_DOCKER_IO


def test_default_registry_has_no_server_line():
    text = merge_registry(None, '_default/hosts.toml', '_default', None, [V4])
    assert text == "[host.'http://198.18.0.5:30020']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'\n"


def test_merge_is_idempotent_and_keeps_spegels_file_byte_identical():
    assert merge_registry(SPEGEL_DOCKER_IO, 'f', 'docker.io', default_server('docker.io'),
                          [V4, V4_NODEPORT]) == SPEGEL_DOCKER_IO


def test_user_hosts_certificates_and_comments_are_kept_and_ours_come_first():
    text = merge_registry(USER_DOCKER_IO, 'f', 'docker.io', default_server('docker.io'), [V4, V4_NODEPORT])
    assert host_order(text) == ['http://198.18.0.5:30020', 'http://198.18.0.5:30021',
                                'https://mirror.corp.example', 'https://registry-1.docker.io']
    data = tomllib.loads(text)
    assert data['server'] == 'https://registry-1.docker.io'
    assert data['host']['https://mirror.corp.example'] == {
        'capabilities': ['pull', 'resolve'], 'ca': '/etc/containerd/certs.d/docker.io/corp-ca.pem',
        'client': [['/etc/pki/client.pem', '/etc/pki/client.key']]}
    # The user's text is still there verbatim, comments included, after ours.
    assert text.endswith(USER_DOCKER_IO.split('\n', 2)[2])
    assert merge_registry(text, 'f', 'docker.io', default_server('docker.io'), [V4, V4_NODEPORT]) == text
    assert unmerge_registry(text, 'f', [V4['url'], V4_NODEPORT['url']], 'docker.io') == USER_DOCKER_IO


@pytest.mark.parametrize('position', ['first', 'last'])
def test_crlf_files_stay_crlf_and_come_back_byte_identical(position):
    user = USER_DOCKER_IO.replace('\n', '\r\n')
    text = merge_registry(user, 'f', 'docker.io', None, [V4, V4_NODEPORT], position=position)
    assert '\n' not in text.replace('\r\n', '')
    assert unmerge_registry(text, 'f', [V4['url'], V4_NODEPORT['url']]) == user


def test_spegels_own_trimmed_file_is_left_alone():
    # Spegel's init container writes its template with the surrounding whitespace trimmed.
    trimmed = SPEGEL_DOCKER_IO.rstrip('\n')
    assert merge_registry(trimmed, 'f', 'docker.io', default_server('docker.io'), [V4, V4_NODEPORT]) == trimmed
    extended = merge_registry(trimmed, 'f', 'docker.io', None, [V4, V4_NODEPORT, dict(SPEGEL, url='http://198.18.0.5:5000')])
    assert host_order(extended)[-1] == 'http://198.18.0.5:5000'


def test_position_last_appends_and_unmerges_byte_identical():
    text = merge_registry(USER_DOCKER_IO, 'f', 'docker.io', None, [V4], position='last')
    assert host_order(text)[-1] == V4['url']
    assert unmerge_registry(text, 'f', [V4['url']]) == USER_DOCKER_IO


def test_users_server_line_is_kept_unless_replaced():
    user = "server = 'https://pull-through.corp.example'\n\n[host.'https://pull-through.corp.example']\n" \
           "capabilities = ['pull', 'resolve']\n"
    kept = merge_registry(user, 'f', 'docker.io', default_server('docker.io'), [V4])
    assert tomllib.loads(kept)['server'] == 'https://pull-through.corp.example'
    replaced = merge_registry(user, 'f', 'docker.io', 'https://registry-1.docker.io', [V4], replace_server=True)
    assert tomllib.loads(replaced)['server'] == 'https://registry-1.docker.io'


def test_existing_entry_is_updated_in_place():
    user = USER_DOCKER_IO + "\n# ours, placed last by hand\n[host.'http://198.18.0.5:30020']\ncapabilities = ['pull']\n" \
                            "dial_timeout = '1s'  # slow network\n"
    text = merge_registry(user, 'f', 'docker.io', None, [V4])
    assert host_order(text)[-1] == V4['url']
    assert tomllib.loads(text)['host'][V4['url']] == SPEGEL
    assert "dial_timeout = '200ms'  # slow network" in text
    assert '# ours, placed last by hand' in text


def test_new_target_goes_right_after_an_existing_one():
    text = merge_registry(merge_registry(USER_DOCKER_IO, 'f', 'docker.io', None, [V4]),
                          'f', 'docker.io', None, [V4, V4_NODEPORT])
    assert host_order(text)[:3] == [V4['url'], V4_NODEPORT['url'], 'https://mirror.corp.example']


def test_dropping_resolve_and_dial_timeout():
    text = merge_registry(SPEGEL_DOCKER_IO, 'f', 'docker.io', None,
                          [dict(url=V4['url'], capabilities=['pull'])])
    assert tomllib.loads(text)['host'][V4['url']] == {'capabilities': ['pull']}
    assert tomllib.loads(text)['host'][V4_NODEPORT['url']] == SPEGEL


def test_authorization_header_added_changed_and_removed_keeps_the_rest():
    with_auth = dict(V4, header={'Authorization': 'Basic dXNlcjpvbGQ='})
    text = merge_registry(USER_DOCKER_IO, 'f', 'docker.io', None, [with_auth])
    assert "[host.'http://198.18.0.5:30020'.header]\nAuthorization = 'Basic dXNlcjpvbGQ='\n" in text
    changed = merge_registry(text, 'f', 'docker.io', None, [dict(V4, header={'Authorization': 'Basic bmV3'})])
    assert tomllib.loads(changed)['host'][V4['url']]['header'] == {'Authorization': 'Basic bmV3'}
    removed = merge_registry(changed, 'f', 'docker.io', None, [V4])
    assert 'header' not in tomllib.loads(removed)['host'][V4['url']]
    assert '# Our corporate pull-through cache, with its own CA' in removed
    assert unmerge_registry(removed, 'f', [V4['url']]) == USER_DOCKER_IO


def test_all_fields_render_and_parse():
    full = dict(url='https://mirror.example:5000', capabilities=['pull'], ca=['/a.pem', '/b.pem'],
                client=[['/c.pem', '/c.key']], skip_verify=True, override_path=False, dial_timeout='1.5s',
                header={'X-Custom': ['a', "it's"], 'Authorization': 'Bearer x'})
    text = merge_registry('', 'f', 'registry.example:5000', default_server('registry.example:5000'), [full])
    data = tomllib.loads(text)
    expected = {k: v for k, v in full.items() if k != 'url'}
    assert data == {'server': 'https://registry.example:5000', 'host': {'https://mirror.example:5000': expected}}


@pytest.mark.parametrize('host, reason', [
    (dict(V4, capabilities=['pull', 'fetch']), 'capabilities'),
    (dict(V4, capabilities=[]), 'capabilities'),
    (dict(V4, dial_timeout='200'), 'dial_timeout'),
    (dict(V4, skip_verify='yes'), 'skip_verify'),
    (dict(V4, header={'Authorization': 5}), 'header'),
    (dict(V4, unknown=1), 'Unknown'),
    (dict(SPEGEL), 'url'),
    (dict(SPEGEL, url='http://localhost:30020/?q'), 'not valid'),
])
def test_bad_host_entries_refused(host, reason):
    with pytest.raises(SpegelError, match=reason):
        merge_registry('', 'f', '_default', None, [host])


def test_duplicate_urls_refused():
    with pytest.raises(SpegelError, match='twice'):
        merge_registry('', 'f', '_default', None, [V4, dict(V4)])


def test_invalid_existing_file_is_refused_naming_the_file():
    with pytest.raises(SpegelError, match='/etc/containerd/certs.d/_default/hosts.toml is not valid TOML'):
        merge_registry('[host.\n', '/etc/containerd/certs.d/_default/hosts.toml', '_default', None, [V4])


def test_inline_hosts_table_is_refused_not_mangled():
    inline = "host = { 'https://mirror.corp.example' = { capabilities = ['pull'] } }\n"
    with pytest.raises(SpegelError, match='nothing was changed'):
        merge_registry(inline, 'f', '_default', None, [V4])


# --- unmerge --------------------------------------------------------------------------------

def test_unmerge_of_our_own_file_means_delete():
    assert unmerge_registry(SPEGEL_DOCKER_IO, 'f', [V4['url'], V4_NODEPORT['url']], 'docker.io') is None
    ours = merge_registry('', 'f', '_default', None, [V4])
    assert unmerge_registry(ours, 'f', [V4['url']], '_default') is None


def test_unmerge_keeps_a_file_whose_server_is_the_users():
    text = merge_registry("server = 'https://pull-through.corp.example'\n", 'f', 'docker.io', None, [V4])
    assert unmerge_registry(text, 'f', [V4['url']], 'docker.io') == "server = 'https://pull-through.corp.example'\n"


def test_unmerge_of_one_target_keeps_the_other():
    text = unmerge_registry(SPEGEL_DOCKER_IO, 'f', [V4_NODEPORT['url']], 'docker.io')
    assert host_order(text) == [V4['url']]


def test_unmerge_without_our_entries_changes_nothing():
    assert unmerge_registry(USER_DOCKER_IO, 'f', [V4['url']], 'docker.io') == USER_DOCKER_IO


# The user's docker.io file as a GKE migration or a hand leaves it: no server line.
USER_WITHOUT_SERVER = """# the user's own pull-through cache
[host."https://mirror.corp.example"]
  capabilities = ["pull", "resolve"]
"""


@pytest.mark.parametrize('user', [USER_WITHOUT_SERVER, 'server = "https://registry-1.docker.io"\n',
                                  "server = 'https://registry-1.docker.io'\n# kept by hand\n", '# nothing yet\n'])
def test_a_users_file_with_or_without_server_comes_back_byte_for_byte(user):
    merged = merge_registry(user, 'f', 'docker.io', default_server('docker.io'), [V4])
    assert host_order(merged)[0] == V4['url']
    # No server line is added to a file that has none: containerd's fallback is the same.
    assert tomllib.loads(merged).get('server') == tomllib.loads(user).get('server')
    assert unmerge_registry(merged, 'f', [V4['url']], 'docker.io') == user


def test_a_secret_added_later_sits_with_our_entry_not_under_the_users_comment():
    plain = merge_registry(USER_WITHOUT_SERVER, 'f', 'docker.io', None, [V4])
    secret = merge_registry(plain, 'f', 'docker.io', None, [dict(V4, header={'Authorization': 'Basic eA=='})])
    assert secret == merge_registry(USER_WITHOUT_SERVER, 'f', 'docker.io', None,
                                    [dict(V4, header={'Authorization': 'Basic eA=='})])
    assert merge_registry(secret, 'f', 'docker.io', None, [V4]) == plain
    assert unmerge_registry(secret, 'f', [V4['url']], 'docker.io') == USER_WITHOUT_SERVER


# --- stale entries --------------------------------------------------------------------------

def test_stale_entries_are_exactly_ours_on_another_ip():
    text = (merge_registry('', 'f', '_default', None, [dict(SPEGEL, url='http://198.18.0.9:30020'),
                                                       dict(SPEGEL, url='http://[fd00:5e6e::9]:30021')])
            + "[host.'http://198.18.0.5:30020']\ncapabilities = ['pull', 'resolve']\n"  # the node's own IP
            + "[host.'http://198.18.0.6:30020']\ncapabilities = ['pull']\n"  # other capabilities
            + "[host.'http://198.18.0.7:5000']\ncapabilities = ['pull', 'resolve']\n"  # another port
            + "[host.'https://198.18.0.8:30020']\ncapabilities = ['pull', 'resolve']\n"  # https
            + "[host.'http://198.18.0.10:30020']\ncapabilities = ['pull', 'resolve']\nca = '/ca.pem'\n"  # a CA
            + "[host.'http://198.18.0.11:30020/v2']\ncapabilities = ['pull', 'resolve']\n"  # a path
            + "[host.'http://registry.example:30020']\ncapabilities = ['pull', 'resolve']\n"  # a name
            + "[host.'http://198.18.0.12:30020']\ncapabilities = ['pull', 'resolve']\n"
            + "[host.'http://198.18.0.12:30020'.header]\nAuthorization = 'Basic eA=='\n")
    stale = stale_mirrors(text, 'f', [30020, 30021], ['pull', 'resolve'], ['198.18.0.5', 'fd00:5e6e::5'])
    assert stale == ['http://198.18.0.9:30020', 'http://[fd00:5e6e::9]:30021', 'http://198.18.0.12:30020']
    # The node's addresses (both families) are never stale.
    assert stale_mirrors(text, 'f', [30020, 30021], ['pull', 'resolve'],
                         ['198.18.0.5', '198.18.0.9', '198.18.0.12', 'fd00:5e6e::9']) == []
    assert stale_mirrors(None, 'f', [30020], ['pull', 'resolve'], ['198.18.0.5']) == []


def test_pruning_a_stale_entry_from_a_users_file_restores_it():
    old = merge_registry(USER_DOCKER_IO, 'f', 'docker.io', None, [dict(SPEGEL, url='http://198.18.0.9:30020')])
    stale = stale_mirrors(old, 'f', [30020], SPEGEL['capabilities'], ['198.18.0.5'])
    assert stale == ['http://198.18.0.9:30020']
    assert hosts_merge.remove_hosts(old, 'f', stale) == USER_DOCKER_IO


# --- the user's mode ------------------------------------------------------------------------

def test_mode_note_sits_on_our_entry_and_leaves_with_it():
    merged = merge_registry(USER_DOCKER_IO, 'f', 'docker.io', None,
                            [dict(V4, header={'Authorization': 'Basic eA=='}), V4_NODEPORT])
    noted = note_mode(merged, V4['url'], '0644')
    assert recorded_mode(noted) == '0644' and recorded_mode(merged) is None
    assert note_mode(noted, V4['url'], '0640') == noted
    assert tomllib.loads(noted) == tomllib.loads(merged)
    assert drop_mode_note(noted) == merged
    assert unmerge_registry(noted, 'f', [V4['url'], V4_NODEPORT['url']], 'docker.io') == USER_DOCKER_IO
    crlf = note_mode(merged.replace('\n', '\r\n'), V4['url'], '0640')
    assert '\n' not in crlf.replace('\r\n', '') and recorded_mode(crlf) == '0640'


# The secret test of hosts_file_write, read from the keys (the boot step has no TOML library),
# against what the controller's redaction masks (tomllib and tomlkit).
SECRET_CASES = [
    USER_DOCKER_IO,
    merge_registry(USER_DOCKER_IO, 'f', 'docker.io', None, [dict(V4, header={'Authorization': 'Basic eA=='})]),
    merge_registry(None, 'f', 'docker.io', None, [dict(V4, url='http://[fd00::5]:30020', header={'X-Api': 'k'})],
                   containerd_major=1),
    "[host.'http://x:1']\ncapabilities = ['pull']\nheader = {Authorization = 'Basic eA=='}\n",
    "[host.'http://x:1']\nheader = {}\n",
    "[host.'http://x:1'.header]\n",
    "[host.'http://x:1'.header]\nX-Custom = ['a', 'b']\n",
    "[host.'http://x:1']\nclient = {cert = '/c', 'pass.word' = 'x'}\n",
    "[host.'http://x:1']\nclient = {cert = '/c', key = 'x, token = y'}\n",
    "[host.'http://x:1']\nclient = [['/c', '/k']]\n",
    "[host.'http://x:1']\nx = {a = {b = [{c = 1}, {'pass' = 2}]}, d = 3}\n",
    "[host.'http://x:1']\nx = {a = {b = [{c = 1}, {e = 2}], f = [1, [2, {g = 3}]]}, \"h\".i = {}}\n",
    "[host.'http://x:1']\nx = {a = {b = [{c = 1}, {e = 2}], f = [1, [2, {g = 3}]]}, \"h\".token = {}}\n",
    "x = {a = {}}\n",
    "[host.'http://x:1']\npassword = []\n",
    "server = 'https://bob:pw@registry.example'\n",
    "server = 'https://registry.example'\n# header: Authorization = Basic c2VjcmV0\n",
    "server = 'https://registry.example'\n# a comment about the password policy\n",
    'host."http://x:1".header."Authorization" = "Basic eA=="\n',
    "[[array]]\npassword = 'x'\n",
    "[[array]]\nname = 'x'\n",
    'x = """\n[host.\'a\'.header]\nAuthorization = \'b\'\n"""\n',
    '"ke\\u0079" = 1\nauth = ""\n',
]


@pytest.mark.parametrize('text', SECRET_CASES)
def test_the_writers_secret_test_agrees_with_the_redaction(text):
    assert holds_secret(text) is (redact_secrets(text, 'f') != text)


@pytest.mark.parametrize('key', ['a', 'host."https://x:5000".header', "host.'http://[fd00::1]:30020' . capabilities",
                                 ' "a\\"b\\u00e9\\U0001F600\\t\\\\" . c-d_9 ', '""', "'a.b'.c", '1.2', "'\\n'"])
def test_key_paths_are_read_as_tomllib_reads_them(key):
    node, path = tomllib.loads(key + ' = 0'), []
    while isinstance(node, dict):
        path.append(next(iter(node)))
        node = node[path[-1]]
    assert _key_path(key) == path
    assert [s.path for s in _statements('%s = 0\n' % key)] == [path]


# --- shadowing directories ------------------------------------------------------------------

def test_shadowing_files():
    assert shadowing_glob('/etc/containerd/certs.d/') == '/etc/containerd/certs.d/*/hosts.toml'
    assert shadowing_glob('/srv/[x]') == '/srv/[[]x]/*/hosts.toml'
    matches = ['/d/_backup/hosts.toml', '/d/_default/hosts.toml', '/d/docker.io/hosts.toml',
               '/d/ghcr.io/hosts.toml', '/d/registry.example_5000_/hosts.toml']
    assert shadowing_files(matches, ['/d/ghcr.io/hosts.toml']) == {
        'docker.io': '/d/docker.io/hosts.toml', 'registry.example_5000_': '/d/registry.example_5000_/hosts.toml'}


def test_dirs_without_hosts_file():
    """Every registry directory but _default, _backup and hidden ones, less those with a hosts.toml."""
    directories = ['.cache', '_backup', '_default', 'docker.io', 'ghcr.io', 'registry.example_5000_']
    matches = ['/d/_default/hosts.toml', '/d/docker.io/hosts.toml', '/d/elsewhere/hosts.toml']
    assert hosts_stale.dirs_without_hosts_file('/d', directories, matches) == [
        '/d/ghcr.io', '/d/registry.example_5000_']
    assert hosts_stale.dirs_without_hosts_file('/d', [], matches) == []


# --- option values --------------------------------------------------------------------------

@pytest.mark.parametrize('value, port', [(30020, 30020), ('30021', 30021), (' 1 ', 1), (65535, 65535)])
def test_port_number(value, port):
    assert hosts_names.port_number(value, 'ports') == port


@pytest.mark.parametrize('value', [True, False, 0, -1, 65536, '-1', 'abc', '30020.5', 30020.0, '', None, '030020'])
def test_port_number_refused_naming_the_option(value):
    with pytest.raises(SpegelError, match=r"^ports: .* is not a port number from 1 to 65535"):
        hosts_names.port_number(value, 'ports')


@pytest.mark.parametrize('value, header', [
    ('Basic c3BlZ2VsOnB3', 'Basic c3BlZ2VsOnB3'),
    ({'username': 'spegel', 'password': 'pw'}, 'Basic c3BlZ2VsOnB3'),
    ({'username': 'spegel'}, 'Basic c3BlZ2VsOg=='),
    # YAML reads an unquoted `password: 12345` (or username) as a number: its digits are meant.
    ({'username': 'spegel', 'password': 12345}, 'Basic c3BlZ2VsOjEyMzQ1'),
    ({'username': 12345, 'password': 'pw'}, 'Basic MTIzNDU6cHc='),
    # encoding json (the AWX credential type): JSON strings, so '0123' stays 0123.
    ({'username': '"spegel"', 'password': '"0123"', 'encoding': 'json'}, 'Basic c3BlZ2VsOjAxMjM='),
    ({'username': '"sp\\u00e9gel"', 'password': '"a\\"b"', 'encoding': 'json'}, 'Basic c3DDqWdlbDphImI='),
    ('', None), (None, None), ({}, None),
])
def test_authorization_header(value, header):
    assert hosts_names.authorization_header(value) == header


@pytest.mark.parametrize('value, problem', [
    (['Basic c3BlZ2VsOnB3'], 'got a list'), (12345, 'got a number'), (True, 'got a boolean'),
    (1.5, 'got a number'),
    ({'username': 'spegel', 'password': 'pw', 'realm': 'x'}, 'got a dict with the keys password, realm, username: remove realm.'),
    ({'user': 'spegel', 'password': 'pw'}, 'the keys password, user: remove user.'),
    ({'username': 'spegel', 'password': ['pw']}, 'its password must be a string (quote it in YAML), got a list'),
    ({'username': 'spegel', 'password': True}, 'its password must be a string (quote it in YAML), got a boolean'),
    ({'username': 'spegel', 'password': 1.5e3}, 'its password must be a string (quote it in YAML), got a number'),
    ({'username': None, 'password': 'pw'}, 'its username is empty'),
    ({'password': 'pw'}, 'its username is empty'),
    ({'username': ['spegel'], 'password': 'pw'}, 'its username must be a string (quote it in YAML), got a list'),
    ('Basic c3Bl\nZ2Vs', 'must be one line'), (' Basic c3BlZ2VsOnB3', 'must be one line'),
    ({'username': '"spegel"', 'password': 'pw', 'encoding': 'json'}, 'with encoding json its password must be a JSON string'),
    ({'username': '"spegel"', 'password': '1500', 'encoding': 'json'}, 'with encoding json its password must be a JSON string'),
    ({'username': 'spegel', 'password': 'pw', 'encoding': 'yaml'}, "encoding must be json"),
])
def test_authorization_of_another_shape_is_refused_naming_the_problem_without_showing_it(value, problem):
    with pytest.raises(SpegelError, match='^mirror_authorization[ :]') as refused:
        hosts_names.authorization_header(value, 'mirror_authorization')
    assert problem in str(refused.value)
    for shown in ('c3Bl', "'pw'", '1500', 'spegel'):
        assert shown not in str(refused.value)
