# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input: k3s and rke2 nodes through node_config (README "Bad input"): registries.yaml
shapes that cannot be edited safely, a drop-in that undoes ours, options the embedded Spegel
cannot carry, credentials that must stay out of every output. The adapter's files sit under
the case's directory (kind option config_dir); k3s's own loader judges what was written
(tests/sources/gomod.py k3s-registries)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from harness import Case, Fifo, File

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'sources'))
import gomod  # noqa: E402  pylint: disable=wrong-import-position

MODULE = 'peerpull.spegel.node_config'
REGISTRIES = 'registries.yaml'
DROPIN = 'config.yaml.d/spegel.yaml'
PASSWORD = 'k3s-badinput-password-value'
TOKEN = 'k3s-badinput-identity-token'
WITH_CREDENTIALS = """# ours: the pull-through cache and its credentials
mirrors:
  docker.io:
    endpoint:
      - "https://cache.example.com:5000"
configs:
  "cache.example.com:5000":
    auth:
      username: puller
      password: %s   # rotated monthly
      identity_token: |
        %s
""" % (PASSWORD, TOKEN)


def args(kind='k3s', role='server', **extra):
    return {'kind': kind, 'kind_options': {'role': role, 'config_dir': '{dir}'}, 'registries': ['docker.io'], **extra}


def k3s_loads(directory: Path) -> dict:
    """registries.yaml as k3s's agent loads it (wharfie's GetPrivateRegistries)."""
    binary = gomod.build('k3s-registries') / 'k3s-registries'
    out = subprocess.run([str(binary), str(directory / REGISTRIES)], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return json.loads(out)


def kept_credentials_added_ghcr(directory: Path, result: dict, _bin_dir) -> None:
    loaded = k3s_loads(directory)
    assert set(loaded['mirrors']) == {'docker.io', 'ghcr.io'}
    assert loaded['mirrors']['docker.io']['endpoint'] == ['https://cache.example.com:5000']
    assert loaded['configs']['cache.example.com:5000']['auth']['password'] == PASSWORD
    lines = (directory / REGISTRIES).read_text().splitlines()
    assert [line for line in lines if line != '  "ghcr.io":'] == WITH_CREDENTIALS.splitlines()
    assert result['services'] == ['k3s-agent'] and result['restart_required']


def wildcard_quoted(directory: Path, result: dict, _bin_dir) -> None:
    assert set(k3s_loads(directory)['mirrors']) == {'*'}
    assert yaml.safe_load((directory / DROPIN).read_text()) == {'embedded-registry': True}
    assert result['services'] == ['rke2-server']


def dropin_removed(directory: Path, result: dict, _bin_dir) -> None:
    assert not (directory / DROPIN).exists() and result['files'] == [str(directory / DROPIN)]


def credentials_kept_ghcr_removed(directory: Path, result: dict, _bin_dir) -> None:
    assert (directory / REGISTRIES).read_text() == WITH_CREDENTIALS
    assert set(k3s_loads(directory)['mirrors']) == {'docker.io'}
    assert result['facts']['mirrors_removed'] == ['ghcr.io'] and result['services'] == ['k3s-agent']


CASES = [
    Case('k3s-mirrors-flow-style', MODULE, args(registries=['ghcr.io']), 'refused',
         files={REGISTRIES: 'mirrors: {docker.io: {endpoint: ["https://m.example.com"]}}\n'},
         message=('{dir}/registries.yaml: mirrors is written on one line', 'write it as a block'),
         why='a registries.yaml written by a tool in flow style cannot take new entries by a text edit'),
    Case('k3s-registries-tab-indent', MODULE, args(registries=['ghcr.io']), 'refused',
         files={REGISTRIES: 'mirrors:\n\tdocker.io:\n'},
         message=('{dir}/registries.yaml is not YAML that can be read here',),
         why='a tab indents YAML: k3s itself refuses the file'),
    Case('k3s-registries-is-a-list', MODULE, args(), 'refused',
         files={REGISTRIES: '- docker.io\n- ghcr.io\n'},
         message=('{dir}/registries.yaml: k3s and rke2 read this file as a mapping', 'it holds a list'),
         why='a list of registries where k3s expects mirrors: and configs:'),
    Case('k3s-mirrors-is-a-list', MODULE, args(), 'refused',
         files={REGISTRIES: 'mirrors:\n  - docker.io\n'},
         message=('{dir}/registries.yaml: mirrors is a list; it must be a mapping of registry names',),
         why='mirrors written as a list, as some docker daemon.json habits have it'),
    Case('k3s-mirrors-anchor', MODULE, args(registries=['ghcr.io']), 'refused',
         files={REGISTRIES: 'mirrors: &shared\n  docker.io:\nbackup: *shared\n'},
         message=('{dir}/registries.yaml: mirrors is written on one line (&shared)',),
         why='an anchor on mirrors: an added entry would change the alias too'),
    Case('k3s-mirrors-flow-on-next-line', MODULE, args(registries=['ghcr.io']), 'refused',
         files={REGISTRIES: 'mirrors:\n  {docker.io: }\n'},
         message=('{dir}/registries.yaml: its layout cannot be edited safely here', 'add "ghcr.io" under mirrors'),
         why='a layout the text edit does not know: the read-back check stops it'),
    Case('k3s-registries-not-utf8', MODULE, args(), 'refused',
         files={REGISTRIES: b'mirrors:\n  caf\xe9.example:\n'},
         message=('registries.yaml is not UTF-8 text',),
         why='a Latin-1 file from an old editor'),
    Case('k3s-registries-fifo', MODULE, args(), 'refused', files={REGISTRIES: Fifo()},
         message=('registries.yaml cannot be read on the node: it is a FIFO',),
         why='a named pipe where registries.yaml should be must not hang the run'),
    Case('k3s-later-dropin-switches-off', MODULE, args(), 'refused',
         files={'config.yaml.d/zz-site.yaml': 'embedded-registry: false\n'},
         message=('{dir}/config.yaml.d/zz-site.yaml: embedded-registry: False is read after',
                  'remove the key there'),
         why='a site drop-in read after ours would switch the embedded Spegel off again'),
    Case('k3s-authorization-refused', MODULE, args(authorization='Basic azNzOmJhZGlucHV0LWF1dGgtaGVhZGVy'), 'refused',
         message=('authorization:', 'client certificate', 'Nothing was changed'),
         secrets=('azNzOmJhZGlucHV0LWF1dGgtaGVhZGVy',),
         why='the plain-containerd habit of an Authorization header for Spegel'),
    Case('k3s-urls-refused', MODULE, args(urls=['http://10.0.0.5:30020']), 'refused',
         message=('urls:', 'Leave mirror_urls empty'),
         why='mirror URLs of a Spegel DaemonSet on a cluster whose Spegel is embedded'),
    Case('k3s-push-refused', MODULE, args(capabilities=['pull', 'resolve', 'push']), 'refused',
         message=('capabilities:', 'read-only; remove push'), why='push is never served by Spegel'),
    Case('k3s-role-unknown', MODULE, {**args(), 'kind_options': {'config_dir': '{dir}'}}, 'refused',
         message=('kind_options.role: neither k3s nor k3s-agent is enabled', 'set kind_options.role'),
         why='no enabled unit tells server from agent (this host runs no k3s)'),
    Case('k3s-config-dir-relative', MODULE, {**args(), 'kind_options': {'role': 'server', 'config_dir': 'etc/k3s'}},
         'refused', message=('kind_options.config_dir must be an absolute path',),
         why='a relative directory would name one under the connection\'s working directory'),
    Case('k3s-agent-keeps-credentials', MODULE, args(role='agent', registries=['docker.io', 'ghcr.io']), 'changed',
         files={REGISTRIES: File(WITH_CREDENTIALS, 0o600)}, written=(REGISTRIES,),
         secrets=(PASSWORD, TOKEN), judge=kept_credentials_added_ghcr,
         why='a registries.yaml with credentials and comments: kept byte for byte, masked in the diff'),
    Case('rke2-server-wildcard', MODULE, args(kind='rke2', registries=['_default']), 'changed',
         written=(REGISTRIES, 'config.yaml.d', DROPIN), judge=wildcard_quoted,
         why='every registry: "*" must be quoted (a bare * is a YAML alias k3s refuses)'),
    Case('k3s-server-already-done', MODULE, args(), 'ok',
         files={REGISTRIES: 'mirrors:\n  docker.io:\n', DROPIN: (
             "# Written by peerpull.spegel: k3s's embedded Spegel (servers only; agents reject the flag).\n"
             'embedded-registry: true\n')},
         why='a second run changes nothing'),
    Case('k3s-agent-drops-server-dropin', MODULE, args(role='agent'), 'changed',
         files={REGISTRIES: 'mirrors:\n  docker.io:\n', DROPIN: 'embedded-registry: true\n'},
         judge=dropin_removed, why='a former server turned agent: k3s-agent would not start with the flag'),
    Case('k3s-uninstall-keeps-credentials', MODULE,
         args(role='agent', registries=['docker.io', 'ghcr.io'], state='absent'), 'changed',
         files={REGISTRIES: File(WITH_CREDENTIALS.replace('configs:', '  "ghcr.io":\nconfigs:'), 0o600)},
         written=(REGISTRIES,), secrets=(PASSWORD, TOKEN), judge=credentials_kept_ghcr_removed,
         why='uninstall: only the entry the adapter added goes; the user\'s docker.io, comments and credentials stay'),
    Case('k3s-uninstall-entry-look-alike', MODULE, args(registries=['ghcr.io'], state='absent'), 'refused',
         files={REGISTRIES: 'mirrors:\n  "ghcr.io":\n  note: |\n    "ghcr.io":\n'},
         message=('{dir}/registries.yaml: its layout cannot be edited safely here',
                  'remove "ghcr.io" under mirrors by hand'),
         why='a block scalar line that looks like an entry: the read-back check stops the text edit'),
]
