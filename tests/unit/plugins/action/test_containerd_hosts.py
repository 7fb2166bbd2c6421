# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""containerd_hosts run against real files: one read round trip, then one write; options
refused before the node is read; the Authorization header never shown, its file 0600."""

from __future__ import annotations

import json
import stat
import tomllib

import pytest

from ansible_collections.peerpull.spegel.plugins.action.containerd_hosts import plain_list
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _boot_hosts as boot
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_write as hosts_write
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _kinds as kinds
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_kinds import NodeKind

MIRROR = 'http://198.18.0.5:30020'


def hosts_file(tmp_path, registry='_default'):
    return tmp_path / 'certs.d' / registry / 'hosts.toml'


def test_hosts_files_are_written_once_then_left_alone(run_action, tmp_path):
    args = dict(hosts_dir=str(tmp_path / 'certs.d'), registries=['_default', 'docker.io'], node_ip='198.18.0.5',
                containerd_version='2.1.9')
    result = run_action('containerd_hosts', args)
    assert result['changed'] and result['mirrors'] == [MIRROR] and result['restart_required'] is False
    assert result['node_ip']['source'] == 'spegel_node_ip'
    assert set(result['files']) == {'_default', 'docker.io'}
    assert MIRROR in hosts_file(tmp_path).read_text()
    assert "server = 'https://registry-1.docker.io'" in hosts_file(tmp_path, 'docker.io').read_text()
    assert len(run_action.calls) == 2
    again = run_action('containerd_hosts', args)
    assert not again['changed'] and len(run_action.calls) == 3


def test_the_authorization_header_is_masked_and_its_file_is_0600(run_action, tmp_path):
    args = dict(hosts_dir=str(tmp_path / 'certs.d'), mirrors=[MIRROR], authorization='Basic c2VjcmV0LXRva2Vu',
                containerd_version='2.1.9')
    result = run_action('containerd_hosts', args, diff=True)
    assert result['changed'] and 'c2VjcmV0LXRva2Vu' not in str(result)
    assert 'c2VjcmV0LXRva2Vu' in hosts_file(tmp_path).read_text()
    assert stat.S_IMODE(hosts_file(tmp_path).stat().st_mode) == 0o600


def test_state_absent_removes_the_entries_and_the_file_it_made(run_action, tmp_path):
    args = dict(hosts_dir=str(tmp_path / 'certs.d'), mirrors=[MIRROR], containerd_version='2.1.9')
    run_action('containerd_hosts', args)
    removed = run_action('containerd_hosts', dict(args, state='absent'))
    assert removed['changed'] and not hosts_file(tmp_path).exists()
    assert not hosts_file(tmp_path).parent.exists()


@pytest.mark.parametrize('args, message', [
    (dict(server={'quay.io': 'https://quay.io'}), "server names registry 'quay.io', which is not in registries"),
    (dict(server={'_default': 'https://x.example'}), '_default takes no server'),
    (dict(mirrors=['http://user:pw@198.18.0.5:30020']), 'http://********@198.18.0.5:30020'),
    (dict(node_ip='127.0.0.1'), 'loopback'),
    (dict(ports=[]), 'Give mirrors, or ports'),
])
def test_bad_options_are_refused_before_the_node_is_read(run_action, tmp_path, args, message):
    result = run_action('containerd_hosts', dict(args, hosts_dir=str(tmp_path / 'certs.d')))
    assert result['failed'] and message in result['msg'] and 'pw@' not in result['msg']
    assert run_action.calls == [] and not (tmp_path / 'certs.d').exists()


@pytest.mark.parametrize('mirror', ['http://user:pa/ss@198.18.0.5:30020', 'http://user:pa#ss@198.18.0.5:30020',
                                    'http://user:pa?ss@198.18.0.5:30020'])
def test_a_password_that_ends_the_host_early_is_masked_too(run_action, tmp_path, mirror):
    result = run_action('containerd_hosts', dict(hosts_dir=str(tmp_path / 'certs.d'), mirrors=[mirror]))
    assert result['failed'] and 'http://********@198.18.0.5:30020' in result['msg']
    assert 'credentials do not belong in the URL' in result['msg'] and 'pa' not in result['msg'].split('URL')[1]
    assert run_action.calls == [] and not (tmp_path / 'certs.d').exists()


def test_a_failed_write_of_several_files_leaves_no_directory_it_made(run_action, tmp_path, failing_rename):
    result = run_action('containerd_hosts', dict(hosts_dir=str(tmp_path / 'etc' / 'certs.d'), mirrors=[MIRROR],
                                                 registries=['docker.io', 'ghcr.io', 'quay.io']))
    assert result['failed'] and result['changed'] is False
    assert sorted(result['files']) == ['docker.io', 'ghcr.io', 'quay.io']
    assert not any(entry['changed'] for entry in result['files'].values())
    assert list(tmp_path.iterdir()) == []


def test_a_node_failure_leaves_no_file_and_no_diff(run_action, tmp_path):
    (tmp_path / 'certs.d').write_text('a file where the hosts directory should be\n')
    result = run_action('containerd_hosts', dict(hosts_dir=str(tmp_path / 'certs.d'), mirrors=[MIRROR],
                                                 containerd_version='2.1.9'), diff=True)
    assert result['failed'] and result['changed'] is False and 'diff' not in result
    assert str(tmp_path / 'certs.d') in result['msg']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['certs.d']


@pytest.mark.parametrize('values, plain', [([''], []), (None, []), (['a', 1], ['a', '1'])])
def test_an_empty_survey_answer_is_no_list(values, plain):
    assert plain_list(values) == plain


class OwnMirrorConfigKind(NodeKind):
    """A kind registered for one test whose adapter writes the mirror configuration itself
    (the real ones, k3s and RKE2, run below once registered)."""
    name = 'toy'
    summary = 'a toy distribution with its own mirror configuration'
    writes_hosts_toml = False


@pytest.mark.parametrize('name', ['toy'] + sorted(name for name, adapter in kinds.KINDS.items()
                                                  if not adapter.writes_hosts_toml))
def test_a_kind_that_configures_its_mirrors_itself_gets_no_hosts_toml(name, run_action, tmp_path, monkeypatch):
    if name == 'toy':
        monkeypatch.setitem(kinds.KINDS, 'toy', OwnMirrorConfigKind)
    args = dict(hosts_dir=str(tmp_path / 'certs.d'), node_ip='198.18.0.5', containerd_version='2.1.9')
    result = run_action('containerd_hosts', dict(args, node_kind=name))
    assert result['skipped'] and not result['changed'] and 'node_kind %s' % name in result['skip_reason']
    assert run_action.calls == [] and list(tmp_path.iterdir()) == []
    # Plain containerd, named or detected, writes them.
    assert run_action('containerd_hosts', dict(args, node_kind='containerd'))['changed']
    unknown = run_action('containerd_hosts', dict(args, node_kind='k3z'))
    assert unknown['failed'] and "node_kind 'k3z' is no node kind" in unknown['msg']


def test_registry_directories_without_a_hosts_file_are_found_in_the_same_read(run_action, tmp_path):
    """containerd takes a registry's own directory over _default even without a hosts.toml in
    it: such directories are named, from the one read round trip (check mode, no probe)."""
    certs = tmp_path / 'certs.d'
    for name in ('registry.example_5000_', 'docker.io', '_backup', '.hidden', 'quay.io'):
        (certs / name).mkdir(parents=True)
    (certs / 'registry.example_5000_' / 'ca.crt').write_text('-----BEGIN CERTIFICATE-----\n')
    (certs / 'docker.io' / 'hosts.toml').write_text('server = "https://registry-1.docker.io"\n')
    (certs / 'quay.io' / 'hosts.toml').mkdir()  # no file containerd can read
    (tmp_path / 'linked').mkdir()
    (certs / 'ghcr.io').symlink_to(tmp_path / 'linked')
    (certs / 'notes.txt').write_text('a file, no registry\n')
    args = dict(hosts_dir=str(certs) + '/', mirrors=[MIRROR], containerd_version='2.1.9')
    result = run_action('containerd_hosts', args, check_mode=True)
    hidden_default = ['ghcr.io', 'quay.io', 'registry.example_5000_']
    assert result['dirs_without_hosts_toml'] == [str(certs / name) for name in hidden_default]
    assert len(run_action.calls) == 1 and run_action.calls[0]['list_dirs'] == [str(certs)]
    assert 'BEGIN CERTIFICATE' not in str(result)
    assert sorted(p.name for p in certs.iterdir()) == sorted(
        ['registry.example_5000_', 'docker.io', '_backup', '.hidden', 'quay.io', 'ghcr.io', 'notes.txt'])

    # Without _default no directory hides anything from the registries managed: nothing is listed.
    only = run_action('containerd_hosts', dict(args, registries=['docker.io']), check_mode=True)
    assert only['dirs_without_hosts_toml'] == [] and 'list_dirs' not in run_action.calls[1]


def test_a_hosts_directory_that_is_a_file_is_named_in_check_mode_too(run_action, tmp_path):
    (tmp_path / 'certs.d').write_text('a file where the hosts directory should be\n')
    result = run_action('containerd_hosts', dict(hosts_dir=str(tmp_path / 'certs.d'), mirrors=[MIRROR],
                                                 containerd_version='2.1.9'), check_mode=True)
    assert result['failed'] and result['msg'] == (
        '%s cannot be listed on the node: Not a directory: move it away or choose another path; '
        'nothing was changed.' % (tmp_path / 'certs.d'))


# A registry's hosts.toml of the user's, mode 0644, whose own entry carries a secret.
USER_SECRET_HOSTS = ("server = 'https://registry-1.docker.io'\n\n[host.'https://user-mirror.example']\n"
                     "capabilities = ['pull', 'resolve']\n\n[host.'https://user-mirror.example'.header]\n"
                     "Authorization = 'Basic dXNlcjpzZWNyZXQ='\n")
LEGACY_MIRROR = ('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n'
                 '  endpoint = ["https://legacy-mirror.example"]\n')


def user_hosts(root):
    path = root / 'certs.d' / 'docker.io' / 'hosts.toml'
    path.parent.mkdir(parents=True)
    path.write_text(USER_SECRET_HOSTS)
    path.chmod(0o644)
    return path


@pytest.mark.parametrize('authorization', ['', 'Basic c2VjcmV0LXRva2Vu'])
def test_migrated_mirrors_and_containerd_hosts_give_a_secret_file_the_same_mode(run_action, tmp_path, authorization):
    # Path 1: containerd_config moves a legacy mirror into the registry's hosts.toml.
    migrated = user_hosts(tmp_path / 'migrated')
    (tmp_path / 'migrated' / 'config.toml').write_text(LEGACY_MIRROR)
    config = run_action('containerd_config', dict(path=str(tmp_path / 'migrated' / 'config.toml'),
                                                  hosts_dir=str(tmp_path / 'migrated' / 'certs.d'),
                                                  containerd_version='1.7.24', validate=False, service_name=''))
    assert config['changed'] and 'failed' not in config and 'https://legacy-mirror.example' in migrated.read_text()
    # Path 2: containerd_hosts adds Spegel's mirror to the same registry's file.
    hosts = user_hosts(tmp_path / 'hosts')
    result = run_action('containerd_hosts', dict(hosts_dir=str(tmp_path / 'hosts' / 'certs.d'), registries=['docker.io'],
                                                 mirrors=[MIRROR], authorization=authorization,
                                                 containerd_version='1.7.24'))
    assert result['changed'] and 'failed' not in result and MIRROR in hosts.read_text()
    # The same secret content, the same rule: 0600, the user's mode noted to come back.
    for path in (migrated, hosts):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert hosts_write.recorded_mode(path.read_text()) == '0644', path
        assert 'dXNlcjpzZWNyZXQ=' in path.read_text()
    # Spegel's entries gone again: the user's secret stays, and so does the mode that guards it.
    result = run_action('containerd_hosts', dict(hosts_dir=str(tmp_path / 'hosts' / 'certs.d'), registries=['docker.io'],
                                                 mirrors=[MIRROR], state='absent', containerd_version='1.7.24'))
    assert result['changed'] and MIRROR not in hosts.read_text() and 'dXNlcjpzZWNyZXQ=' in hosts.read_text()
    assert stat.S_IMODE(hosts.stat().st_mode) == 0o600


def test_a_file_without_a_secret_gets_its_noted_mode_back(run_action, tmp_path):
    args = dict(hosts_dir=str(tmp_path / 'certs.d'), registries=['docker.io'], mirrors=[MIRROR],
                containerd_version='2.1.9')
    path = hosts_file(tmp_path, 'docker.io')
    path.parent.mkdir(parents=True)
    path.write_text("server = 'https://registry-1.docker.io'\n")
    path.chmod(0o640)
    run_action('containerd_hosts', dict(args, authorization='Basic c2VjcmV0LXRva2Vu'))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and hosts_write.recorded_mode(path.read_text()) == '0640'
    result = run_action('containerd_hosts', args)
    assert result['changed'] and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert hosts_write.recorded_mode(path.read_text()) is None and 'c2VjcmV0LXRva2Vu' not in path.read_text()


# --- the boot step of a baked image writes as containerd_hosts does ------------------------------

USER_PLAIN_HOSTS = "server = 'https://registry-1.docker.io'\n\n[host.'https://user-mirror.example']\ncapabilities = ['pull']\n"
SECRET = 'Basic c2VjcmV0LXRva2Vu'


class TwoWriters:
    """The same registry's hosts.toml, under root/boot written by the boot step (run for real:
    main() with its settings file) and under root/hosts by containerd_hosts, from the same inputs."""

    def __init__(self, root, run_action, mirror, version, user):
        self.root, self.run_action, self.mirror, self.version = root, run_action, mirror, version
        for name in ('boot', 'hosts'):
            if user is not None:
                path = self.file(name)
                path.parent.mkdir(parents=True)
                path.write_text(user)
                path.chmod(0o644)

    def file(self, name):
        return self.root / name / 'certs.d' / 'docker.io' / 'hosts.toml'

    def hosts_args(self, authorization, root='hosts'):
        return dict(hosts_dir=str(self.root / root / 'certs.d'), registries=['docker.io'], mirrors=[self.mirror],
                    authorization=authorization, containerd_version=self.version)

    def write(self, authorization):
        settings = self.root / 'bake.json'
        settings.write_text(json.dumps(dict(
            hosts_dir=str(self.root / 'boot' / 'certs.d'), registries=['docker.io'], urls=[self.mirror],
            capabilities=['pull', 'resolve'], dial_timeout='200ms', authorization=authorization,
            containerd_version=self.version)))
        assert boot.main([str(settings)]) == 0
        result = self.run_action('containerd_hosts', self.hosts_args(authorization))
        assert 'failed' not in result, result
        return result

    def same(self, authorization, lines=True):
        """Both files as each other: the same mode, mode note, TOML and (lines) lines, the boot
        step's block markers aside; and containerd_hosts over the boot step's file finds nothing
        to change."""
        booted, written = self.file('boot'), self.file('hosts')
        assert stat.S_IMODE(booted.stat().st_mode) == stat.S_IMODE(written.stat().st_mode)
        assert hosts_write.recorded_mode(booted.read_text()) == hosts_write.recorded_mode(written.read_text())
        markers = (boot.BEGIN, boot.END, boot.NOTE % boot.SETTINGS)
        assert not lines or [line for line in booted.read_text().splitlines() if line.strip() and line not in markers] == [
            line for line in written.read_text().splitlines() if line.strip()]
        assert tomllib.loads(booted.read_text()) == tomllib.loads(written.read_text())
        again = self.run_action('containerd_hosts', self.hosts_args(authorization, root='boot'), check_mode=True)
        assert again['changed'] is False and 'failed' not in again, again
        return stat.S_IMODE(written.stat().st_mode), hosts_write.recorded_mode(written.read_text())


@pytest.fixture
def two_writers(run_action, tmp_path, monkeypatch):
    # The containerd major comes from the settings' containerd_version, not from a binary of this machine.
    monkeypatch.setattr(boot, 'BIN_DIRS', [])
    return lambda mirror, version, user: TwoWriters(tmp_path, run_action, mirror, version, user)


# The table form, and the dotted keys of an IPv6 mirror on containerd 1.x (the note goes in [host]).
FORMS = pytest.mark.parametrize('mirror, version', [(MIRROR, '2.1.9'), ('http://[fd00:5e6e:9::5]:30020', '1.7.24')])


@FORMS
def test_the_boot_step_and_containerd_hosts_give_a_0644_file_the_same_mode_as_its_secret_comes_and_goes(
        two_writers, mirror, version):
    writers = two_writers(mirror, version, USER_PLAIN_HOSTS)
    writers.write('')
    assert writers.same('') == (0o644, None)
    writers.write(SECRET)
    assert writers.same(SECRET) == (0o600, '0644')
    assert not writers.write(SECRET)['changed']  # the next boot and run change nothing
    assert writers.same(SECRET) == (0o600, '0644')
    writers.write('')
    assert writers.same('') == (0o644, None)
    assert SECRET not in writers.file('boot').read_text()


@FORMS
@pytest.mark.parametrize('authorization', ['', SECRET])
def test_the_boot_step_and_containerd_hosts_give_a_new_file_the_same_mode(two_writers, mirror, version, authorization):
    writers = two_writers(mirror, version, None)
    writers.write(authorization)
    # Only the quotes of the new file's server line differ (the boot step's "...", merge_registry's '...').
    assert writers.same(authorization, lines=False) == ((0o600, None) if authorization else (0o644, None))


@pytest.mark.parametrize('authorization', ['', SECRET])
def test_the_boot_step_and_containerd_hosts_keep_the_users_own_secret_0600(two_writers, authorization):
    """A secret of the user's own entry counts as ours does, with or without mirror_authorization."""
    writers = two_writers(MIRROR, '2.1.9', USER_SECRET_HOSTS)
    writers.write(authorization)
    assert writers.same(authorization) == (0o600, '0644')
    writers.write('')
    assert writers.same('') == (0o600, '0644')
