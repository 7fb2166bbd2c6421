# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""containerd_config with the real containerd 2.1 on PATH: the validating round trip before
the write, and verify's CRI check against a running daemon (the rest:
tests/unit/plugins/action/test_containerd_config.py)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)
import harness  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'action'))
from _containerd_config_cases import (  # noqa: E402  (tests/unit/plugins/action, put on sys.path just above)
    SEED, args_for,
)


def test_with_containerd_installed_the_new_file_is_validated_before_it_is_written(run_action, tmp_path,
                                                                                  monkeypatch):
    found = {binary.family: binary for binary in binaries.all_binaries()}['2.1']
    monkeypatch.setenv('PATH', '%s:/usr/bin:/bin' % found.directory)
    result = run_action('containerd_config', dict(args_for(tmp_path), containerd_version=None, validate=True))
    assert result['changed'] and result['validated'] and result['effective_from'] == 'containerd config dump'
    assert result['containerd_version'].startswith('2.1') and result['config_path'] == str(tmp_path / 'certs.d')
    assert [bool(call.get('commit', True)) for call in run_action.calls] == [True, False, True]


def trip(call):
    """What a node_files round trip did."""
    if not call.get('write'):
        return 'read'
    return 'validate' if call.get('commit') is False else 'write'


def test_from_a_kept_read_the_change_is_validated_and_written_in_two_round_trips(
        run_action, tmp_path, kept_reads, monkeypatch):
    """reuse_read: the check-mode run's read kept, the change needs only the validating round trip
    and the write; a file changed since is caught by the validating round trip and read again."""
    found = {binary.family: binary for binary in binaries.all_binaries()}['2.1']
    monkeypatch.setenv('PATH', '%s:/usr/bin:/bin' % found.directory)
    args = dict(args_for(tmp_path), containerd_version=None, validate=True, reuse_read=True)
    (tmp_path / 'config.toml').write_text(SEED)
    run_action('containerd_config', args, check_mode=True)
    result = run_action('containerd_config', args)
    assert result['changed'] and result['validated'] and result['effective_from'] == 'containerd config dump'
    assert [trip(call) for call in run_action.calls] == ['read', 'validate', 'write']

    (tmp_path / 'config.toml').write_text(SEED)
    run_action('containerd_config', args, check_mode=True)
    (tmp_path / 'config.toml').write_text(SEED + '# edited after the plan\n')
    result = run_action('containerd_config', args)
    assert result['changed'] and result['validated'] and '# edited after the plan' in (tmp_path / 'config.toml').read_text()
    # the plan's read; the validation refused on the changed file; read, validate, write
    assert [trip(call) for call in run_action.calls[3:]] == ['read', 'validate', 'read', 'validate', 'write']
    assert list(kept_reads.iterdir()) == []


def test_verify_asks_a_real_containerd_for_cri_in_the_same_round_trip_as_the_config(
        run_action, tmp_path, monkeypatch):
    """verify's config and cri checks: containerd_config in check mode with cri_address, one round
    trip, against a real containerd 2.1 daemon (serving CRI, then stopped: its socket gone)."""
    found = {binary.family: binary for binary in binaries.all_binaries()}['2.1']
    monkeypatch.setenv('PATH', '%s:/usr/bin:/bin' % found.directory)
    (tmp_path / 'config.toml').write_text(SEED)
    with tempfile.TemporaryDirectory(prefix='cri-', dir='/tmp') as scratch:  # a short socket path
        socket = Path(scratch) / 'containerd.sock'
        args = dict(args_for(tmp_path), cri_address=str(socket))
        with harness.running_daemon(found.containerd, Path(scratch), 'version = 3\n', socket):
            result = run_action('containerd_config', args, check_mode=True)
        assert result['cri'] == {'ok': True, 'detail': 'containerd answers on %s with its CRI plugin loaded' % socket}
        assert len(run_action.calls) == 1 and run_action.calls[0]['cri_plugins'] == str(socket)
        assert result['changed'] and sorted(p.name for p in tmp_path.iterdir()) == ['config.toml']
        stopped = run_action('containerd_config', args, check_mode=True)
    assert not stopped['cri']['ok'] and stopped['cri']['detail'].startswith('containerd does not answer on %s: ' % socket)
