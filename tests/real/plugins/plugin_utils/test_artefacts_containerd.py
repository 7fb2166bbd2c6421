# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The node artefacts judged the way each distribution uses them, by real containerd
(tests/containerd/binaries.py).

- Kind: the patch merged into the node image's base config as kind merges it
  (pkg/internal/patch/toml.go: TOML to JSON, RFC 7386 merge patch, skipped when its
  `version` differs from the base's), then `config dump` on every family.
- Talos: the part merged with Talos's 00-base.part and 01-registries.part by name, deep
  (internal/pkg/toml, config/merge: tables merge, arrays append), and the same parts
  imported by containerd 2.x itself; `config dump` of both.
- k0s: k0s's generated containerd.toml importing the drop-in from its containerd.d, and
  k0s's pre-flight rule for drop-ins (version 3 or none, no grpc.v1.cri table).
- cloud-init: Debian's cloud-init (trixie) validates the user data with `cloud-init schema`;
  its write_files land in a scratch root, where the boot step runs from the installed files
  alone (`--check`, the image's Python without site packages) and containerd loads the
  written config.toml.
- Bottlerocket: the hosts.toml files thar-be-registries writes from the settings
  (bottlerocket-core-kit sources/api/thar-be-registries), read by `ctr --hosts-dir` in a
  private network namespace with logging registries (test_hosts_toml_containerd's harness).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomlkit
import yaml

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import node_artefact

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)
import harness  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'sources'))
import debian  # noqa: E402  (tests/sources)

from test_hosts_toml_containerd import GHCR, MANIFEST, containerd_reads, hosts_dir  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'plugin_utils'))
from _artefacts_containerd_cases import (  # noqa: E402  (tests/unit/plugins/plugin_utils, put on sys.path just above)
    FIXTURES, KIND_BASE, bottlerocket_hosts, files, kind_patched,
)


FAMILIES_2X = [family for family in binaries.FAMILIES if family.startswith('2.')]
SPEGEL = {'config_path': '/etc/containerd/certs.d', 'discard_unpacked_layers': False}


@pytest.fixture(scope='session')
def containerd():
    return harness.containerd_binaries()


def write_toml(path, data):
    path.write_text(tomlkit.dumps(data))
    return path


@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_kind_patch_on_the_node_image_base(family, containerd, tmp_path):
    """Every containerd a Kind node image ships (1.6 to 2.3) loads the patched base with
    config_path set and layers kept; nothing else of the base changes."""
    artefact = node_artefact('kind')
    patch = files(artefact)['containerd-config-patch.toml']
    cluster = yaml.safe_load(files(artefact)['kind-cluster.yaml'])
    assert cluster['kind'] == 'Cluster' and cluster['containerdConfigPatches'] == [patch]

    base_dump = harness.config_dump(containerd[family], FIXTURES / 'kind.toml')
    assert harness.effective_registry_settings(base_dump) == {'config_path': '', 'discard_unpacked_layers': True}
    patched = write_toml(tmp_path / 'config.toml', kind_patched(KIND_BASE, [patch]))
    dump = harness.config_dump(containerd[family], patched)
    assert harness.effective_registry_settings(dump) == SPEGEL
    paths = harness.registry_setting_paths(dump)
    bolt = ('plugins', 'io.containerd.metadata.v1.bolt', 'content_sharing_policy')
    assert harness._get(dump, bolt) == 'isolated'
    ignored = [paths['config_path'], paths['discard_unpacked_layers'], bolt, ('imports',)]
    assert harness.dump_without(dump, ignored) == harness.dump_without(base_dump, ignored)


# --- Talos ------------------------------------------------------------------------------------

def talos_merge(parts):
    """internal/pkg/toml Merge: parts by name, tables merged key by key, arrays appended."""
    def merge(into, data):
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            elif isinstance(value, list) and isinstance(into.get(key), list):
                into[key] = into[key] + value
            else:
                into[key] = copy.deepcopy(value)
    merged = {}
    for name in sorted(parts):
        merge(merged, tomllib.loads(parts[name]))
    return merged


def talos_parts(customization=None):
    parts = {name: (FIXTURES / 'talos' / name).read_text() for name in ('00-base.part', '01-registries.part')}
    if customization is not None:
        parts['20-customization.part'] = customization
    return parts


TALOS = {'config_path': '/etc/cri/conf.d/hosts', 'discard_unpacked_layers': False}


@pytest.mark.parametrize('family', FAMILIES_2X)
def test_talos_part_merged_as_talos_merges_it(family, containerd, tmp_path):
    part = files(node_artefact('talos'))['20-customization.part']
    before = harness.config_dump(containerd[family], write_toml(tmp_path / 'before.toml', talos_merge(talos_parts())))
    assert harness.effective_registry_settings(before) == {'config_path': TALOS['config_path'],
                                                           'discard_unpacked_layers': True}
    dump = harness.config_dump(containerd[family], write_toml(tmp_path / 'cri.toml', talos_merge(talos_parts(part))))
    assert harness.effective_registry_settings(dump) == TALOS
    # Talos's own use_local_image_pull stays.
    assert dump['plugins']['io.containerd.cri.v1.images']['use_local_image_pull'] is True


@pytest.mark.parametrize('family', FAMILIES_2X)
def test_talos_parts_imported_by_containerd(family, containerd, tmp_path):
    """containerd 2.x merges the same parts as imports itself (a versionless part included)."""
    part = files(node_artefact('talos', use_local_image_pull=False))['20-customization.part']
    names = []
    for name, text in sorted(talos_parts(part).items()):
        (tmp_path / name).write_text(text)
        names.append(str(tmp_path / name))
    top = tmp_path / 'containerd.toml'
    top.write_text('version = 3\nimports = %s\n' % json.dumps(names))
    dump = harness.config_dump(containerd[family], top)
    assert harness.effective_registry_settings(dump) == TALOS
    assert dump['plugins']['io.containerd.cri.v1.images']['use_local_image_pull'] is False


# --- k0s --------------------------------------------------------------------------------------

def k0s_preflight(text):
    """k0s's ValidateConfigFile for a drop-in (pkg/component/worker/containerd/configurer.go)."""
    data = tomllib.loads(text)
    return data.get('version', 3) == 3 and 'io.containerd.grpc.v1.cri' not in data.get('plugins', {})


@pytest.mark.parametrize('family', FAMILIES_2X)
def test_k0s_dropin_imported_by_k0s_containerd(family, containerd, tmp_path):
    dropin = files(node_artefact('k0s'))['spegel.toml']
    assert k0s_preflight(dropin)
    assert not k0s_preflight((FIXTURES.parent / 'k0s' / 'dropin-v2.toml').read_text())  # the k0s < 1.36 form
    (tmp_path / 'containerd.d').mkdir()
    main = harness.copy_with_imports(FIXTURES.parent / 'k0s' / 'containerd.toml', tmp_path,
                                     [str(tmp_path / 'containerd.d' / '*.toml')])
    assert main.read_text().startswith('# k0s_managed=true\n')
    before = harness.config_dump(containerd[family], main)
    (tmp_path / 'containerd.d' / 'spegel.toml').write_text(dropin)
    dump = harness.config_dump(containerd[family], main)
    assert harness.effective_registry_settings(dump) == SPEGEL
    assert harness.effective_registry_settings(before)['config_path'] == ''
    images = dump['plugins']['io.containerd.cri.v1.images']
    assert images['pinned_images']['sandbox'] == 'quay.io/k0sproject/pause:3.10.2-0'


@pytest.mark.parametrize('family', binaries.FAMILIES)
@pytest.mark.parametrize('node_ip, hosts', [('198.18.0.5', ['198.18.0.5:30020', '198.18.0.5:30021']),
                                            ('fd00:5e6e:9::5', ['[fd00:5e6e:9::5]:30020', '[fd00:5e6e:9::5]:30021'])])
def test_bottlerocket_hosts_read_by_containerd(family, node_ip, hosts, ctr, tmp_path):
    """containerd tries Spegel's ports first, for a named registry and for every other one;
    containerd 1.x cannot read the IPv6 table header, which the filter refuses for 1.x."""
    settings = files(node_artefact('bottlerocket', node_ip=node_ip, registries=['_default', 'docker.io'],
                                   ports=[30020, 30021]))['user-data.toml']
    root = hosts_dir(tmp_path / 'certs.d', bottlerocket_hosts(settings))
    docker_io, other = containerd_reads([(ctr[family], root, 'docker.io/library/busybox:latest'),
                                         (ctr[family], root, 'ghcr.io/spegel-org/spegel:v0.3.0')])
    if family.startswith('1.') and ':' in node_ip:
        assert docker_io['requests'] == [] and 'failed to decode hosts.toml' in docker_io['stderr']
        return
    assert docker_io['requests'] == [[host, MANIFEST, None] for host in hosts]
    assert other['requests'] == [[host, GHCR, None] for host in hosts]


# --- cloud-init -------------------------------------------------------------------------------

# Debian's cloud-init and the modules its `schema` command imports that the test venv lacks
# (the venv has PyYAML, jsonschema and Jinja2); all pure Python.
CLOUD_INIT_DEBS = ('cloud-init', 'python3-requests', 'python3-urllib3', 'python3-idna', 'python3-certifi',
                   'python3-charset-normalizer', 'python3-configobj', 'python3-jsonpatch', 'python3-json-pointer')


@pytest.fixture(scope='session')
def cloud_init_schema():
    """argv prefix of `cloud-init schema` from Debian trixie's cloud-init, unpacked once into the
    cache (remove the directory to take newer packages)."""
    root = debian.cache_root() / 'cloud-init' / 'trixie'
    with debian.locked(root.parent):
        if not (root / '.complete').exists():
            debs = [debian.download(package, 'trixie') for package in CLOUD_INIT_DEBS]
            for deb in debs:
                subprocess.run(['dpkg-deb', '--extract', str(deb), str(root)], check=True, timeout=300)
            (root / '.complete').write_text('\n'.join(deb.name for deb in debs) + '\n')
    env = dict(os.environ, PYTHONPATH=str(root / 'usr' / 'lib' / 'python3' / 'dist-packages'))
    return [sys.executable, str(root / 'usr' / 'bin' / 'cloud-init'), 'schema', '--config-file'], env


def test_cloud_init_schema_refuses_a_broken_document(cloud_init_schema, tmp_path):
    argv, env = cloud_init_schema
    (tmp_path / 'bad.yaml').write_text('#cloud-config\nwrite_files:\n  - path: /x\n    mode: 644\n')
    result = subprocess.run(argv + [str(tmp_path / 'bad.yaml')], env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 1 and "'mode' was unexpected" in result.stdout + result.stderr


@pytest.mark.parametrize('fixture, family', [('eks-al2.toml', '1.7'), ('default-2.1.toml', '2.1'),
                                             ('eks-al2023-containerd2.toml', '2.2'), (None, '2.4')])
def test_cloud_init_user_data(fixture, family, cloud_init_schema, containerd, tmp_path):
    argv, env = cloud_init_schema
    image = '' if fixture is None else (FIXTURES / fixture).read_text()
    version = binaries.binary(family).version
    artefact = node_artefact('cloud-init', containerd_config=image, containerd_version=version)
    user_data = tmp_path / 'user-data.yaml'
    user_data.write_text(files(artefact)['user-data.yaml'])
    checked = subprocess.run(argv + [str(user_data)], env=env, capture_output=True, text=True, timeout=120,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert 'Valid schema' in checked.stdout

    root = tmp_path / 'root'
    for entry in yaml.safe_load(user_data.read_text())['write_files']:
        target = root / entry['path'].lstrip('/')
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(entry['content']))
    settings = root / 'etc' / 'peerpull-spegel' / 'bake.json'
    step = subprocess.run(
        ['/usr/bin/python3', '-S', '-m', 'ansible_collections.peerpull.spegel.plugins.plugin_utils._boot_hosts',
         '--check', str(settings)],
        env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(root / 'usr' / 'local' / 'lib' / 'peerpull-spegel')},
        capture_output=True, text=True, timeout=60, check=False)
    assert step.returncode == 0, step.stderr
    assert 'boot step ready' in step.stdout + step.stderr

    dump = harness.config_dump(containerd[family], root / 'etc' / 'containerd' / 'config.toml')
    assert harness.effective_registry_settings(dump) == SPEGEL


# --- user data script --------------------------------------------------------------------------

SYSTEMCTL_LOG = 'peerpull-test-systemctl.log'
NAMESPACE_RUN = r'''set -eu
for dir in etc usr/local run; do
    mkdir -p "$T/upper/$dir" "$T/work/$dir"
    mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$T/upper/$dir,workdir=$T/work/$dir" "/$dir"
done
mkdir -p /run/systemd/system /usr/local/bin
touch /usr/local/bin/containerd
mount --bind "$CONTAINERD" /usr/local/bin/containerd
printf '#!/bin/sh\necho "$*" >> /run/%s\n' > /run/systemctl
chmod 0755 /run/systemctl
mount --bind /run/systemctl /usr/bin/systemctl
rm -f /run/%s
exec env -i /bin/sh "$SCRIPT"
''' % (SYSTEMCTL_LOG, SYSTEMCTL_LOG)


def run_script(script, containerd_binary, root):
    """Run the user data script as root in a private mount namespace, as at a first boot: /etc,
    /usr/local and /run are overlays whose changes land in root/upper (kept between runs), the
    node's containerd is a real binary at /usr/local/bin/containerd, and systemctl is a stand-in
    that records its arguments (no systemd here: the molecule scenario userdata runs the
    script under the real one). Returns the result and the systemctl calls."""
    path = root / 'user-data.sh'
    path.write_text(script)
    path.chmod(0o755)
    done = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', NAMESPACE_RUN],
                          env={'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'T': str(root), 'SCRIPT': str(path),
                               'CONTAINERD': str(containerd_binary)},
                          capture_output=True, text=True, timeout=120, check=False)
    log = root / 'upper' / 'run' / SYSTEMCTL_LOG
    return done, log.read_text().splitlines() if log.exists() else []


def upper_files(root):
    """{path on the node: bytes} of every file a run wrote."""
    files = {}
    for directory in ('etc', 'usr/local'):
        base = root / 'upper' / directory
        for path in sorted(base.rglob('*')):
            if path.is_file() and path.name != 'containerd':
                files['/%s/%s' % (directory, path.relative_to(base))] = path.read_bytes()
    return files


def script_of(**options):
    return files(node_artefact('user-data-script', **options))['user-data.sh']


NEWEST_LAYOUT = {'1.6': 2, '1.7': 2, '2.1': 3, '2.2': 3, '2.3': 4, '2.4': 4}


@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_user_data_script_on_a_node_without_config(family, containerd, tmp_path):
    """One script for every containerd: each takes its own layout, and the boot step's files
    are byte for byte cloud-init's."""
    script = script_of(containerd_config='', node_ip='198.18.0.5')
    done, calls = run_script(script, containerd[family], tmp_path)
    assert done.returncode == 0, done.stderr
    first = upper_files(tmp_path)
    written = dict(first)
    config = written.pop('/etc/containerd/config.toml')
    assert tomllib.loads(config.decode())['version'] == NEWEST_LAYOUT[family]
    dump = harness.config_dump(containerd[family], tmp_path / 'upper' / 'etc' / 'containerd' / 'config.toml')
    assert harness.effective_registry_settings(dump) == SPEGEL
    cloud_init = yaml.safe_load(files(node_artefact(
        'cloud-init', containerd_config='', node_ip='198.18.0.5',
        containerd_version=binaries.binary(family).version))['user-data.yaml'])
    expected = {entry['path']: base64.b64decode(entry['content']) for entry in cloud_init['write_files']}
    assert expected.pop('/etc/containerd/config.toml') == config
    # cloud-init was told the containerd; the script finds it on the node.
    settings = json.loads(expected.pop('/etc/peerpull-spegel/bake.json'))
    assert json.loads(written.pop('/etc/peerpull-spegel/bake.json')) == dict(settings, containerd_version='')
    assert written == expected
    assert calls == ['daemon-reload', 'enable peerpull-spegel-hosts.service', 'restart peerpull-spegel-hosts.service',
                     'try-restart containerd.service']
    step = subprocess.run(
        ['/usr/bin/python3', '-S', '-B', '-m', 'ansible_collections.peerpull.spegel.plugins.plugin_utils._boot_hosts',
         '--check', str(tmp_path / 'upper' / 'etc' / 'peerpull-spegel' / 'bake.json')],
        env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(tmp_path / 'upper' / 'usr' / 'local' / 'lib' / 'peerpull-spegel')},
        capture_output=True, text=True, timeout=60, check=False)
    assert step.returncode == 0 and 'boot step ready' in step.stdout + step.stderr, step.stderr

    again, calls = run_script(script, containerd[family], tmp_path)
    assert again.returncode == 0, again.stderr
    assert 'changed: nothing' in again.stderr
    assert upper_files(tmp_path) == first
    assert 'try-restart containerd.service' not in calls


@pytest.mark.parametrize('fixture, family, newline', [
    ('default-1.7.toml', '1.7', True), ('eks-al2.toml', '1.7', True), ('default-2.1.toml', '2.4', True),
    ('v3-2.x.toml', '2.1', True), ('default-2.1.toml', '2.2', False), ('single-quoted-keys.toml', '1.7', False)])
def test_user_data_script_on_an_images_config(fixture, family, newline, containerd, tmp_path):
    """The image's file changed as cloud-init writes it, byte for byte (a file without a final
    newline too), and loaded by the node's containerd."""
    image = (FIXTURES / fixture).read_text()
    image = image if newline else image.rstrip('\n')
    config = tmp_path / 'upper' / 'etc' / 'containerd' / 'config.toml'
    config.parent.mkdir(parents=True)
    config.write_text(image)
    done, _calls = run_script(script_of(containerd_config=image), containerd[family], tmp_path)
    assert done.returncode == 0, done.stderr
    cloud_init = yaml.safe_load(files(node_artefact('cloud-init', containerd_config=image, containerd_version=(
        binaries.binary(family).version)))['user-data.yaml'])
    assert config.read_bytes() == next(base64.b64decode(entry['content']) for entry in cloud_init['write_files']
                                       if entry['path'] == '/etc/containerd/config.toml')
    assert config.read_bytes().endswith(b'\n') == newline
    dump = harness.config_dump(containerd[family], config)
    assert harness.effective_registry_settings(dump) == SPEGEL


def test_user_data_script_refuses_a_config_it_was_not_rendered_for(containerd, tmp_path):
    image = (FIXTURES / 'default-1.7.toml').read_text()
    config = tmp_path / 'upper' / 'etc' / 'containerd' / 'config.toml'
    config.parent.mkdir(parents=True)
    config.write_text(image + '# edited on the node\n')
    done, calls = run_script(script_of(containerd_config=image), containerd['1.7'], tmp_path)
    assert done.returncode == 1
    assert 'is not the file this script was rendered for' in done.stderr and 'Nothing was changed.' in done.stderr
    assert upper_files(tmp_path) == {'/etc/containerd/config.toml': (image + '# edited on the node\n').encode()}
    assert calls == []


@pytest.mark.parametrize('options, family, refusal', [
    ({'containerd_version': '2.1.9'}, '1.7', 'this script was rendered for containerd 2.1.9 only'),
    ({'use_local_image_pull': True}, '1.6', 'use_local_image_pull exists only in config version 3 and 4'),
])
def test_user_data_script_refuses_a_containerd_it_cannot_configure(options, family, refusal, containerd, tmp_path):
    script = script_of(containerd_config='', **options)
    done, calls = run_script(script, containerd[family], tmp_path)
    assert done.returncode == 1 and refusal in done.stderr, done.stderr
    assert upper_files(tmp_path) == {} and calls == []
    assert run_script(script, containerd['2.2'], tmp_path)[0].returncode == 0
