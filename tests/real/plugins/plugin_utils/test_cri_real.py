# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one CRI check (node_files' cri_plugins probe judged by CriAnswer), against real containerd
daemons (the oldest and the newest family of tests/containerd/binaries.py) listening where a node
kind's containerd listens (k3s's /run/k3s/containerd/containerd.sock, under a temporary root).
The same check is containerd_restart's come-back poll and verify's cri column."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.peerpull.spegel.plugins.modules import node_files
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_restart import CriAnswer
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k3s import K3sKind

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)
import harness  # noqa: E402

FAMILIES = [binaries.FAMILIES[0], binaries.FAMILIES[-1]]
CRI_DISABLED = {'1': 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n',
                '2': 'version = 3\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'}
ENABLED = {'1': 'version = 2\n', '2': 'version = 3\n'}


@pytest.fixture(scope='module')
def found():
    return {binary.family: binary for binary in binaries.all_binaries()}


@pytest.fixture
def node_root():
    with tempfile.TemporaryDirectory(prefix='cri-', dir='/tmp') as scratch:  # a short socket path
        yield Path(scratch)


def kind_socket(root):
    socket = root / K3sKind.cri_address.lstrip('/')
    socket.parent.mkdir(parents=True)
    return socket


def run_node_files(monkeypatch, binary, **args):
    """node_files run in-process as on a node whose PATH holds binary's ctr."""
    monkeypatch.setenv('PATH', '%s:/usr/sbin:/usr/bin:/sbin:/bin' % binary.directory if binary else '/nonexistent')
    out = io.StringIO()
    with patch_module_args(args):
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            node_files.main()
    return json.loads(out.getvalue())


def probe(socket, monkeypatch, binary=None, **args):
    """node_files' cri_plugins probe."""
    return run_node_files(monkeypatch, binary, cri_plugins=str(socket), **args)['cri_plugins']


@contextlib.contextmanager
def daemon_started_later(binary, node_root, socket, delay):
    """A real containerd that starts serving socket delay seconds from now, as after a restart."""
    stop, failed = threading.Event(), []

    def serve():
        time.sleep(delay)
        try:
            with harness.running_daemon(binary.containerd, node_root, ENABLED[binary.family[0]], socket):
                stop.wait()
        except Exception as exc:  # noqa: BLE001  (reported by the test, not lost in the thread)
            failed.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield failed
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize('family', FAMILIES)
def test_a_running_containerd_with_cri_is_ready(family, found, node_root, monkeypatch):
    binary, socket = found[family], kind_socket(node_root)
    with harness.running_daemon(binary.containerd, node_root, ENABLED[family[0]], socket):
        answer = CriAnswer(probe(socket, monkeypatch, binary))
    assert answer.ready and answer.rc == 0
    assert answer.check() == {'ok': True, 'detail': 'containerd answers on %s with its CRI plugin loaded' % socket}


@pytest.mark.parametrize('family', FAMILIES)
def test_containerd_with_cri_disabled_is_not_ready_and_says_so(family, found, node_root, monkeypatch):
    binary, socket = found[family], kind_socket(node_root)
    with harness.running_daemon(binary.containerd, node_root, CRI_DISABLED[family[0]], socket):
        answer = CriAnswer(probe(socket, monkeypatch, binary))
    assert answer.rc == 0 and not answer.ready
    check = answer.check()
    assert not check['ok']
    assert check['detail'] == ('containerd answers on %s, but its CRI plugin is not loaded: `ctr plugins ls` does '
                               'not list it (disabled_plugins?)' % socket), check
    assert answer.failure(60) == ('it answered, but its CRI plugin did not load: `ctr plugins ls` does not list it '
                                  '(disabled_plugins?)')


def test_a_socket_without_a_daemon_is_not_ready_and_names_the_address(found, node_root, monkeypatch):
    socket = kind_socket(node_root)
    started = time.monotonic()
    answer = CriAnswer(probe(socket, monkeypatch, found[FAMILIES[-1]]))
    assert time.monotonic() - started < 15  # one attempt, cut short by ctr's connect timeout
    assert answer.rc not in (0, None) and not answer.ready
    check = answer.check()
    assert not check['ok'] and check['detail'].startswith('containerd does not answer on %s: ' % socket), check
    assert answer.failure(60).startswith('it did not answer on %s within 60s: ' % socket)


def test_without_ctr_k0s_ctr_asks_with_the_same_arguments(found, node_root, monkeypatch, tmp_path):
    """k0s itself is not served by the Go module proxy: its `ctr` subcommand is reproduced from
    k0s's cmd/ctr/ctr.go (the arguments from "ctr" on go to containerd's ctr app), run here by the
    real ctr against a real daemon."""
    if shutil.which('k0s') or any(os.access(os.path.join(directory, 'ctr'), os.X_OK) for directory
                                  in node_files.BIN_DIRS + node_files.CTR_KIND_DIRS):
        pytest.skip('this host has a ctr or a k0s of its own')
    binary, socket = found[FAMILIES[-1]], kind_socket(node_root)
    k0s = tmp_path / 'k0s'
    k0s.write_text('#!/bin/sh\nwhile [ "$1" != ctr ]; do shift; done\nshift\nexec %s "$@"\n' % binary.ctr)
    k0s.chmod(0o755)
    with harness.running_daemon(binary.containerd, node_root, ENABLED[FAMILIES[-1][0]], socket):
        monkeypatch.setenv('PATH', '%s:/usr/sbin:/usr/bin:/sbin:/bin' % tmp_path)
        out = io.StringIO()
        with patch_module_args({'cri_plugins': str(socket)}):
            with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
                node_files.main()
        said = json.loads(out.getvalue())['cri_plugins']
    assert said['ctr'] == '%s ctr' % k0s
    assert CriAnswer(said).check() == {
        'ok': True, 'detail': 'containerd answers on %s with its CRI plugin loaded' % socket}


def test_without_ctr_nothing_runs_and_the_check_says_why(node_root, monkeypatch):
    if any(os.access(os.path.join(directory, 'ctr'), os.X_OK) for directory in node_files.BIN_DIRS
           + node_files.CTR_KIND_DIRS):
        pytest.skip('this host has a ctr of its own')
    socket = kind_socket(node_root)
    answer = CriAnswer(probe(socket, monkeypatch))
    assert answer.rc is None and not answer.ready
    check = answer.check()
    assert not check['ok'] and check['detail'].startswith(
        'containerd on %s could not be asked: ctr is not installed' % socket), check


@pytest.mark.parametrize('family', FAMILIES)
def test_cri_wait_asks_on_the_node_until_a_restarted_containerd_serves_cri(family, found, node_root, monkeypatch):
    binary, socket = found[family], kind_socket(node_root)
    with daemon_started_later(binary, node_root, socket, delay=1.5) as failed:
        said = probe(socket, monkeypatch, binary, cri_wait=30)
    assert not failed, failed
    assert said['loaded'] and CriAnswer(said).ready
    assert said['attempts'] > 1 and 1 <= said['waited'] < 30, said


def test_cri_wait_gives_up_after_the_timeout_and_says_why(found, node_root, monkeypatch):
    socket = kind_socket(node_root)
    started = time.monotonic()
    said = probe(socket, monkeypatch, found[FAMILIES[-1]], cri_wait=3)
    # the last ask starts less than one interval before the 3 s are up
    assert 3 - node_files.CRI_WAIT_INTERVAL <= time.monotonic() - started < 15
    assert not said['loaded'] and said['attempts'] > 1 and said['waited'] >= 3 - node_files.CRI_WAIT_INTERVAL, said
    assert CriAnswer(said).failure(3).startswith('it did not answer on %s within 3s: ' % socket)


@pytest.mark.parametrize('serving', [True, False], ids=['cri', 'no-daemon'])
def test_cri_required_removes_only_once_containerd_serves_cri(serving, found, node_root, monkeypatch, tmp_path):
    """The restart's rollback copy goes in the round trip that saw CRI, and stays when CRI did not answer."""
    binary, socket = found[FAMILIES[-1]], kind_socket(node_root)
    copy = tmp_path / 'config.toml.1234.2026-01-01@00:00:00~'
    copy.write_text('version = 2\n')
    args = dict(cri_plugins=str(socket), cri_wait=1, cri_required=True, remove=[{'path': str(copy)}])
    with contextlib.ExitStack() as stack:
        if serving:
            stack.enter_context(harness.running_daemon(binary.containerd, node_root, ENABLED['2'], socket))
        said = run_node_files(monkeypatch, binary, **args)
    assert said['cri_plugins']['loaded'] is serving
    assert copy.exists() is not serving
    assert [entry['path'] for entry in said['written']] == ([str(copy)] if serving else [])


def test_cri_required_without_cri_plugins_is_refused(monkeypatch, tmp_path):
    copy = tmp_path / 'kept'
    copy.write_text('x')
    with pytest.raises(SystemExit):
        with patch_module_args({'cri_required': True, 'remove': [{'path': str(copy)}]}):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                node_files.main()
    said = json.loads(out.getvalue())
    assert said['failed'] and said['msg'].startswith('cri_required needs cri_plugins') and copy.exists()
