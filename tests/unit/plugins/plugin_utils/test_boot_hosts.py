# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The boot step of an image bake (plugin_utils/_boot_hosts.py): its block, the user's bytes
kept, a former address dropped, the form per containerd major and IP family, the same text
the mirror role writes. Last, the installed layout run by a bare Python: the standard
library only, no Ansible, no tomlkit, no tomllib. Every containerd family reading it:
tests/real/plugins/plugin_utils/test_boot_hosts.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _boot_hosts as boot
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_merge import merge_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import default_server
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_write import recorded_mode
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_ip import NodeIP

from _hosts_cases import AUTH, USER_DOCKER_IO, USER_HOST_TABLE  # this directory

from _boot_hosts_cases import BUILDER, SECRET, SETTINGS, V4, V6, rendered  # this directory


REPO = Path(__file__).resolve().parents[4]


def block_of(text):
    lines = text.splitlines()
    return '\n'.join(lines[lines.index(boot.BEGIN):lines.index(boot.END) + 1])


@pytest.mark.parametrize('ip', [V4, V6])
@pytest.mark.parametrize('major', [1, 2])
def test_the_users_file_comes_back_byte_for_byte(ip, major):
    text = rendered(USER_DOCKER_IO, ip, major, SECRET)
    assert boot.without_block(text) == USER_DOCKER_IO
    assert rendered(text, ip, major, SECRET) == text  # the next boot changes nothing
    assert text.startswith('server = "https://registry-1.docker.io"\n' + boot.BEGIN + '\n')


@pytest.mark.parametrize('ip, major, dotted', [(V4, 1, False), (V4, 2, False), (V6, 1, True), (V6, 2, False)])
def test_the_form_per_containerd_major_and_ip_family(ip, major, dotted):
    block = block_of(rendered(USER_DOCKER_IO, ip, major, SECRET))
    url = boot.mirror_hosts(SETTINGS, ip)[0][0]
    if dotted:
        assert "\n[host]\n'%s'.capabilities = ['pull', 'resolve']\n" % url in block
        assert "'%s'.header.Authorization = '%s'" % (url, AUTH['Authorization']) in block
        assert "[host.'" not in block
    else:
        assert "\n[host.'%s']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'\n" % url in block
        assert "[host.'%s'.header]\nAuthorization = '%s'" % (url, AUTH['Authorization']) in block


@pytest.mark.parametrize('ip', [V4, V6])
@pytest.mark.parametrize('major', [1, 2])
@pytest.mark.parametrize('user', [USER_DOCKER_IO, None])
def test_it_is_what_the_mirror_role_writes(ip, major, user):
    """merge_registry (the mirror role) finds nothing to change, so verify calls the node ready."""
    text = rendered(user, ip, major, SECRET)
    hosts = [dict(fields, url=url) for url, fields in boot.mirror_hosts(SECRET, ip)]
    assert merge_registry(text, 'f', 'docker.io', default_server('docker.io'), hosts, containerd_major=major) == text
    assert list(tomllib.loads(text)['host'])[:2] == [url for url, _fields in boot.mirror_hosts(SETTINGS, ip)]


def test_a_former_address_is_dropped_and_the_users_entries_kept():
    baked = rendered(USER_DOCKER_IO, BUILDER, 2)
    booted = rendered(baked, V4, 2)
    assert BUILDER not in booted
    assert booted == rendered(USER_DOCKER_IO, V4, 2)
    # from an IPv4 builder to an IPv6-only node on 1.x: tables become dotted keys
    assert rendered(baked, V6, 1) == rendered(USER_DOCKER_IO, V6, 1)


def test_a_new_file_gets_spegels_server_line_and_default_none():
    assert 'server = "https://registry-1.docker.io"' in block_of(rendered(None, V4, 2))
    assert 'server' not in rendered(None, V4, 2, registry='_default')
    assert boot.without_block(rendered(None, V4, 2)) == ''


def test_a_configured_server_is_written_normalised():
    settings = dict(SETTINGS, server={'docker.io': 'HTTPS://Mirror.Corp:5000/'})
    assert 'server = "https://mirror.corp:5000"' in block_of(rendered(None, V4, 2, settings))


def test_a_server_with_credentials_is_never_written():
    settings = dict(SETTINGS, server={'docker.io': 'https://bob:S3cretPw@r.corp'})
    with pytest.raises(SpegelError, match='credentials do not belong in the URL'):
        rendered(None, V4, 2, settings)


def test_a_users_host_table_refuses_the_dotted_form_only():
    assert rendered(USER_HOST_TABLE, V6, 2)
    with pytest.raises(SpegelError, match=r'\[host\] table'):
        rendered(USER_HOST_TABLE, V6, 1)


def test_an_unclosed_block_is_refused():
    with pytest.raises(SpegelError, match='never closes'):
        boot.without_block(boot.BEGIN + '\n[host."x"]\n')


@pytest.mark.parametrize('output, major', [
    ('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3', 1),
    ('containerd github.com/containerd/containerd/v2 v2.4.2 abcdef', 2),
    ('containerd containerd.io 1.7.27 05044ec0a9a7', 1),
    ('nonsense', None),
])
def test_containerd_major(output, major):
    assert boot.containerd_major(output) == major


def test_authorization_as_a_dict_becomes_basic():
    assert boot.authorization_header({'username': 'spegel', 'password': 'pw'}) == AUTH['Authorization']


# --- main(): files, modes, a failed discovery --------------------------------------------------

@pytest.fixture
def node(tmp_path, monkeypatch):
    """A hosts dir with the user's docker.io, settings for _default, and a node IP of our choosing."""
    certs = tmp_path / 'certs.d'
    (certs / 'docker.io').mkdir(parents=True)
    (certs / 'docker.io' / 'hosts.toml').write_text(USER_DOCKER_IO)
    (certs / 'docker.io' / 'hosts.toml').chmod(0o644)
    settings = tmp_path / 'bake.json'
    settings.write_text(json.dumps(dict(SECRET, hosts_dir=str(certs), registries=['_default'])))
    answer = {'ip': V4}

    def node_ip(_settings):
        if answer['ip'] is None:
            raise SpegelError("Cannot tell this node's own IP for certain. Set spegel_node_ip for this host.")
        return NodeIP(answer['ip'], 'test')

    monkeypatch.setattr(boot, 'node_ip', node_ip)
    monkeypatch.setattr(boot, 'node_containerd_major', lambda _settings: 2)
    return certs, settings, answer


def test_main_writes_every_file_atomically_with_the_secret_0600(node, capsys):
    certs, settings, answer = node
    assert boot.main([str(settings)]) == 0
    for registry in ('_default', 'docker.io'):
        path = certs / registry / 'hosts.toml'
        assert V4 in path.read_text() and oct(path.stat().st_mode & 0o777) == '0o600'
    assert boot.without_block((certs / 'docker.io' / 'hosts.toml').read_text()) == USER_DOCKER_IO
    assert not list(certs.rglob('.hosts.toml.*'))
    answer['ip'] = V6
    assert boot.main([str(settings)]) == 0
    assert V4 not in (certs / '_default' / 'hosts.toml').read_text()
    assert 'written' in capsys.readouterr().err
    assert boot.main([str(settings)]) == 0
    assert 'written' not in capsys.readouterr().err


def test_main_without_a_certain_ip_removes_the_block_and_names_what_to_set(node, capsys):
    certs, settings, answer = node
    assert boot.main([str(settings)]) == 0
    answer['ip'] = None
    assert boot.main([str(settings)]) == 1
    message = capsys.readouterr().err
    assert 'spegel_node_ip' in message and '--node-ip' in message and 'removed' in message
    assert (certs / 'docker.io' / 'hosts.toml').read_text() == USER_DOCKER_IO
    assert mode_of(certs / 'docker.io' / 'hosts.toml') == 0o644  # the secret went with the block
    assert not (certs / '_default').exists()


@pytest.mark.parametrize('change', [
    {'urls': ['https://bob:S3cretPw@mirror.corp:5000']},
    {'registries': ['ghcr.io'], 'server': {'ghcr.io': 'https://bob:pa@S3cretPw@r.corp'}},
])
def test_main_never_prints_url_credentials(node, capsys, change):
    certs, settings, _answer = node
    settings.write_text(json.dumps(dict(dict(SECRET, hosts_dir=str(certs), registries=['_default']), **change)))
    assert boot.main([str(settings)]) == 1
    message = capsys.readouterr().err
    assert 'credentials do not belong in the URL' in message and 'S3cretPw' not in message
    assert (certs / 'docker.io' / 'hosts.toml').read_text() == USER_DOCKER_IO
    assert not (certs / 'ghcr.io').exists() and not (certs / '_default').exists()


def test_main_remove_gives_the_user_back_their_files(node):
    certs, settings, _answer = node
    assert boot.main([str(settings)]) == 0
    assert boot.main(['--remove', str(settings)]) == 0
    assert (certs / 'docker.io' / 'hosts.toml').read_text() == USER_DOCKER_IO
    assert mode_of(certs / 'docker.io' / 'hosts.toml') == 0o644
    assert not (certs / '_default').exists()


def mode_of(path):
    return path.stat().st_mode & 0o7777


def test_main_notes_the_users_mode_and_gives_it_back_when_the_secret_goes(node, capsys):
    """The rule of every hosts.toml the collection writes (hosts_file_write): 0600 while the
    file holds a secret, the mode it had noted in our entry, and given back without the secret."""
    certs, settings, _answer = node
    user = certs / 'docker.io' / 'hosts.toml'
    user.chmod(0o640)
    assert boot.main([str(settings)]) == 0
    assert mode_of(user) == 0o600 and recorded_mode(user.read_text()) == '0640'
    assert recorded_mode(block_of(user.read_text())) == '0640'  # the note goes with our block
    assert mode_of(certs / '_default' / 'hosts.toml') == 0o600  # a new file: no mode to note
    assert recorded_mode((certs / '_default' / 'hosts.toml').read_text()) is None
    capsys.readouterr()
    assert boot.main([str(settings)]) == 0
    assert 'written' not in capsys.readouterr().err  # the next boot keeps the note, writes nothing
    settings.write_text(json.dumps(dict(json.loads(settings.read_text()), authorization='')))
    assert boot.main([str(settings)]) == 0
    assert mode_of(user) == 0o640 and recorded_mode(user.read_text()) is None
    assert boot.without_block(user.read_text()) == USER_DOCKER_IO
    assert mode_of(certs / '_default' / 'hosts.toml') == 0o600  # nothing noted, nothing to give back


# --- installed as the bake installs it, run by a bare Python -----------------------------------

PACKAGE = 'ansible_collections.peerpull.spegel.plugins'


def installed_tree(lib):
    """The files the mirror role's boot entry point copies (mirror_boot_sources), under the
    same package path in lib, with tomllib made unimportable there, as on a Python older than
    3.11. Returns the sources."""
    sources = yaml.safe_load((REPO / 'roles/mirror/vars/main.yml').read_text())['mirror_boot_sources']
    for source in sources:
        target = lib / PACKAGE.replace('.', '/') / source
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / 'plugins' / source).read_bytes())
    (lib / 'tomllib.py').write_text('raise ImportError("not on this Python")\n')
    return sources


def test_the_boot_step_ships_exactly_the_modules_it_imports(tmp_path):
    """Imported by a Python that sees the standard library and the installed tree only (-S: no
    site-packages, -I: no environment, no current directory), the boot step loads every shipped
    file and no other file of the collection: a missing one fails the import, one it no longer
    imports is listed."""
    lib = tmp_path / 'lib'
    sources = installed_tree(lib)
    probe = ('import sys; sys.path.insert(0, sys.argv[1]); import %s._boot_hosts\n'
             'print("\\n".join(sorted(name for name, module in sys.modules.items()\n'
             '                 if name.startswith("ansible_collections.") and getattr(module, "__file__", None))))'
             % (PACKAGE + '.plugin_utils'))
    loaded = subprocess.run([sys.executable, '-S', '-I', '-c', probe, str(lib)], capture_output=True, text=True,
                            check=False)
    assert loaded.returncode == 0, loaded.stderr
    shipped = sorted('%s.%s' % (PACKAGE, source[:-len('.py')].replace('/', '.')) for source in sources)
    assert loaded.stdout.split() == shipped


def test_the_installed_tree_runs_on_the_standard_library_alone(tmp_path):
    """The installed tree, run with -S (no site-packages: no Ansible, no tomlkit) and no tomllib."""
    lib = tmp_path / 'lib'
    installed_tree(lib)
    certs = tmp_path / 'certs.d'
    settings = tmp_path / 'bake.json'
    settings.write_text(json.dumps(dict(SETTINGS, hosts_dir=str(certs), node_ip=V6, containerd_version='1.7')))
    env = dict(os.environ, PYTHONPATH=str(lib), PATH='/nonexistent')
    command = [sys.executable, '-S', '-m', 'ansible_collections.peerpull.spegel.plugins.plugin_utils._boot_hosts']
    (certs / 'docker.io').mkdir(parents=True)
    (certs / 'docker.io' / 'hosts.toml').write_text(USER_DOCKER_IO)  # a user's file: its keys read without tomllib
    check = subprocess.run(command + ['--check', str(settings)], env=env, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert sorted(p.name for p in certs.iterdir()) == ['docker.io']
    assert (certs / 'docker.io' / 'hosts.toml').read_text() == USER_DOCKER_IO
    done = subprocess.run(command + [str(settings)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert 'node IP %s (spegel_node_ip)' % V6 in done.stderr
    text = (certs / '_default' / 'hosts.toml').read_text()
    assert list(tomllib.loads(text)['host']) == ['http://[%s]:30020' % V6, 'http://[%s]:30021' % V6]
    assert boot.without_block((certs / 'docker.io' / 'hosts.toml').read_text()) == USER_DOCKER_IO
    # With a secret: 0600 and the mode noted, then given back, by the shipped _hosts_write.
    (certs / '_default' / 'hosts.toml').chmod(0o644)
    settings.write_text(json.dumps(dict(json.loads(settings.read_text()), authorization=AUTH['Authorization'])))
    done = subprocess.run(command + [str(settings)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    text = (certs / '_default' / 'hosts.toml').read_text()
    assert mode_of(certs / '_default' / 'hosts.toml') == 0o600 and recorded_mode(text) == '0644'
    assert tomllib.loads(text)['host']['http://[%s]:30020' % V6]['header'] == AUTH
    settings.write_text(json.dumps(dict(json.loads(settings.read_text()), authorization='')))
    done = subprocess.run(command + [str(settings)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert mode_of(certs / '_default' / 'hosts.toml') == 0o644


# --- the settings, checked at bake time -----------------------------------------------------------

BAKED = dict(hosts_dir='/etc/containerd/certs.d', registries=['_default'], ports=[30020], urls=[],
             capabilities=['pull', 'resolve'], dial_timeout='200ms', server={}, authorization='', node_ip='',
             containerd_version='')


@pytest.mark.parametrize('change', [{}, {'node_ip': '198.18.0.5'}, {'node_ip': '::ffff:198.18.0.5'},
                                    {'urls': ['http://[::ffff:198.18.0.5]:30020']}])
def test_settings_every_boot_can_render_pass(change):
    assert boot.check_settings(dict(BAKED, **change)) == dict(BAKED, **change)


@pytest.mark.parametrize('change, message', [
    ({'node_ip': '::ffff:127.0.0.1'}, "spegel_node_ip='::ffff:127.0.0.1' cannot be the mirror address: it is a loopback"),
    ({'node_ip': 'fe80::5%eth0'}, 'zone ID'),
    ({'ports': [True]}, 'True is not a port number'),
    ({'dial_timeout': '2562048h'}, 'dial_timeout must be a Go duration'),
    ({'authorization': ['Basic x']}, 'mirror_authorization must be a header value'),
    ({'urls': ['http://999.1.1.1:30020']}, 'the host 999.1.1.1 is not an IPv4 address'),
    ({'registries': ['../etc']}, "Registry '../etc' is not valid"),
    ({'hosts_dir': 'etc/containerd/certs.d'}, 'mirror_hosts_dir must be an absolute path'),
    ({'registries': ['docker.io'], 'server': {'docker.io': 'https://bob:S3cretPw@r.corp'}},
     'credentials do not belong in the URL'),
    ({'registries': ['docker.io'], 'server': {'docker.io': 'ftp://r.corp'}}, 'the scheme must be http or https'),
    ({'registries': ['docker.io'], 'server': {'docker.io': 'https://r.corp:0443'}}, 'the port must be a number'),
    ({'registries': ['docker.io'], 'server': {'ghcr.io': 'https://ghcr.io'}},
     "mirror_server names registry 'ghcr.io', which is not in mirror_registries (docker.io)"),
    ({'server': {'_default': 'https://r.corp'}}, 'mirror_server: _default takes no server'),
    ({'registries': ['docker.io'], 'server': ['https://r.corp']}, 'mirror_server must be a dict'),
])
def test_settings_no_boot_could_render_are_refused_at_bake_time(change, message):
    with pytest.raises(SpegelError, match=re.escape(message)):
        boot.check_settings(dict(BAKED, **change))
