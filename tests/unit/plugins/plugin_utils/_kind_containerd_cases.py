# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_files run in this process for the plain containerd adapter's tests (tests/unit and
tests/real)."""

from __future__ import annotations

import sys
from pathlib import Path

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'modules'))
from node_files_runner import run  # noqa: E402  (tests/unit/plugins/modules, put on sys.path just above)


def node_state(capsys, adapter, spec):
    """What the action's read_for does, with node_files run in this process."""
    paths, globs = adapter.reads(spec)
    state = node.NodeState(run(capsys, read=paths, read_globs=globs, **adapter.probes(spec)))
    more_paths, more_globs = adapter.follow_up(spec, state)
    if more_paths or more_globs:
        state.merge(node.NodeState(run(capsys, read=more_paths, read_globs=more_globs)))
    return state


def write(capsys, changes):
    writes, removes = node.change_writes(changes)
    result = run(capsys, write=writes, remove=removes)
    assert 'failed' not in result, result.get('msg')
    return result
