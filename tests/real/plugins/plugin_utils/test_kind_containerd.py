# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The plain containerd adapter on every fixture, through the real node_files and the real
containerd of the newest family that reads the fixture: what it reads, the FileChanges it
returns (config.toml with restart, the restore marker byte for byte, migrated mirrors'
hosts.toml without restart), the write validated by that containerd, containerd's dump of
the result, and a second plan with nothing left to change."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    CREATED_SUFFIX, HOSTS_DIR, ORIGINAL_SUFFIX,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import Options
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_containerd import ContainerdKind

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)
import harness  # noqa: E402
from test_containerd_real import stage  # noqa: E402  (this directory)

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'plugin_utils'))
from _kind_containerd_cases import node_state, write  # noqa: E402  (tests/unit/plugins/plugin_utils, put on sys.path just above)
from test_containerd import outcome_for  # noqa: E402

MANIFEST = harness.fixture_manifest()['fixtures']


# Every fixture a containerd reads, with the newest family that reads it.
CASES = sorted((name, entry['accepted_by'][-1]) for name, entry in MANIFEST.items()
               if entry['accepted_by'] and '/conf.d/' not in name)


@pytest.mark.parametrize('name,family', CASES, ids=['%s-%s' % case for case in CASES])
def test_the_adapter_plans_the_change_the_marker_and_the_mirrors(name, family, capsys, tmp_path, monkeypatch):
    found = {binary.family: binary for binary in binaries.all_binaries()}[family]
    monkeypatch.setenv('PATH', '%s:/usr/bin:/bin' % found.directory)
    config = stage(name, tmp_path)
    original = config.read_bytes()
    # The imports fixture's drop-in sets the usual hosts directory itself (and migrates nothing).
    hosts_dir = HOSTS_DIR if name.startswith('imports-dropin/') else str(tmp_path / 'certs.d')
    spec = Options(hosts_dir=hosts_dir)
    adapter = ContainerdKind(path=str(config), service_name='', enable_cri=True)
    assert adapter.reads(spec) == ([str(config), str(config) + ORIGINAL_SUFFIX, str(config) + CREATED_SUFFIX], [])
    state = node_state(capsys, adapter, spec)
    version = state.containerd_version()
    outcome = outcome_for(name, version)
    if name == 'imports-dropin/config.toml' and version.major == 1:
        outcome = 'the drop-in'
    if isinstance(outcome, str):
        with pytest.raises(SpegelError, match=outcome.replace('.', r'\.')):
            adapter.plan(spec, state)
        return

    plan = adapter.plan(spec, state)
    by_path = {change.path: change for change in plan.changes}
    assert all(change.changed for change in plan.changes)
    marker = by_path.pop(str(config) + ORIGINAL_SUFFIX)
    assert marker.after.encode() == original and not marker.restart and marker.before.exists is False
    change = by_path.pop(str(config))
    assert change.restart and change.before.text.encode() == original
    assert change.validate == '%s --config %%s config dump' % found.containerd
    # Only migrated mirrors' hosts.toml files are left; containerd reads them without a restart.
    assert sorted(by_path) == sorted(plan.facts['hosts_files'])
    assert all(not hosts.restart and hosts.path.startswith(hosts_dir + '/') for hosts in by_path.values())
    assert plan.facts['config_path'] == hosts_dir and plan.facts['discard_unpacked_layers'] is False

    write(capsys, plan.changes)  # validated on the node by this family's containerd before the rename
    assert (tmp_path / ('config.toml' + ORIGINAL_SUFFIX)).read_bytes() == original
    dumped = harness.effective_registry_settings(harness.config_dump(found.containerd, config))
    assert dumped == {'config_path': hosts_dir, 'discard_unpacked_layers': False}

    again = ContainerdKind(path=str(config), service_name='', enable_cri=True)
    replan = again.plan(spec, node_state(capsys, again, spec))
    assert replan.changes == [] and replan.facts['original_file'] == str(config) + ORIGINAL_SUFFIX
    assert replan.facts['effective_from'] == 'containerd config dump' and 'failed' not in replan.facts
