# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The containerd layout engine over the real-shaped fixtures (no containerd binary needed;
test_containerd_real.py runs the same outputs through the real binaries)."""

import copy
import tomllib
from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_effective import (
    check_effective, disabled_cri_in_dropins, predict_effective, settings_from_dump, wanted_settings,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    CRI_IMAGES, GRPC_CRI, LAYOUTS, parse_containerd_version,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_plan import ConfigPlan
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_restart import restart_state
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_secrets

FIXTURES = Path(__file__).resolve().parents[3] / 'fixtures' / 'containerd'
HOSTS_DIR = '/etc/containerd/certs.d'
V1_7 = parse_containerd_version('1.7.24')
V2_1 = parse_containerd_version('2.1.9')
V2_3 = parse_containerd_version('2.3.7')
# One containerd per way the engine treats a file: 1.x, 2.0-2.2 (newest layout 3; merge
# first, migrate once) and 2.3+ (newest layout 4; every file migrated on its own).
ENGINE_VERSIONS = (V1_7, V2_1, V2_3)
V3_ON_1X = 'version = 3 is a containerd 2.x layout'
V4_ON_1X = 'version = 4 is a containerd 2.x layout'
V4_ON_2_1 = 'version = 4 is newer than containerd 2.1.9 loads (at most 3)'

# fixture -> (result on containerd 1.7, on 2.1, on 2.3): the config version written, or the
# start of the error message.
OUTCOMES = {
    'aks.toml': (2, 2, 2),
    'comments-between-keys.toml': (2, 2, 2),
    'crlf.toml': (2, 2, 2),
    'default-1.6.toml': (2, 2, 2),
    'default-1.7.toml': (2, 2, 2),
    'default-2.1.toml': (V3_ON_1X, 3, 3),
    'default-2.2.1.toml': (V3_ON_1X, 3, 3),
    'default-2.2.toml': (V3_ON_1X, 3, 3),
    'default-2.3.toml': (V4_ON_1X, V4_ON_2_1, 4),
    'default-2.4.toml': (V4_ON_1X, V4_ON_2_1, 4),
    'digitalocean.toml': (2, 2, 2),
    'docker-containerd-io.toml': (2, 3, 4),
    'dotted-keys-root.toml': (2, 2, 2),
    'dotted-keys.toml': (2, 2, 2),
    'eks-al2.toml': (2, 2, 2),
    'eks-al2023-containerd2.toml': (V3_ON_1X, 3, 3),
    'eks-al2023.toml': (2, 2, 2),
    'empty.toml': (2, 3, 4),
    'gke.toml': (2, 2, 2),
    'inline-tables.toml': (2, 2, 2),
    'invalid.toml': ('is not valid TOML',) * 3,
    '../k0s/dropin-v2.toml': (2, 2, 2),  # k0s's fixture (tests/fixtures/k0s), a containerd layout too
    'kind.toml': (2, 2, 2),
    'legacy-mirrors-configs.toml': (2, 2, 2),
    'legacy-mirrors-with-config-path.toml': (2, 2, 2),
    'minikube.toml': (2, 2, 2),
    'single-quoted-keys.toml': (2, 2, 2),
    'talos-part.toml': ('holds plugins."io.containerd.cri.v1.images", a containerd 2.x table', 3, 4),
    # 2.0-2.2 ignore a version 1 file's CRI tables; 2.3+ migrate them.
    'v1-legacy.toml': (1, 'has no version line, so containerd reads it as version 1', 1),
    'v3-2.x.toml': (V3_ON_1X, 3, 3),
    'v4-2.3.toml': (V4_ON_1X, V4_ON_2_1, 4),
}
CASES = [(name, version, outcome) for name, outcomes in OUTCOMES.items()
         for version, outcome in zip(ENGINE_VERSIONS, outcomes)]


def outcome_for(name, version, default=2):
    """The OUTCOMES entry of this fixture for any containerd version."""
    outcomes = OUTCOMES.get(name, (default,) * 3)
    return outcomes[0 if version.major == 1 else 1 if not version.migrates_each_file else 2]


def read(name):
    return (FIXTURES / name).read_bytes().decode()


def plan(text, version, source='/etc/containerd/config.toml', **options):
    options.setdefault('enable_cri', True)
    return ConfigPlan(text, source, version).apply(hosts_dir=HOSTS_DIR, **options)


def get(data, key):
    for segment in key:
        data = data[segment]
    return data


def get_in(data, key):
    """The value at key, None when any part is missing."""
    for segment in key:
        if not isinstance(data, dict) or segment not in data:
            return None
        data = data[segment]
    return data


def comment_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip().startswith('#')]


def without(data, keys):
    """data minus the given keys, and minus tables that only held them."""
    data = copy.deepcopy(data)
    for key in keys:
        node = data
        parents = []
        for segment in key[:-1]:
            if not isinstance(node, dict) or segment not in node:
                break
            parents.append((node, segment))
            node = node[segment]
        else:
            if isinstance(node, dict):
                node.pop(key[-1], None)
        for parent, segment in reversed(parents):
            if parent[segment] == {}:
                del parent[segment]
    return data


def test_every_fixture_has_an_expected_outcome():
    assert sorted(OUTCOMES) == sorted([p.name for p in FIXTURES.glob('*.toml')] + ['../k0s/dropin-v2.toml'])


@pytest.mark.parametrize('name,version,outcome', CASES, ids=['%s-%s' % (n, v) for n, v, _o in CASES])
def test_engine_over_fixture(name, version, outcome):
    text = read(name)
    if isinstance(outcome, str):
        with pytest.raises(SpegelError) as error:
            plan(text, version).render()
        assert outcome in str(error.value)
        assert '/etc/containerd/config.toml' in str(error.value)
        return

    result = plan(text, version)
    out = result.render()
    layout = LAYOUTS[outcome]
    assert result.layout == layout
    data = tomllib.loads(out)
    assert data.get('version', 1) == outcome
    assert get(data, layout.config_path) == HOSTS_DIR
    # Absent is containerd's default, false: the key is written only over another value.
    images = get_in(data, layout.images) or {}
    assert images.get('discard_unpacked_layers', False) is False
    before = tomllib.loads(text)
    assert ('discard_unpacked_layers' in images) == (get_in(before, layout.discard_unpacked_layers) is not None
                                                     or not before)
    registry = get(data, layout.registry)
    assert not registry.get('mirrors')
    assert not any('tls' in config for config in registry.get('configs', {}).values())

    # Every comment survives, inline ones too, and line endings stay what they were.
    assert all(line in comment_lines(out) for line in comment_lines(text))
    inline = [line.split(' # ', 1)[1] for line in text.splitlines() if ' # ' in line and not line.lstrip().startswith('#')]
    assert all('# ' + comment in out for comment in inline)
    if '\r\n' in text:
        assert out.count('\n') == out.count('\r\n')

    # Nothing else changed: the data minus the managed keys (and the version line and CRI
    # switch that a version-less or CRI-disabled file gets) is the same.
    managed = layout.managed_keys() + [('version',), ('disabled_plugins',)]
    before = tomllib.loads(text)
    assert without(data, managed) == without(before, managed)

    # A second run changes nothing.
    again = plan(out, version)
    assert again.render() == out
    assert again.migrated == [] and again.replaced_config_path is None


@pytest.mark.parametrize('name,replaced', [
    ('eks-al2.toml', '/etc/containerd/certs.d:/etc/docker/certs.d'),
    ('crlf.toml', '/etc/containerd/certs.d:/etc/docker/certs.d'),
    ('kind.toml', None),
    ('default-1.7.toml', None),
])
def test_colon_separated_config_path_becomes_one_directory(name, replaced):
    assert plan(read(name), V1_7).replaced_config_path == replaced


def test_a_different_single_directory_is_reported_as_replaced():
    text = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/etc/docker/certs.d"\n'
    assert plan(text, V1_7).replaced_config_path == '/etc/docker/certs.d'


def test_gke_mirrors_move_to_hosts_toml_in_order_with_upstream_as_server():
    result = plan(read('gke.toml'), V1_7)
    assert result.migrated == [{
        'registry': 'docker.io', 'server': 'https://registry-1.docker.io',
        'hosts': [{'url': 'https://mirror.gcr.io', 'capabilities': ['pull', 'resolve']},
                  {'url': 'https://registry-1.docker.io', 'capabilities': ['pull', 'resolve']}]}]


def test_legacy_tls_follows_its_host_and_auth_stays_in_config():
    result = plan(read('legacy-mirrors-configs.toml'), V1_7)
    assert result.migrated == [
        {'registry': 'docker.io', 'server': 'https://registry-1.docker.io', 'hosts': [
            {'url': 'https://mirror.example.test', 'capabilities': ['pull', 'resolve'], 'skip_verify': True},
            {'url': 'https://registry-1.docker.io', 'capabilities': ['pull', 'resolve']}]},
        {'registry': 'registry.example.test:5000', 'server': 'https://registry.example.test:5000', 'hosts': [
            {'url': 'http://registry.example.test:5000', 'capabilities': ['pull', 'resolve'],
             'ca': '/etc/containerd/certs/registry-ca.pem',
             'client': [['/etc/containerd/certs/client.pem', '/etc/containerd/certs/client-key.pem']]}]},
        {'registry': 'mirror.example.test', 'server': 'https://mirror.example.test', 'hosts': [
            {'url': 'https://mirror.example.test', 'capabilities': ['pull', 'resolve'], 'skip_verify': True}]},
    ]
    configs = tomllib.loads(result.render())['plugins'][GRPC_CRI]['registry']['configs']
    auth = {'username': 'puller', 'password': 'not-a-real-secret'}
    assert configs == {'registry.example.test:5000': {'auth': auth}}


def test_wildcard_mirror_goes_to_default_and_endpoint_paths_are_kept():
    text = '''version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."*"]
  endpoint = ["mirror.internal:5000/cache", "localhost:5000"]
'''
    assert plan(text, V1_7).migrated == [{'registry': '_default', 'server': None, 'hosts': [
        {'url': 'https://mirror.internal:5000/cache', 'capabilities': ['pull', 'resolve'], 'override_path': True},
        {'url': 'http://localhost:5000', 'capabilities': ['pull', 'resolve']}]}]


def test_legacy_mirrors_containerd_could_never_use_are_dropped_with_a_warning():
    text = '''version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."*"]
  endpoint = ["https://puller:not-a-real-secret@mirror.internal", "ftp://mirror.internal"]
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."10.96.0.0/12"]
  endpoint = ["http://10.96.0.10:5000"]
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."quay.io"]
  endpoint = []
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."_default"]
  endpoint = ["http://10.0.0.1:5000"]
'''
    result = plan(text, V1_7)
    assert result.migrated == [{'registry': '_default', 'server': None, 'hosts': [
        {'url': 'https://mirror.internal', 'capabilities': ['pull', 'resolve']}]}]
    mirrors = 'plugins."io.containerd.grpc.v1.cri".registry.mirrors.'
    assert [item['key'] for item in result.dropped_mirrors] == [
        mirrors + '"*".endpoint[0]', mirrors + '"*".endpoint[1]', mirrors + '"10.96.0.0/12"',
        mirrors + '"quay.io"', mirrors + '_default']
    assert all(warning.startswith('/etc/containerd/config.toml: ' + mirrors) for warning in result.warnings)
    assert 'not-a-real-secret' not in repr(result.warnings) + repr(result.dropped_mirrors) + repr(result.migrated)
    assert 'mirrors' not in tomllib.loads(result.render())['plugins'][GRPC_CRI]['registry']


def test_a_wildcard_mirror_without_endpoints_is_dropped():
    text = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."*"]\nendpoint = []\n'
    result = plan(text, V1_7)
    assert result.migrated == [] and len(result.dropped_mirrors) == 1


def test_legacy_mirrors_without_migration_is_an_error():
    with pytest.raises(SpegelError, match='Set migrate_mirrors: true'):
        plan(read('gke.toml'), V1_7, migrate_mirrors=False)


def test_docker_containerd_io_needs_enable_cri():
    with pytest.raises(SpegelError, match=r'turns off the CRI plugin \(cri\).*Set enable_cri: true'):
        plan(read('docker-containerd-io.toml'), V1_7, enable_cri=False)
    result = plan(read('docker-containerd-io.toml'), V1_7)
    assert result.enabled_cri == ['cri']
    out = result.render()
    assert tomllib.loads(out)['disabled_plugins'] == []
    # The version line goes below the file's header comment, above the first setting.
    assert '\nversion = 2\ndisabled_plugins = []\n' in out


def test_empty_file_gets_a_minimal_file_with_the_version_that_fits():
    for version, expected in ((V1_7, 2), (V2_1, 3), (parse_containerd_version('2.3.1'), 4)):
        out = plan('', version).render()
        layout = LAYOUTS[expected]
        data = tomllib.loads(out)
        assert out.startswith('version = %d\n' % expected)
        assert data == {'version': expected, 'plugins': without(data, [('version',)])['plugins']}
        assert get(data, layout.config_path) == HOSTS_DIR and get(data, layout.discard_unpacked_layers) is False


def test_versionless_file_without_containerd_version_asks_for_it():
    with pytest.raises(SpegelError, match='Set containerd_version'):
        plan('', None)


def test_v2_file_on_containerd_2_keeps_its_layout():
    result = plan(read('eks-al2.toml'), V2_1)
    assert result.layout.version == 2
    assert CRI_IMAGES not in tomllib.loads(result.render())['plugins']


@pytest.mark.parametrize('text,message', [
    ('version = 7\n', 'version = 7 is not a containerd config layout this module knows'),
    ('version = "2"\n', "version = '2' is not a containerd config layout"),
    ('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = 5\n',
     'plugins."io.containerd.grpc.v1.cri".registry.config_path is an integer, but containerd expects a string'),
    ('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nregistry = "x"\n',
     'plugins."io.containerd.grpc.v1.cri".registry is a string, but containerd expects a table'),
    ('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\ndiscard_unpacked_layers = "no"\n',
     'discard_unpacked_layers is a string, but containerd expects a boolean'),
    ('version = 2\nplugins = 3\n', 'plugins is an integer, but containerd expects a table'),
    ('version = 2\ndisabled_plugins = "cri"\n', 'disabled_plugins is a string, but containerd expects an array'),
    ('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\nendpoint = "x"\n',
     'endpoint is a string, but containerd expects an array of strings'),
])
def test_bad_input_names_file_and_key(text, message):
    with pytest.raises(SpegelError) as error:
        plan(text, V1_7).render()
    assert message in str(error.value)
    assert str(error.value).startswith('/etc/containerd/config.toml')


def test_invalid_toml_names_the_line():
    with pytest.raises(SpegelError, match=r'config.toml is not valid TOML: .*line 4'):
        plan(read('invalid.toml'), V1_7)


def test_layout_newer_than_containerd_is_refused():
    with pytest.raises(SpegelError, match=r'version = 4 is newer than containerd 2.1.9 loads \(at most 3\)'):
        plan('version = 4\n', V2_1)


def test_use_local_image_pull_only_on_v3_and_v4():
    out = plan(read('default-2.1.toml'), V2_1, use_local_image_pull=True).render()
    assert tomllib.loads(out)['plugins'][CRI_IMAGES]['use_local_image_pull'] is True
    with pytest.raises(SpegelError, match='use_local_image_pull exists only in config version 3 and 4'):
        plan(read('eks-al2.toml'), V2_1, use_local_image_pull=True)


def test_extra_settings_set_and_remove_through_the_engine():
    bolt = ['plugins', 'io.containerd.metadata.v1.bolt', 'content_sharing_policy']
    out = plan(read('kind.toml'), V1_7, extra_settings=[
        {'key': bolt, 'value': 'isolated'},
        {'key': ['proxy_plugins', 'fuse-overlayfs'], 'state': 'absent'},
    ]).render()
    data = tomllib.loads(out)
    assert get(data, bolt) == 'isolated'
    assert data['proxy_plugins'] == {}


@pytest.mark.parametrize('setting,message', [
    ({'key': ['plugins', GRPC_CRI, 'registry', 'config_path'], 'value': '/x'}, 'which this module manages'),
    ({'key': ['plugins', GRPC_CRI], 'value': {}}, 'which this module manages'),
    ({'key': 'plugins.x', 'value': 1}, 'key must be a list of non-empty strings'),
    ({'key': ['a'], 'state': 'gone'}, 'state must be present or absent'),
    ({'key': ['a']}, 'needs a value'),
    ({'key': ['a'], 'value': 1, 'typo': 2}, 'unknown field'),
    # A mistyped field: the item's field names are shown, never its value (it may be a secret).
    ({'keys': ['configs', 'r.example', 'auth', 'password'], 'value': 'S3cret'},
     r'^extra_settings\[0\] must be a dict with a key \(a list of segments\), got a dict with the fields keys, value\.$'),
    ('S3cret', 'got a string'),
])
def test_extra_settings_refuse_bad_or_managed_keys(setting, message):
    with pytest.raises(SpegelError, match=message) as refused:
        plan(read('kind.toml'), V1_7, extra_settings=[setting])
    assert 'S3cret' not in str(refused.value)


HEADERS = ['plugins', GRPC_CRI, 'registry', 'headers']
UNREADABLE_ON_1X = [
    ({'key': HEADERS[:3] + ['x[y'], 'value': {'k': 1}}, r'\[plugins."io.containerd.grpc.v1.cri".registry."x\[y"\]'),
    ({'key': HEADERS[:3] + ['x]y'], 'value': {'k': 1}}, r'\[plugins\.\S*\."x\]y"\]'),
    ({'key': HEADERS + ['X-"Quoted"'], 'value': ['1']}, r'"X-\\"Quoted\\""'),
]


@pytest.mark.parametrize('setting, key', UNREADABLE_ON_1X)
@pytest.mark.parametrize('version', [V1_7, None])
def test_keys_containerd_1x_cannot_parse_are_refused_without_a_binary(setting, key, version):
    """containerd 1.x's go-toml v1 fails on them and containerd does not start; with no
    containerd on the node (an image bake: version None) nothing else would notice."""
    with pytest.raises(SpegelError, match='containerd 1.x cannot parse its key ' + key):
        plan('version = 2\n', version, extra_settings=[setting]).render()


@pytest.mark.parametrize('setting', [s for s, _key in UNREADABLE_ON_1X])
def test_keys_containerd_1x_cannot_parse_are_written_for_2x(setting):
    for text, version in (('version = 2\n', V2_1), ('version = 3\n', None)):
        out = tomllib.loads(plan(text, version, extra_settings=[setting]).render())
        assert get(out, setting['key']) == setting['value']


def test_a_bracket_in_a_plain_key_is_read_by_1x():
    out = plan('version = 2\n', V1_7, extra_settings=[{'key': HEADERS + ['X-[a]'], 'value': ['1']}]).render()
    assert get(tomllib.loads(out), HEADERS)['X-[a]'] == ['1']


@pytest.mark.parametrize('text,version', [
    ('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3', (1, 6, 20)),
    ('containerd github.com/containerd/containerd/v2 2.1.9+unknown ', (2, 1, 9)),
    ('containerd github.com/containerd/containerd v1.7.24 88bf19b2105c8b17560993bee28a01ddc2f97182', (1, 7, 24)),
    ('containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da', (1, 7, 27)),
    ('v2.3.1', (2, 3, 1)),
    ('1.7', (1, 7, 0)),
])
def test_containerd_version_strings(text, version):
    assert parse_containerd_version(text) == version


def test_unparsable_containerd_version_says_what_to_set():
    with pytest.raises(SpegelError, match='set containerd_version'):
        parse_containerd_version('containerd nightly')


def dropins(*names):
    base = FIXTURES / 'imports-dropin'
    return [(str(base / 'conf.d' / name), tomllib.loads((base / 'conf.d' / name).read_text()))
            for name in names]


def test_imports_resolve_against_the_file_directory():
    result = ConfigPlan(read('imports-dropin/config.toml'), '/etc/containerd/config.toml', V1_7)
    assert result.imports() == ['/etc/containerd/conf.d/*.toml']
    assert ConfigPlan(read('eks-al2.toml'), '/x/config.toml', V1_7).imports() == ['/etc/containerd/config.d/*.toml']


def test_on_1x_a_dropin_replacing_the_cri_table_is_named_and_fails():
    result = plan(read('imports-dropin/config.toml'), V1_7)
    main = ('/etc/containerd/config.toml', tomllib.loads(result.render()))
    effective, overriding = predict_effective(main, dropins('10-registry.toml', '20-keep-layers.toml'),
                                              result.layout, V1_7)
    assert [entry['file'].rsplit('/', 1)[1] for entry in overriding] == ['10-registry.toml', '20-keep-layers.toml']
    assert all(entry['effect'] == 'replaces the whole table on containerd 1.x' for entry in overriding)
    # The last drop-in's CRI table has no config_path: containerd falls back to the default.
    assert effective['config_path'].value == ''
    with pytest.raises(SpegelError, match=r'the drop-in .*20-keep-layers.toml sets plugins."io.containerd.grpc.v1.cri", '
                                          r"which replaces that whole table on containerd 1.x, so config_path is ''"):
        check_effective(effective, wanted_settings(HOSTS_DIR), main[0])


def test_on_2x_dropins_merge_and_are_reported():
    result = plan(read('imports-dropin/config.toml'), V2_1)
    main = ('/etc/containerd/config.toml', tomllib.loads(result.render()))
    effective, overriding = predict_effective(main, dropins('10-registry.toml', '20-keep-layers.toml'),
                                              result.layout, V2_1)
    assert effective['config_path'].value == HOSTS_DIR
    assert effective['discard_unpacked_layers'].value is False
    assert [(e['file'].rsplit('/', 1)[1], e['key'], e['value']) for e in overriding] == [
        ('10-registry.toml', 'plugins."io.containerd.grpc.v1.cri".registry.config_path', HOSTS_DIR),
        ('20-keep-layers.toml', 'plugins."io.containerd.grpc.v1.cri".containerd.discard_unpacked_layers', False)]
    check_effective(effective, wanted_settings(HOSTS_DIR), main[0])
    with pytest.raises(SpegelError, match="10-registry.toml sets .*config_path = '/etc/containerd/certs.d' "
                                          "overrides config_path = '/srv/hosts'"):
        check_effective(effective, wanted_settings('/srv/hosts'), main[0])


def test_on_2_3_each_file_is_migrated_before_the_merge():
    """2.3+ migrate every file on its own: a version 2 drop-in that sets discard_unpacked_layers
    without runtimes loses it (2.1 merges first, so the main file's runtimes carry it over)."""
    main = ('/etc/containerd/config.toml', tomllib.loads(read('imports-dropin/config.toml')))
    layers = dropins('10-registry.toml', '20-keep-layers.toml')
    before_2_1, _overriding = predict_effective(main, layers, LAYOUTS[2], V2_1)
    before_2_3, overriding = predict_effective(main, layers, LAYOUTS[2], V2_3)
    assert before_2_1['discard_unpacked_layers'].value is False
    assert before_2_3['discard_unpacked_layers'] == (True, main[0], 'plugins."io.containerd.grpc.v1.cri".containerd.'
                                                                    'discard_unpacked_layers')
    assert [(e['file'].rsplit('/', 1)[1], e['key']) for e in overriding] == [
        ('10-registry.toml', 'plugins."io.containerd.grpc.v1.cri".registry.config_path')]

    result = plan(read('imports-dropin/config.toml'), V2_3)
    edited = ('/etc/containerd/config.toml', tomllib.loads(result.render()))
    effective, _overriding = predict_effective(edited, layers, result.layout, V2_3)
    check_effective(effective, wanted_settings(HOSTS_DIR), edited[0])


def test_on_2_1_the_last_file_declaring_a_version_decides_the_migration():
    """2.0-2.2 migrate the merged files once, and only when the last file that declares
    version 2 or 3 says 2: a version 3 drop-in leaves the main file's version 2 tables unread."""
    v2 = {'version': 2, 'plugins': {GRPC_CRI: {'registry': {'config_path': '/a'}}}}
    v3 = {'version': 3, 'plugins': {CRI_IMAGES: {'registry': {'config_path': '/b'}}}}
    assert predict_effective(('/c.toml', v2), [('/d/a.toml', v3)], LAYOUTS[2], V2_1)[0][
        'config_path'].value == '/b'
    assert predict_effective(('/c.toml', v3), [('/d/a.toml', v2)], LAYOUTS[3], V2_1)[0][
        'config_path'] == ('/a', '/d/a.toml', 'plugins."io.containerd.grpc.v1.cri".registry.config_path')


def test_v1_file_keeps_its_layout_on_2_3_and_is_refused_on_2_1():
    with pytest.raises(SpegelError, match='containerd 2.1.9 ignores the CRI settings of a version 1 file'):
        plan(read('v1-legacy.toml'), V2_1)
    result = plan(read('v1-legacy.toml'), V2_3)
    data = tomllib.loads(result.render())
    assert 'version' not in data and data['plugins']['cri']['registry']['config_path'] == HOSTS_DIR
    effective, _overriding = predict_effective(('/c.toml', data), [], result.layout, V2_3)
    check_effective(effective, wanted_settings(HOSTS_DIR), '/c.toml')
    before, _overriding = predict_effective(('/c.toml', tomllib.loads(read('v1-legacy.toml'))), [],
                                            result.layout, V2_3)
    assert before['discard_unpacked_layers'].value is True


LEFTOVER_V2_TABLES = """version = 3
[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '/a'
[plugins.'io.containerd.grpc.v1.cri'.registry]
  config_path = '/b'
[plugins.'io.containerd.grpc.v1.cri'.containerd]
  discard_unpacked_layers = true
  [plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
"""


def settings(effective):
    return {name: effective[name].value for name in ('config_path', 'discard_unpacked_layers')}


def test_v3_file_with_leftover_v2_cri_tables():
    """2.1 ignores them; 2.3+ migrate them over the images table, so the engine refuses there."""
    data = tomllib.loads(LEFTOVER_V2_TABLES)
    assert settings(predict_effective(('/c.toml', data), [], LAYOUTS[3], V2_1)[0]) == {
        'config_path': '/a', 'discard_unpacked_layers': False}
    assert settings(predict_effective(('/c.toml', data), [], LAYOUTS[3], V2_3)[0]) == {
        'config_path': '/b', 'discard_unpacked_layers': True}
    assert tomllib.loads(plan(LEFTOVER_V2_TABLES, V2_1).render())['plugins'][CRI_IMAGES]['registry'] == {
        'config_path': HOSTS_DIR}
    with pytest.raises(SpegelError, match=r'version = 3, but it also holds plugins."io.containerd.grpc.v1.cri".registry, '
                                          r'a version 2 table that containerd 2.3.7 migrates over'):
        plan(LEFTOVER_V2_TABLES, V2_3)


@pytest.mark.parametrize('containerd,refused', [
    ('2.1.9', 'newer than containerd 2.1.9 loads'), ('2.2.9', 'newer than containerd 2.2.9 loads'),
    ('2.3.1', 'newer than the main'), ('2.3.4', 'newer than the main'),
    ('2.3.5', None), ('2.3.7', None), ('2.4.2', None),
])
def test_a_version_4_dropin_below_a_version_3_main_file(containerd, refused):
    """Checked with the real binaries (test_containerd_real.py): 2.1 and 2.2 load no version 4
    file; 2.3.0-2.3.4 refused a drop-in newer than the main file (sources), 2.3.5+ merge it."""
    main = ('/etc/containerd/config.toml', {'version': 3})
    dropin = [('/d/a.toml', {'version': 4})]
    version = parse_containerd_version(containerd)
    if refused:
        with pytest.raises(SpegelError, match=r'the drop-in /d/a.toml declares version = 4, %s' % refused):
            predict_effective(main, dropin, LAYOUTS[3], version)
    else:
        predict_effective(main, dropin, LAYOUTS[3], version)
    # A version 3 drop-in below a version 2 main file: only 2.3.0-2.3.4 refuse it.
    v3_below_v2 = (('/c.toml', {'version': 2}), [('/d/a.toml', {'version': 3})], LAYOUTS[2], version)
    if refused == 'newer than the main':
        with pytest.raises(SpegelError, match='newer than the main file'):
            predict_effective(*v3_below_v2)
    else:
        predict_effective(*v3_below_v2)


def test_dropin_disabling_cri_is_found():
    assert disabled_cri_in_dropins([('/d/a.toml', {'disabled_plugins': ['io.containerd.grpc.v1.cri']}),
                                    ('/d/b.toml', {'disabled_plugins': ['restart']})]) == [
        ('/d/a.toml', ['io.containerd.grpc.v1.cri'])]


def test_dump_settings_of_both_families():
    v2 = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/a"\n' \
         '[plugins."io.containerd.grpc.v1.cri".containerd]\ndiscard_unpacked_layers = false\n'
    assert settings_from_dump(v2, 'x') == {'config_path': '/a', 'discard_unpacked_layers': False,
                                           'cri_disabled': []}
    v3 = "version = 3\ndisabled_plugins = ['io.containerd.cri.v1.images']\n" \
         "[plugins.'io.containerd.cri.v1.images']\ndiscard_unpacked_layers = true\nuse_local_image_pull = false\n" \
         "[plugins.'io.containerd.cri.v1.images'.registry]\nconfig_path = ''\n"
    assert settings_from_dump(v3, 'x') == {'config_path': '', 'discard_unpacked_layers': True,
                                           'use_local_image_pull': False,
                                           'cri_disabled': ['io.containerd.cri.v1.images']}


def test_credentials_are_masked_for_diffs():
    text = read('legacy-mirrors-configs.toml')
    masked = redact_secrets(text, 'x')
    assert 'not-a-real-secret' not in masked and 'puller' not in masked and "'********'" in masked
    assert masked.count('\n') == text.count('\n')
    assert redact_secrets(read('kind.toml'), 'x') == read('kind.toml')


# --- did the running containerd load the files? -------------------------------------------

SECOND = 1_000_000  # microseconds
ACTIVE = {'name': 'containerd', 'active_state': 'active', 'started_us': 1_800_000_000 * SECOND}


def test_a_file_changed_after_containerd_started_is_a_pending_restart():
    changed_later = ACTIVE['started_us'] + 41 * SECOND + 200_000
    state = restart_state(ACTIVE, [('/etc/containerd/config.toml', ACTIVE['started_us'] - 5 * SECOND),
                                   ('/etc/containerd/conf.d/10.toml', changed_later)])
    assert state['restart_pending'] and not state['up_to_date']
    assert state['last_change_file'] == '/etc/containerd/conf.d/10.toml'
    assert state['detail'] == 'restart pending: /etc/containerd/conf.d/10.toml changed 41.2s after containerd started'
    assert state['started_at'] == '2027-01-15T08:00:00Z'
    assert state['last_change_at'] == '2027-01-15T08:00:41.200000Z'


def test_a_restart_after_the_last_change_is_up_to_date_to_the_microsecond():
    state = restart_state(ACTIVE, [('/etc/containerd/config.toml', ACTIVE['started_us'] - 1)])
    assert state['up_to_date'] and not state['restart_pending']
    assert state['detail'] == 'started 0.0s after the last change of /etc/containerd/config.toml'
    assert restart_state(ACTIVE, [('/etc/containerd/config.toml', ACTIVE['started_us'] + 1)])['restart_pending']


@pytest.mark.parametrize('service, changes, detail', [
    ({'name': 'containerd', 'active_state': None, 'started_us': None,
      'error': 'System has not been booted with systemd'}, [('/c.toml', 1)],
     'systemd cannot tell when containerd started: System has not been booted with systemd'),
    ({'name': 'containerd', 'active_state': 'failed', 'started_us': 5}, [('/c.toml', 9)], 'containerd is failed'),
    (ACTIVE, [], 'no config file to load'),
    (dict(ACTIVE, now_us=ACTIVE['started_us'] + 10 * SECOND), [('/c.toml', ACTIVE['started_us'] + 70 * SECOND)],
     'cannot tell: /c.toml is dated 60.0s in the future (fix its date, e.g. touch it)'),
    ({'name': 'containerd', 'active_state': 'active', 'started_us': None}, [('/c.toml', 9)],
     'containerd is active but systemd has no start time for it'),
])
def test_no_pending_restart_where_none_can_be_told(service, changes, detail):
    state = restart_state(service, changes)
    assert not state['restart_pending'] and not state['up_to_date']
    assert state['detail'] == detail


def test_a_version_2_file_with_both_registry_tables_writes_the_one_containerd_2x_keeps():
    text = ("version = 2\n[plugins.'io.containerd.grpc.v1.cri'.registry]\n  config_path = ''\n"
            "[plugins.'io.containerd.cri.v1.images'.registry.headers]\n  X-Meta = ['cloud']\n")
    result = plan(text, V2_1)
    assert tomllib.loads(result.render())['plugins'][GRPC_CRI]['registry']['config_path'] == HOSTS_DIR
    assert 'replaces plugins."io.containerd.cri.v1.images".registry' in result.warnings[0]
    assert plan(text, V1_7).warnings == []


# A version 2 file that already carries containerd 2.x's images registry table (cloud
# templates): 2.x reads that table; 1.x reads only the version 2 CRI one.
MIXED_V2_TEMPLATES = {
    'headers-only': "version = 2\n[plugins.'io.containerd.grpc.v1.cri']\n  sandbox_image = 'registry.k8s.io/pause:3.9'\n"
                    "[plugins.'io.containerd.cri.v1.images'.registry.headers]\n  X-Meta = ['cloud']\n",
    'config-path-and-headers': "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.runc]\n"
                               "  runtime_type = 'io.containerd.runc.v2'\n"
                               "[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/etc/docker/certs.d'\n"
                               "[plugins.'io.containerd.cri.v1.images'.registry.headers]\n  X-Meta = ['cloud']\n",
}


def test_a_version_2_file_with_the_2x_registry_table_needs_the_containerd_version():
    with pytest.raises(SpegelError, match='Set containerd_version'):
        ConfigPlan(MIXED_V2_TEMPLATES['headers-only'], 'config.toml', None).apply(hosts_dir=HOSTS_DIR)
