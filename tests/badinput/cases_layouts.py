# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input: real-world config.toml layouts, legacy mirrors containerd could never use, and
files too large to read (README "Bad input")."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

from harness import Case

# tests/containerd/harness.py (real containerd's dumps); its name is taken by this suite's harness.
_SPEC = importlib.util.spec_from_file_location(
    'containerd_harness', Path(__file__).resolve().parents[1] / 'containerd' / 'harness.py')
containerd_harness = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(containerd_harness)

CONFIG = 'config.toml'
ORIGINAL = 'config.toml.peerpull-orig'
GRPC_CRI = 'io.containerd.grpc.v1.cri'
CRI_IMAGES = 'io.containerd.cri.v1.images'
LEGACY_MIRRORS = 'plugins."io.containerd.grpc.v1.cri".registry.mirrors.'
TOO_LARGE = 5 * 1024 * 1024  # above node_files' 4 MiB
LIMIT = '4 MiB'


def config_args(**extra):
    return {'path': '{dir}/config.toml', 'hosts_dir': '{dir}/certs.d', **extra}


# A version 2 file that already carries containerd 2.x's images registry table, as some
# cloud templates ship it.
V2_WITH_2X_HEADERS = """version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.images".registry.headers]
  X-Meta-Source = ["cloud-template"]
"""
V2_WITH_2X_CONFIG_PATH = """version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"

[plugins."io.containerd.cri.v1.images".registry]
  config_path = "/etc/docker/certs.d"

[plugins."io.containerd.cri.v1.images".registry.headers]
  X-Meta-Source = ["cloud-template"]
"""


def only_config_path_changed(directory: Path, bin_dir: str) -> tuple[dict, dict]:
    """containerd's own dumps of the original and the new file: equal but for config_path."""
    binary = Path(bin_dir) / 'containerd'
    before = containerd_harness.config_dump(binary, directory / ORIGINAL)
    after = containerd_harness.config_dump(binary, directory / CONFIG)
    path = containerd_harness.registry_setting_paths(after)['config_path']
    assert containerd_harness.effective_registry_settings(after)['config_path'] == str(directory / 'certs.d')
    ignored = [key for key in (('imports',), path) if _has(before, key)]
    assert containerd_harness.dump_without(before, ignored) == \
        containerd_harness.dump_without(after, [key for key in (('imports',), path) if _has(after, key)])
    return before, after


def _has(tree: dict, key: tuple) -> bool:
    for segment in key:
        if not isinstance(tree, dict) or segment not in tree:
            return False
        tree = tree[segment]
    return True


def headers_stay_effective(directory: Path, result: dict, bin_dir: str | None) -> None:
    assert bin_dir
    _before, after = only_config_path_changed(directory, bin_dir)
    assert after['plugins'][CRI_IMAGES]['registry']['headers'] == {'X-Meta-Source': ['cloud-template']}
    written = tomllib.loads((directory / CONFIG).read_text())
    assert 'registry' not in written['plugins'][GRPC_CRI], 'a version 2 registry table would replace the 2.x one'
    assert result['config_path'] == str(directory / 'certs.d')


def version_1x_warned(directory: Path, result: dict, bin_dir: str | None) -> None:
    assert bin_dir
    only_config_path_changed(directory, bin_dir)
    assert any('ignores plugins."io.containerd.cri.v1.images".registry' in w for w in result.get('warnings', []))


def mixed_layout_case(family: str) -> Case:
    return Case(
        id=f'lay-v2-file-with-2x-registry-headers-{family}', module='peerpull.spegel.containerd_config',
        args=config_args(), expect='changed', files={CONFIG: V2_WITH_2X_HEADERS}, written=(CONFIG, ORIGINAL),
        containerd=family, judge=headers_stay_effective,
        why='a cloud template says version = 2 but ships registry.headers in the containerd 2.x table')


def pad_to_too_large(relative: str, head: str = 'version = 2\n'):
    def prepare(directory: Path) -> None:
        line = '# ' + 'x' * 97 + '\n'
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text(head + line * (TOO_LARGE // len(line) + 1))
    return prepare


def config_importing_too_large_dropin(directory: Path) -> None:
    (directory / CONFIG).write_text(f'version = 2\nimports = ["{directory}/conf.d/*.toml"]\n')
    pad_to_too_large('conf.d/big.toml')(directory)


def dropped(*keys: str):
    def judge(directory: Path, result: dict, _bin_dir: str | None) -> None:
        assert [item['key'] for item in result['dropped_mirrors']] == [LEGACY_MIRRORS + key for key in keys]
        for key in keys:
            assert any(str(directory / CONFIG) in w and LEGACY_MIRRORS + key in w for w in result['warnings'])
        assert 'registries' not in ' '.join(result['warnings'])
        assert 'mirrors' not in tomllib.loads((directory / CONFIG).read_text())['plugins'][GRPC_CRI]['registry']
    return judge


def legacy(*mirrors: tuple[str, str]) -> str:
    text = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors]\n'
    for key, endpoints in mirrors:
        text += f'  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{key}"]\n    endpoint = {endpoints}\n'
    return text


def default_hosts_file_lists(url: str):
    def judge(directory: Path, result: dict, _bin_dir: str | None) -> None:
        hosts = tomllib.loads((directory / 'certs.d/_default/hosts.toml').read_text())
        assert list(hosts['host']) == [url] and 'server' not in hosts
        assert result['migrated_registries'][0]['registry'] == '_default'
    return judge


def refused_large(name: str):
    return (f'{{dir}}/{name} cannot be read on the node', 'bytes, above the 4 MiB', 'nothing was changed')


CASES = [
    mixed_layout_case('2.1'),
    mixed_layout_case('2.2'),
    mixed_layout_case('2.4'),
    Case(id='lay-v2-file-with-2x-config-path-2.4', module='peerpull.spegel.containerd_config', args=config_args(),
         expect='changed', files={CONFIG: V2_WITH_2X_CONFIG_PATH}, written=(CONFIG, ORIGINAL), containerd='2.4',
         judge=headers_stay_effective,
         why='the template already points config_path elsewhere in the 2.x table; the 2.x table is the one to fix'),
    Case(id='lay-v2-file-with-2x-registry-headers-1.7', module='peerpull.spegel.containerd_config',
         args=config_args(), expect='changed', files={CONFIG: V2_WITH_2X_HEADERS}, written=(CONFIG, ORIGINAL),
         containerd='1.7', judge=version_1x_warned,
         why='the same template on a containerd 1.x node, which ignores the 2.x table'),
    Case(id='lay-v2-file-with-2x-registry-unknown-containerd', module='peerpull.spegel.containerd_config',
         args=config_args(), expect='refused', files={CONFIG: V2_WITH_2X_HEADERS},
         message=('{dir}/config.toml', 'plugins."io.containerd.cri.v1.images".registry', 'Set containerd_version'),
         why='the table to write depends on the containerd version, and none is installed'),

    Case(id='lay-legacy-mirror-wildcard', module='peerpull.spegel.containerd_config', args=config_args(),
         expect='changed', files={CONFIG: legacy(('*', '["http://10.0.0.9:5000"]'))}, containerd='1.7',
         written=(CONFIG, ORIGINAL, 'certs.d', 'certs.d/_default', 'certs.d/_default/hosts.toml'),
         judge=default_hosts_file_lists('http://10.0.0.9:5000'),
         why='`*` means every registry: it is hosts.toml\'s _default'),
    Case(id='lay-legacy-mirror-cidr-key', module='peerpull.spegel.containerd_config', args=config_args(),
         expect='changed', containerd='1.7',
         files={CONFIG: legacy(('10.96.0.0/12', '["http://10.96.0.10:5000"]'), ('*', '["http://10.0.0.9:5000"]'))},
         written=(CONFIG, ORIGINAL, 'certs.d', 'certs.d/_default', 'certs.d/_default/hosts.toml'),
         judge=dropped('"10.96.0.0/12"'),
         why='a tool wrote a service CIDR as a mirror key; containerd never matched it'),
    Case(id='lay-legacy-mirror-empty-endpoints', module='peerpull.spegel.containerd_config', args=config_args(),
         expect='changed', containerd='2.1', files={CONFIG: legacy(('quay.io', '[]'), ('*', '[]'))},
         written=(CONFIG, ORIGINAL), judge=dropped('"quay.io"', '"*"'),
         why='mirrors with an empty endpoint list changed nothing; the node must not fail for them'),
    Case(id='lay-legacy-mirror-bad-endpoint', module='peerpull.spegel.containerd_config', args=config_args(),
         expect='changed', containerd='1.7', files={CONFIG: legacy(('docker.io', '["ftp://mirror.example", ""]'))},
         written=(CONFIG, ORIGINAL), judge=dropped('"docker.io".endpoint[0]', '"docker.io".endpoint[1]', '"docker.io"'),
         why='endpoints containerd could never reach'),

    Case(id='lay-config-too-large', module='peerpull.spegel.containerd_config', args=config_args(),
         expect='refused', files={}, prepare=pad_to_too_large(CONFIG), containerd='2.1',
         message=refused_large(CONFIG),
         why='a 50 MB config.toml cost about 850 MB of controller memory per fork'),
    Case(id='lay-dropin-too-large', module='peerpull.spegel.containerd_config', args=config_args(),
         expect='refused', prepare=config_importing_too_large_dropin, containerd='1.7', message=refused_large('conf.d/big.toml'),
         why='a drop-in someone filled with generated content'),
    Case(id='lay-toml-file-too-large', module='peerpull.spegel.toml_file',
         args={'path': '{dir}/config.toml', 'key': ['version'], 'value': 2}, expect='refused', files={},
         prepare=pad_to_too_large(CONFIG), message=refused_large(CONFIG),
         why='toml_file pointed at a huge file by mistake'),
    Case(id='lay-hosts-toml-too-large', module='peerpull.spegel.containerd_hosts',
         args={'hosts_dir': '{dir}/certs.d', 'registries': ['docker.io'], 'mirrors': ['http://10.0.0.5:30020'],
               'containerd_version': '2.1.5'},
         expect='refused', files={}, prepare=pad_to_too_large('certs.d/docker.io/hosts.toml', head=''),
         message=refused_large('certs.d/docker.io/hosts.toml'),
         why='a hosts.toml grown by a runaway script'),
]
