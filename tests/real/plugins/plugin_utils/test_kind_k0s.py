# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The k0s adapter's drop-in loaded by real containerd 2.x the way k0s 1.36.1+ loads it (k0s's
generated containerd.toml importing /etc/k0s/containerd.d/*.toml); its plan:
tests/unit/plugins/plugin_utils/test_kind_k0s.py.

No k0s runs here: k0s is no Go module the proxy serves as a program, and no fleet node runs it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import Options
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k0s import K0S_CONFIG

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)
import harness  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'plugin_utils'))
from _kind_k0s_cases import (  # noqa: E402  (tests/unit/plugins/plugin_utils, put on sys.path just above)
    GENERATED, KIND, node,
)


FAMILIES_2X = [family for family in binaries.FAMILIES if family.startswith('2.')]
SPEGEL = {'config_path': '/etc/containerd/certs.d', 'discard_unpacked_layers': False}


@pytest.fixture(scope='session')
def containerd():
    return harness.containerd_binaries()


@pytest.mark.parametrize('family', FAMILIES_2X)
def test_the_dropin_is_loaded_by_containerd_as_k0s_runs_it(family, containerd, tmp_path):
    (change,) = KIND.plan(Options(use_local_image_pull=True), node({K0S_CONFIG: GENERATED})).changes
    (tmp_path / 'containerd.d').mkdir()
    main = harness.copy_with_imports(harness.FIXTURES_DIR.parent / 'k0s' / 'containerd.toml', tmp_path,
                                     [str(tmp_path / 'containerd.d' / '*.toml')])
    assert harness.effective_registry_settings(harness.config_dump(containerd[family], main))['config_path'] == ''
    (tmp_path / 'containerd.d' / Path(change.path).name).write_text(change.after)
    dump = harness.config_dump(containerd[family], main)
    assert harness.effective_registry_settings(dump) == SPEGEL
    images = dump['plugins']['io.containerd.cri.v1.images']
    assert images['use_local_image_pull'] is True
    assert images['pinned_images']['sandbox'] == 'quay.io/k0sproject/pause:3.10.2-0'  # k0s's own, kept


@pytest.mark.parametrize('family', FAMILIES_2X)
def test_k0s_reload_signal_ends_containerd(family, containerd):
    """k0s sends its containerd SIGHUP when containerd.d changes, and its supervisor starts the
    process again once it has exited (pkg/supervisor): containerd 2.x does not handle SIGHUP, so
    it exits, and comes back with the new drop-in. No restart is needed from us."""
    with tempfile.TemporaryDirectory(prefix='k0s-hup-', dir='/tmp') as scratch:  # a short socket path
        work = Path(scratch)
        (work / 'config.toml').write_text('version = 3\n')
        socket = work / 'containerd.sock'
        with (work / 'log').open('w') as log:
            daemon = subprocess.Popen([str(containerd[family]), '--config', str(work / 'config.toml'),
                                       '--root', str(work / 'root'), '--state', str(work / 'state'),
                                       '--address', str(socket)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while not socket.exists() and daemon.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert socket.exists(), (work / 'log').read_text()
            daemon.send_signal(signal.SIGHUP)
            assert daemon.wait(timeout=30) == -signal.SIGHUP
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
