# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_files' containerd probes with a real containerd on PATH (the rest of node_files as the
action plugins use it: tests/unit/plugins/modules/test_node_files_round_trips.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from ansible_collections.peerpull.spegel.plugins.modules import node_files

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'modules'))
from node_files_runner import run  # noqa: E402  (tests/unit/plugins/modules, put on sys.path just above)


def test_containerd_version_and_config_dump_come_from_the_binary_on_path(capsys, tmp_path, monkeypatch):
    found = {binary.family: binary for binary in binaries.all_binaries()}['1.7']
    monkeypatch.setenv('PATH', '%s:/usr/bin:/bin' % found.directory)
    monkeypatch.setattr(node_files, 'BIN_DIRS', [])
    config = tmp_path / 'config.toml'
    config.write_text('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/x"\n')
    result = run(capsys, containerd_version=True, config_dump=str(config))
    assert result['containerd']['path'] == str(found.directory / 'containerd')
    assert ' 1.7.' in result['containerd']['version_output']
    assert result['config_dump']['rc'] == 0 and 'config_path = "/x"' in result['config_dump']['stdout']
