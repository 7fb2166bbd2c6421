# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The plain containerd adapter through the real node_files, with no containerd on PATH (the
prediction from the files). On every fixture with the real containerd that reads it:
tests/real/plugins/plugin_utils/test_kind_containerd.py."""

from __future__ import annotations

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    CREATED_MARKER_TEXT, CREATED_SUFFIX,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import Options
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_containerd import ContainerdKind

from _kind_containerd_cases import node_state, write  # this directory


def test_a_new_file_gets_the_created_marker_and_no_backup_of_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')  # no containerd: the prediction from the files
    config = tmp_path / 'etc' / 'config.toml'
    spec = Options(hosts_dir=str(tmp_path / 'certs.d'), containerd_version='2.1.5')
    adapter = ContainerdKind(path=str(config), service_name='', backup=True)
    plan = adapter.plan(spec, node_state(capsys, adapter, spec))
    created, change = plan.changes
    assert created.path == str(config) + CREATED_SUFFIX and created.after == CREATED_MARKER_TEXT % config
    assert change.path == str(config) and change.validate is None and change.backup and change.restart
    assert plan.facts['created'] and plan.facts['effective_from'] == 'files'
    write(capsys, plan.changes)
    assert config.exists() and (tmp_path / 'etc' / ('config.toml' + CREATED_SUFFIX)).exists()


def test_keep_original_false_plans_no_marker(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')
    config = tmp_path / 'config.toml'
    config.write_text('version = 2\n')
    spec = Options(hosts_dir='/etc/containerd/certs.d', containerd_version='1.7.24')
    adapter = ContainerdKind(path=str(config), service_name='', keep_original=False)
    plan = adapter.plan(spec, node_state(capsys, adapter, spec))
    assert [change.path for change in plan.changes] == [str(config)]
    assert plan.facts['original_file'] is None and plan.facts['created'] is False


def test_a_migrated_mirror_is_read_in_a_follow_up_and_needs_no_restart(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')
    config = tmp_path / 'config.toml'
    config.write_text('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n'
                      '  endpoint = ["https://mirror.example"]\n')
    spec = Options(hosts_dir=str(tmp_path / 'certs.d'), containerd_version='1.7.24')
    adapter = ContainerdKind(path=str(config), service_name='')
    # The first read shows the mirror; the follow-up reads its hosts.toml (absent yet).
    state = node_state(capsys, adapter, spec)
    hosts = str(tmp_path / 'certs.d' / 'docker.io' / 'hosts.toml')
    assert adapter.follow_up(spec, state) == ([hosts], [])
    change = {change.path: change for change in adapter.plan(spec, state).changes}[hosts]
    assert change.before.exists is False and change.mode is None and not change.restart
    assert 'https://mirror.example' in change.after
