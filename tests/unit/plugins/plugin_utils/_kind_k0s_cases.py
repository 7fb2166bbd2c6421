# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The k0s node and generated containerd.toml the k0s adapter's tests (tests/unit and
tests/real) share."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k0s import K0S_DROPIN_DIR, K0S_IMPORTS, K0sKind
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node import NodeState

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import harness  # noqa: E402


KIND = K0sKind()
GENERATED = (harness.FIXTURES_DIR.parent / 'k0s' / 'containerd.toml').read_text()


def node(files):
    """A NodeState as node_files returns it for these {path: text}; absent paths do not exist."""
    wanted, _globs = KIND.reads(None)
    info = {path: {'exists': False} for path in wanted}
    for path, text in files.items():
        info[path] = {'exists': True, 'content_b64': base64.b64encode(text.encode()).decode()}
    matches = sorted(path for path in files if path.startswith(K0S_DROPIN_DIR + '/') and path.endswith('.toml'))
    return NodeState({'files': info, 'globs': {K0S_IMPORTS: matches}})
