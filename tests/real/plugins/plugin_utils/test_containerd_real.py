# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The layout engine judged by real containerd binaries (1.6, 1.7 and 2.1 from Debian, 2.2,
2.3 and 2.4 built from the Go module proxy: tests/containerd/binaries.py).

For every fixture and every family that accepts it (fixtures.json, recorded from the same
binaries): containerd's own `config dump` of the engine's output has the Spegel settings,
every other effective setting is what it was, and the engine's prediction of the effective
settings (what the module reports without a containerd binary, and the basis of its
drop-in checks) matches containerd's dump, before and after.
"""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_effective import (
    check_effective, predict_effective, settings_from_dump, wanted_settings,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    CRI_IMAGES, CRI_PLUGINS, GRPC_CRI, LAYOUTS, parse_containerd_version, resolve_imports,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_plan import ConfigPlan

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import harness  # noqa: E402  (tests/containerd, put on sys.path just above)

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'plugin_utils'))
from test_containerd import (  # noqa: E402  (the engine's unit tests: their cases)
    LEFTOVER_V2_TABLES, MIXED_V2_TEMPLATES, OUTCOMES, outcome_for,
)

HOSTS_DIR = '/etc/containerd/certs.d'
WANTED = {'config_path': HOSTS_DIR, 'discard_unpacked_layers': False}
MANIFEST = harness.fixture_manifest()['fixtures']
CASES = [(name, family) for name, entry in MANIFEST.items() for family in entry['accepted_by']
         if name in OUTCOMES or name == 'imports-dropin/config.toml']


@pytest.fixture(scope='session')
def binaries():
    return harness.containerd_binaries()


def version_of(binary):
    output = subprocess.run([str(binary), '--version'], capture_output=True, text=True, check=True).stdout
    return parse_containerd_version(output)


def stage(name, directory):
    """The fixture (with its drop-ins, for the imports fixture) copied into directory."""
    source = harness.FIXTURES_DIR / name
    if name.startswith('imports-dropin/'):
        shutil.copytree(source.parent / 'conf.d', directory / 'conf.d')
    target = directory / 'config.toml'
    target.write_bytes(source.read_bytes())
    return target


def read_dropins(config):
    patterns = resolve_imports(tomllib.loads(config.read_bytes().decode()), str(config))
    return [(str(path), tomllib.loads(path.read_text()))
            for pattern in patterns for path in sorted(Path('/').glob(pattern.lstrip('/')))]


def predicted(config, version):
    data = tomllib.loads(config.read_bytes().decode())
    layout = LAYOUTS[data.get('version', 1)]
    effective, _overriding = predict_effective((str(config), data), read_dropins(config), layout, version)
    return {name: effective[name].value for name in WANTED}


def dump_paths_to_ignore(dump, result):
    """What may legitimately differ between the dumps of input and output."""
    paths = harness.registry_setting_paths(dump)
    registry = paths['config_path'][:-1]
    ignored = [('imports',), paths['config_path'], paths['discard_unpacked_layers']]
    if result.migrated:
        # Legacy mirrors and TLS settings now live in hosts.toml files.
        ignored += [registry + ('mirrors',), registry + ('configs',)]
    if result.enabled_cri:
        # containerd prints no table for a disabled plugin. Broad paths last: dump_without
        # removes in order.
        ignored += [('disabled_plugins',)] + [('plugins', name) for name in CRI_PLUGINS]
    return ignored


def present(dump, paths):
    def has(path):
        node = dump
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True
    return [path for path in paths if has(path)]


@pytest.mark.parametrize('name,family', CASES, ids=['%s-%s' % case for case in CASES])
def test_real_containerd_accepts_the_output_with_spegel_settings(name, family, binaries, tmp_path):
    binary = binaries[family]
    version = version_of(binary)
    (tmp_path / 'in').mkdir()
    (tmp_path / 'out').mkdir()
    source = stage(name, tmp_path / 'in')
    text = source.read_bytes().decode()

    # The prediction agrees with containerd about the input (where the layout is one this
    # containerd really reads: 1.6 silently reads a version 3 file as version 2).
    expected_before = MANIFEST[name]['effective'][family]
    if expected_before is not None and not (version.major == 1 and tomllib.loads(text).get('version', 1) >= 3):
        assert predicted(source, version) == expected_before

    outcome = outcome_for(name, version)
    if name == 'imports-dropin/config.toml' and version.major == 1:
        outcome = 'the drop-in'
    try:
        result = ConfigPlan(text, str(source), version).apply(hosts_dir=HOSTS_DIR, enable_cri=True)
        out_text = result.render()
        config = stage(name, tmp_path / 'out')
        config.write_bytes(out_text.encode())
        effective, _overriding = predict_effective(
            (str(config), tomllib.loads(out_text)), read_dropins(config), result.layout, version)
        check_effective(effective, wanted_settings(HOSTS_DIR), str(config))
    except SpegelError as error:
        assert isinstance(outcome, str), 'engine refused %s for containerd %s: %s' % (name, version, error)
        assert outcome in str(error)
        return
    assert not isinstance(outcome, str), 'engine accepted %s for containerd %s' % (name, version)

    after = harness.config_dump(binary, config)
    assert harness.effective_registry_settings(after) == WANTED
    assert predicted(config, version) == WANTED
    assert all(line in out_text for line in text.splitlines() if line.strip().startswith('#'))

    before = harness.config_dump(binary, source)
    ignored = dump_paths_to_ignore(after, result)
    assert harness.dump_without(before, present(before, ignored)) == \
        harness.dump_without(after, present(after, ignored))

    # A second run changes nothing.
    assert ConfigPlan(out_text, str(config), version).apply(hosts_dir=HOSTS_DIR).render() == out_text


@pytest.mark.parametrize('family', harness.binaries.FAMILIES)
def test_dump_settings_reader_matches_the_harness(family, binaries, tmp_path):
    config = stage('eks-al2.toml', tmp_path)
    dump = subprocess.run([str(binaries[family]), '--config', str(config), 'config', 'dump'],
                          capture_output=True, text=True, check=True).stdout
    mine = settings_from_dump(dump, str(config))
    assert {name: mine[name] for name in WANTED} == harness.effective_registry_settings(tomllib.loads(dump))


# Files of different versions, as 2.x migrates and merges them (relative imports resolve
# against the main file's directory).
MIGRATIONS = {
    'leftover-v2-tables': {'config.toml': LEFTOVER_V2_TABLES},
    'v3-dropin-below-v2': {
        'config.toml': "version = 2\nimports = ['conf.d/*.toml']\n"
                       "[plugins.'io.containerd.grpc.v1.cri'.registry]\n  config_path = '/a'\n",
        'conf.d/a.toml': "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/b'\n"},
    'v2-dropin-below-v3': {
        'config.toml': "version = 3\nimports = ['conf.d/*.toml']\n[plugins.'io.containerd.cri.v1.images']\n"
                       "  discard_unpacked_layers = true\n"
                       "[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/a'\n",
        'conf.d/a.toml': "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.registry]\n  config_path = '/b'\n"},
    'v4-dropin-below-v3': {
        'config.toml': "version = 3\nimports = ['conf.d/*.toml']\n",
        'conf.d/a.toml': "version = 4\n[plugins.'io.containerd.cri.v1.images']\n  discard_unpacked_layers = true\n"},
}


@pytest.mark.parametrize('case', sorted(MIGRATIONS))
@pytest.mark.parametrize('family', [family for family in harness.binaries.FAMILIES if family.startswith('2.')])
def test_prediction_of_migrations_matches_containerd(case, family, binaries, tmp_path):
    """predict_effective refuses what containerd refuses and otherwise predicts its dump."""
    for name, text in MIGRATIONS[case].items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    config = tmp_path / 'config.toml'
    version = version_of(binaries[family])
    try:
        dump = harness.config_dump(binaries[family], config)
    except harness.ConfigDumpError:
        with pytest.raises(SpegelError, match='newer than containerd %s loads' % (version,)):
            predicted(config, version)
        return
    assert predicted(config, version) == harness.effective_registry_settings(dump)


@pytest.mark.parametrize('template', sorted(MIXED_V2_TEMPLATES))
@pytest.mark.parametrize('family', ['1.7', '2.1', '2.2', '2.4'])
def test_a_version_2_file_with_the_2x_registry_table_changes_only_config_path(template, family, binaries, tmp_path):
    binary = binaries[family]
    version = version_of(binary)
    source = tmp_path / 'in.toml'
    source.write_text(MIXED_V2_TEMPLATES[template])
    result = ConfigPlan(source.read_text(), str(source), version).apply(hosts_dir=HOSTS_DIR)
    config = tmp_path / 'out.toml'
    config.write_text(result.render())
    before, after = harness.config_dump(binary, source), harness.config_dump(binary, config)
    assert harness.effective_registry_settings(after) == WANTED
    assert predicted(config, version) == WANTED
    ignored = [('imports',), harness.registry_setting_paths(after)['config_path']]
    assert harness.dump_without(before, present(before, ignored)) == harness.dump_without(after, present(after, ignored))
    if version.major == 1:
        assert 'ignores plugins."io.containerd.cri.v1.images".registry' in result.warnings[0]
    else:
        assert 'io.containerd.grpc.v1.cri".registry' not in result.render() and not result.warnings
        assert harness.config_dump(binary, config)['plugins'][CRI_IMAGES]['registry']['headers'] == {'X-Meta': ['cloud']}


# --- values at TOML's edges, as containerd reads them -----------------------------------------

PAUSE_THRESHOLD = ['plugins', 'io.containerd.gc.v1.scheduler', 'pause_threshold']


@pytest.mark.parametrize('value, dumped', [(float('inf'), '+inf|inf'), (float('-inf'), '-inf'), (float('nan'), 'nan')])
def test_nan_and_inf_are_written_so_every_family_reads_them(value, dumped, binaries, tmp_path):
    """Valid TOML that both go-toml versions read: the engine accepts and writes them."""
    for family, binary in binaries.items():
        version = version_of(binary)
        config = tmp_path / family / 'config.toml'
        config.parent.mkdir()
        config.write_text(ConfigPlan('version = 2\n', str(config), version).apply(
            hosts_dir=HOSTS_DIR, extra_settings=[{'key': PAUSE_THRESHOLD, 'value': value}]).render())
        dump = subprocess.run([str(binary), '--config', str(config), 'config', 'dump'],
                              capture_output=True, text=True, check=True).stdout
        assert any(line.split() in (['pause_threshold', '=', d] for d in dumped.split('|'))
                   for line in dump.splitlines()), f'{family}: {dump}'


def test_the_integers_the_engine_refuses_break_containerd(binaries, tmp_path):
    """2 ** 63: containerd 1.6 and 2.x refuse the file, 1.7 reads -2 ** 63 instead."""
    with pytest.raises(SpegelError, match='outside the range of a TOML integer'):
        ConfigPlan('version = 2\n', 'config.toml', None).apply(
            hosts_dir=HOSTS_DIR, extra_settings=[{'key': ['plugins', GRPC_CRI, 'max_concurrent_downloads'],
                                                  'value': 2 ** 63}])
    config = tmp_path / 'config.toml'
    config.write_text('version = 2\n[plugins."%s"]\n  max_concurrent_downloads = %d\n' % (GRPC_CRI, 2 ** 63))
    for family, binary in binaries.items():
        try:
            dump = harness.config_dump(binary, config)
        except harness.ConfigDumpError as exc:
            assert 'out of range' in str(exc) or '64-bit' in str(exc), exc
        else:
            assert dump['plugins'][GRPC_CRI]['max_concurrent_downloads'] == -2 ** 63, family


@pytest.mark.parametrize('header', ['[plugins."%s".registry."x]y"]' % GRPC_CRI,
                                    '[plugins."%s".registry."x[y"]' % GRPC_CRI])
def test_the_keys_the_engine_refuses_for_1x_stop_containerd_1x(header, binaries, tmp_path):
    config = tmp_path / 'config.toml'
    config.write_text('version = 2\n%s\n  k = 1\n' % header)
    for family, binary in binaries.items():
        if version_of(binary).major == 1:
            with pytest.raises(harness.ConfigDumpError, match='table key cannot contain|unclosed'):
                harness.config_dump(binary, config)
