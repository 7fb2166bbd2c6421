# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""hosts.toml merges and unmerges judged by containerd itself (the rest:
tests/unit/plugins/plugin_utils/test_hosts_toml.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_merge import merge_registry, unmerge_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import default_server

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'containerd'))
import harness  # noqa: E402  (tests/containerd, put on sys.path just above)
from test_hosts_toml_containerd import containerd_reads  # noqa: E402  (the namespace judge)

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'plugin_utils'))
from _hosts_cases import V4_NODEPORT  # noqa: E402  (tests/unit/plugins/plugin_utils, put on sys.path just above)

V4 = dict(V4_NODEPORT, url='http://198.18.0.5:30020')  # no header: _hosts_cases.V4 has one


# --- judged by containerd itself --------------------------------------------------------------

USER_HOST = "# the user's own registry\n[host.\"http://198.18.0.6:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"


def containerd_requests(ctr, cases):
    """Per case (hosts_dir, ref): the requests the logging registries saw from containerd's
    own resolver (`ctr content fetch-object`, no daemon), in a private network namespace.
    A file containerd could not parse would send it straight to the upstream server."""
    return [result['requests'] for result in containerd_reads([(ctr, hosts_dir, ref) for hosts_dir, ref in cases])]


def family_ctr(family):
    """The real ctr of a containerd family. A missing binary fails the test (CI must not
    pass without its judge); it never skips."""
    binaries = harness.containerd_binaries()
    assert family in binaries, 'no containerd %s binary: tests/containerd/binaries.py did not fetch it' % family
    return binaries[family].with_name('ctr')


@pytest.mark.parametrize('family', harness.binaries.FAMILIES)
def test_containerd_reads_our_files_in_file_order(family, tmp_path):
    ctr = family_ctr(family)
    secret = dict(V4, header={'Authorization': 'Basic c3BlZ2VsOnB3'})

    merged_dir = tmp_path / 'merged'
    (merged_dir / 'docker.io').mkdir(parents=True)
    user = 'server = "https://registry-1.docker.io"\n\n' + USER_HOST
    merged = merge_registry(user, 'f', 'docker.io', default_server('docker.io'), [secret])
    (merged_dir / 'docker.io' / 'hosts.toml').write_text(merged)

    default_dir = tmp_path / 'default'
    (default_dir / '_default').mkdir(parents=True)
    (default_dir / '_default' / 'hosts.toml').write_text(
        merge_registry('', 'f', '_default', None, [V4, V4_NODEPORT]))

    restored_dir = tmp_path / 'restored'
    (restored_dir / 'docker.io').mkdir(parents=True)
    (restored_dir / 'docker.io' / 'hosts.toml').write_text(unmerge_registry(merged, 'f', [V4['url']], 'docker.io'))

    merged_log, default_log, restored_log = containerd_requests(ctr, [
        (str(merged_dir), 'docker.io/library/busybox:latest'),
        (str(default_dir), 'ghcr.io/spegel-org/spegel:v0.3.0'),
        (str(restored_dir), 'docker.io/library/busybox:latest'),
    ])
    manifest = '/v2/library/busybox/manifests/latest?ns=docker.io'
    assert merged_log == [['198.18.0.5:30020', manifest, 'Basic c3BlZ2VsOnB3'],
                          ['198.18.0.6:5000', manifest, None]]
    ghcr = '/v2/spegel-org/spegel/manifests/v0.3.0?ns=ghcr.io'
    assert default_log == [['198.18.0.5:30020', ghcr, None], ['198.18.0.5:30021', ghcr, None]]
    assert restored_log == [['198.18.0.6:5000', manifest, None]]


@pytest.mark.parametrize('family', harness.binaries.FAMILIES)
def test_containerd_takes_a_registry_directory_over_default(family, tmp_path):
    """Why shadowing directories get the mirror too: containerd takes the registry's own
    directory, hosts.toml or not, and never reads _default for it."""
    ctr = family_ctr(family)
    default = merge_registry('', 'f', '_default', None, [V4])
    user = USER_HOST  # the user's docker.io file, without a server line

    def hosts_dir(name, docker_io_text):
        root = tmp_path / name
        (root / '_default').mkdir(parents=True)
        (root / '_default' / 'hosts.toml').write_text(default)
        (root / 'docker.io').mkdir()
        if docker_io_text is not None:
            (root / 'docker.io' / 'hosts.toml').write_text(docker_io_text)
        return str(root)

    shadowed = hosts_dir('shadowed', user)
    merged = hosts_dir('merged', merge_registry(user, 'f', 'docker.io', None, [V4]))
    empty = hosts_dir('empty', None)
    shadowed_log, merged_log, empty_log = containerd_requests(ctr, [
        (shadowed, 'docker.io/library/busybox:latest'),
        (merged, 'docker.io/library/busybox:latest'),
        (empty, 'docker.io/library/busybox:latest'),
    ])
    manifest = '/v2/library/busybox/manifests/latest?ns=docker.io'
    assert shadowed_log == [['198.18.0.6:5000', manifest, None]]
    assert merged_log == [['198.18.0.5:30020', manifest, None], ['198.18.0.6:5000', manifest, None]]
    # A directory without hosts.toml stops the lookup too: straight to Docker Hub, not the mirror.
    assert empty_log == []


# --- option values --------------------------------------------------------------------------
