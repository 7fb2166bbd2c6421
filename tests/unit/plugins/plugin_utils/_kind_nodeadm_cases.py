# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The nodes, AL2023 fixtures and nodeadm's merge the nodeadm adapter's tests (tests/unit and
tests/real) share."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import yaml

from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_nodeadm import (
    NODEADM_DIR, NODEADM_RUN_UNIT, NodeadmKind,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node import NodeState

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import harness  # noqa: E402


KIND = NodeadmKind()
FIXTURES = Path(__file__).resolve().parents[3] / 'fixtures'
CONTAINERD_FIXTURES = harness.FIXTURES_DIR
AL2023_CONTAINERD2 = CONTAINERD_FIXTURES / 'eks-al2023-containerd2.toml'
AL2023_CONTAINERD1 = CONTAINERD_FIXTURES / 'eks-al2023.toml'
RUN_UNIT = FIXTURES / 'nodeadm' / 'nodeadm-run.service'
CONFIG = '/etc/containerd/config.toml'


def node(files, globs=None):
    """A NodeState as node_files returns it for these {path: text}; absent paths do not exist."""
    wanted, _globs = KIND.reads(None)
    info = {path: {'exists': False} for path in wanted}
    for path, text in files.items():
        info[path] = {'exists': True, 'content_b64': base64.b64encode(text.encode()).decode()}
    return NodeState({'files': info, 'globs': globs or {NODEADM_DIR + '/*': sorted(files)}})


def al2023(config=AL2023_CONTAINERD2, **extra):
    return {NODEADM_RUN_UNIT: RUN_UNIT.read_text(), CONFIG: config.read_text(), **extra}


def dropin_toml(text):
    return yaml.safe_load(text)['spec']['containerd']['config']


# --- nodeadm's merge, reproduced --------------------------------------------------------------

def nodeadm_merge(dst, src):
    """util.Merge(template, spec.containerd.config): both unmarshalled into maps, then mergo.Merge
    WithOverride: maps merge key by key, any other value of src replaces dst's (false and 0
    too), except that an empty src list or table leaves dst's alone."""
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            nodeadm_merge(dst[key], value)
        elif isinstance(value, (dict, list)) and not value and key in dst:
            continue
        else:
            dst[key] = value
    return dst
