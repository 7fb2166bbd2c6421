# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from ansible_collections.peerpull.spegel.plugins.modules import node_files


def test_a_file_above_the_limit_is_described_but_not_read(tmp_path):
    large = tmp_path / 'config.toml'
    with open(large, 'wb') as f:
        f.truncate(node_files.MAX_READ_BYTES + 1)  # sparse: no disk space
    info = node_files.describe(str(large))
    assert info['exists'] and 'content_b64' not in info
    assert info['error'].startswith('it is %d bytes, above the 4 MiB' % (node_files.MAX_READ_BYTES + 1))


def test_a_file_at_the_limit_is_read(tmp_path):
    edge = tmp_path / 'config.toml'
    with open(edge, 'wb') as f:
        f.truncate(node_files.MAX_READ_BYTES)
    info = node_files.describe(str(edge))
    assert 'error' not in info and info['content_b64']
