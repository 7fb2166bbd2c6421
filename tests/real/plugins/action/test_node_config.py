# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_config with real containerd: the plain containerd adapter with containerd 2.1 validating
its config.toml, and verify on a k3s server asking containerd 2.1's ctr on k3s's socket (the
rest: tests/unit/plugins/action/test_node_config.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from ansible_collections.peerpull.spegel.plugins.modules import node_files
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import ORIGINAL_SUFFIX
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _kinds as kinds
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k3s import DROPIN_NAME

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'action'))
from _node_config_cases import (  # noqa: E402  (tests/unit/plugins/action, put on sys.path just above)
    SEED, containerd_args,
)


def test_the_containerd_adapter_writes_its_changes_in_one_staged_round_trip(run_action, tmp_path, monkeypatch):
    found = {binary.family: binary for binary in binaries.all_binaries()}['2.1']
    monkeypatch.setenv('PATH', '%s:/usr/bin:/bin' % found.directory)
    (tmp_path / 'config.toml').write_text(SEED)
    args = containerd_args(tmp_path, validate=True, service_name='containerd')
    args.pop('containerd_version')
    result = run_action('node_config', args, diff=True)
    assert result['changed'] and 'failed' not in result, result.get('msg')
    config, original = str(tmp_path / 'config.toml'), str(tmp_path / 'config.toml') + ORIGINAL_SUFFIX
    assert result['files'] == [original, config] and result['kind'] == 'containerd'
    assert result['restart_required'] and result['services'] == ['containerd']
    assert result['cri_address'] == '/run/containerd/containerd.sock'
    assert result['detected_node_kinds'] == ['containerd'] and result['facts']['config_path'] == str(tmp_path / 'certs.d')
    assert [diff['before_header'] for diff in result['diff']] == ['%s (absent)' % original, config]
    # read (marks included), then one write whose config.toml the real containerd validated
    assert len(run_action.calls) == 2 and run_action.calls[0]['exists'] == kinds.all_marks()
    assert [write.get('validate', '') for write in run_action.calls[1]['write']] == [
        '', '%s --config %%s config dump' % found.containerd]
    assert (tmp_path / 'config.toml.peerpull-orig').read_text() == SEED and 'config_path' in (
        tmp_path / 'config.toml').read_text()

    again = run_action('node_config', args)
    assert not again['changed'] and again['files'] == [] and not again['restart_required']
    assert len(run_action.calls) == 3  # an unchanged node: the one read


# --- verify: the checks of the verify playbook for a node kind -----------------------------------

def test_verify_on_a_k3s_server_asks_containerd_on_its_socket_and_compares_its_unit_with_the_files(
        run_action, k3s_etc, monkeypatch):
    """The files are real and so is ctr (containerd 2.1's, with no daemon on k3s's socket here);
    systemd is the stand-in: this host runs no k3s unit."""
    args = dict(kind='k3s', registries=['docker.io'], kind_options={'role': 'server', 'config_dir': str(k3s_etc)})
    assert run_action('node_config', args)['changed']
    registries, dropin = k3s_etc / 'registries.yaml', k3s_etc / 'config.yaml.d' / DROPIN_NAME
    last_change_us = max(registries.stat().st_mtime_ns, dropin.stat().st_mtime_ns) // 1000
    found = {binary.family: binary for binary in binaries.all_binaries()}['2.1']
    monkeypatch.setenv('PATH', '%s:/usr/bin:/bin' % found.directory)
    asked = []

    def service_started(_module, name):
        asked.append(name)
        return {'name': name, 'active_state': 'active', 'started_us': last_change_us + offset_us,
                'now_us': last_change_us + 60_000_000}
    monkeypatch.setattr(node_files, 'service_started', service_started)

    offset_us = 5_000_000
    calls_before = len(run_action.calls)
    result = run_action('node_config', dict(args, verify=True), check_mode=True)
    assert 'failed' not in result and not result['changed'], result.get('msg')
    assert result['cri'] == {'ok': False, 'detail': result['cri']['detail']}
    assert result['cri']['detail'].startswith('containerd does not answer on /run/k3s/containerd/containerd.sock: ')
    assert result['loaded']['up_to_date'] and not result['loaded']['restart_pending'] and asked == ['k3s']
    assert result['loaded']['detail'] == 'started 5.0s after the last change of %s' % max(
        (registries, dropin), key=lambda path: path.stat().st_mtime_ns)
    assert result['loaded']['files'] == [str(registries), str(dropin)]
    # The CRI question rides on the read; systemd is asked in one more round trip.
    verify_calls = run_action.calls[calls_before:]
    assert [call.get('cri_plugins') for call in verify_calls] == ['/run/k3s/containerd/containerd.sock', None]
    assert verify_calls[1]['service_started'] == 'k3s'

    offset_us = -2_000_000  # k3s started before the files changed: it runs without them
    result = run_action('node_config', dict(args, verify=True), check_mode=True)
    assert not result['loaded']['up_to_date'] and result['loaded']['restart_pending']
    assert result['loaded']['detail'].startswith('restart pending: ') and 'after k3s started' in result['loaded']['detail']
