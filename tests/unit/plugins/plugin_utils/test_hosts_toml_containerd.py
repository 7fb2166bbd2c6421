# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""hosts.toml per containerd version: IPv6 mirrors as dotted keys on 1.x, tables on 2.x.

The engine's text; tests/real/plugins/plugin_utils/test_hosts_toml_containerd.py has every
containerd family read these files.
"""

from __future__ import annotations

import tomllib

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_merge as hosts_merge
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_text as hosts_text
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_write as hosts_write
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_merge import merge_registry, unmerge_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_render import DOTTED_NOTE
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_stale import stale_mirrors
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_write import note_mode
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_secrets

from _hosts_cases import (  # this directory
    SPEGEL, V6, V6_NODEPORT, V4, V4_NODEPORT, V6_URLS, USER_DOCKER_IO, FOR_1X, FOR_2X, USER_HOST_TABLE, USER_ROOT_KEYS,
    merged,
)


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


# --- dial_timeout as Go reads it ------------------------------------------------------------------

@pytest.mark.parametrize('timeout', ['2562048h', '2562047h47m16.854775808s', '300y', '1', '-1s', '0s', '', 5])
def test_a_dial_timeout_go_cannot_read_is_refused(timeout):
    with pytest.raises(SpegelError, match="dial_timeout must be a Go duration"):
        merged('', [dict(V4, dial_timeout=timeout)], 2)
