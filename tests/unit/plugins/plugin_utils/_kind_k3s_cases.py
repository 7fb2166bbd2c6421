# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The nodes and fixtures of the k3s and rke2 adapter's tests (tests/unit and tests/real)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from ansible_collections.peerpull.spegel.plugins.plugin_utils._node import NodeState


FIXTURES = Path(__file__).resolve().parents[3] / 'fixtures' / 'k3s'
K3S_REGISTRIES = '/etc/rancher/k3s/registries.yaml'
K3S_DROPIN = '/etc/rancher/k3s/config.yaml.d/spegel.yaml'
SERVER_UNIT = '/etc/systemd/system/multi-user.target.wants/%s.service'


def fixture(name):
    return (FIXTURES / name).read_text()


def node(kind, files=None, units=(), dropins=()):
    """The NodeState node_files returns for the kind's reads: files {path: text}, the units
    enabled, the drop-ins present (paths, also given in files)."""
    files = dict(files or {})
    paths, globs = kind.reads(None)
    result = {'files': {path: {'exists': False} for path in paths}, 'globs': {pattern: [] for pattern in globs}}
    for path, text in files.items():
        data = text.encode()
        result['files'][path] = {'exists': True, 'content_b64': base64.b64encode(data).decode(),
                                 'checksum': hashlib.sha1(data).hexdigest(), 'mode': '0600'}
    for pattern in globs:
        if pattern.endswith('*.yaml'):
            result['globs'][pattern] = sorted(path for path in dropins if path.endswith('.yaml'))
        for unit in units:
            if pattern.endswith('/%s.service' % unit):
                result['globs'][pattern] = [SERVER_UNIT % unit]
    return NodeState(result)


def applied(kind, state, plan, units):
    """The node after the plan's changes, read again."""
    files = {path: item.text for path, item in state.files.items() if item.exists}
    for change in plan.changes:
        if change.after is None:
            files.pop(change.path, None)
        else:
            files[change.path] = change.after
    dropins = [path for path in files if '/config.yaml.d/' in path]
    return node(kind, files, units, dropins)


def changed(plan):
    return {change.path: change for change in plan.changes}
