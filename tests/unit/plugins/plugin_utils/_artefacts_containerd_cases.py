# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fixtures and the distributions' merges (kind's patch, Bottlerocket's hosts.toml) the
node artefacts' tests (tests/unit and tests/real) share."""

from __future__ import annotations

import copy
import json
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit


sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import harness  # noqa: E402


FIXTURES = harness.FIXTURES_DIR


def files(artefact):
    return {item['name']: item['content'] for item in artefact['files']}


# --- Kind -------------------------------------------------------------------------------------

def merge_patch(target, patch):
    """RFC 7386, as evanphx/json-patch MergePatch applies it (TOML has no null to delete with)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        result[key] = merge_patch(result.get(key), value)
    return result


def kind_patched(base_text, patches):
    """kind's ContainerdTOML: patches whose version differs from the base's are skipped."""
    data = tomllib.loads(base_text)
    version = data.get('version', 0)
    assert version, 'kind fails on a base config without a version'
    for patch in patches:
        patch_data = tomllib.loads(patch)
        if patch_data.get('version', 0) not in (0, version):
            continue
        data = merge_patch(data, patch_data)
    return data


KIND_BASE = (FIXTURES / 'kind.toml').read_text()


# --- Bottlerocket -----------------------------------------------------------------------------

def bottlerocket_hosts(settings_text):
    """{directory: hosts.toml text} as thar-be-registries writes them: `*` -> _default without a
    server, docker.io -> registry-1.docker.io, host:port -> host_port_; endpoints sorted (a
    BTreeMap), capabilities pull and resolve, override_path for an endpoint with a path."""
    written = {}
    for mirror in tomllib.loads(settings_text)['settings']['container-registry']['mirrors']:
        registry = mirror['registry']
        if registry == '*':
            directory, server = '_default', None
        else:
            directory = registry.replace(':', '_') + '_' if ':' in registry else registry
            server = 'https://registry-1.docker.io' if registry == 'docker.io' else 'https://%s' % registry
        lines = ['server = %s\n' % json.dumps(server)] if server else []
        for endpoint in sorted(mirror['endpoint']):
            lines.append('\n[host.%s]\ncapabilities = ["pull", "resolve"]\n' % json.dumps(endpoint))
            if urlsplit(endpoint).path not in ('', '/'):
                lines.append('override_path = true\n')
        written[directory] = ''.join(lines)
    return written
