# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The boot step's files read by every containerd family (the judge of
test_hosts_toml_containerd.py); the rest: tests/unit/plugins/plugin_utils/test_boot_hosts.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from test_hosts_toml_containerd import (  # noqa: E402  (same directory)
    AUTH, MANIFEST, USER, USER_DOCKER_IO, binaries, containerd_reads, hosts_dir, ipv4_spegel, ipv6_spegel, major_of,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'plugin_utils'))
from _boot_hosts_cases import (  # noqa: E402  (tests/unit/plugins/plugin_utils, put on sys.path just above)
    BUILDER, SECRET, V4, V6, rendered,
)


# --- read by every containerd family -------------------------------------------------------------

@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_every_family_reads_the_boot_files_with_spegel_first(family, ctr, tmp_path):
    """IPv4 and IPv6, rendered for the family's major over the user's docker.io and a new
    _default, after a bake on another address: Spegel's two ports first, then the user's host."""
    major = major_of(family)
    cases, expected = [], []
    for ip, spegel in ((V4, ipv4_spegel), (V6, ipv6_spegel)):
        files = {'docker.io': rendered(rendered(USER_DOCKER_IO, BUILDER, major, SECRET), ip, major, SECRET),
                 '_default': rendered(None, ip, major, SECRET, registry='_default')}
        directory = hosts_dir(tmp_path / ip.replace(':', '_'), files)
        cases += [(ctr[family], directory, 'docker.io/library/busybox:latest'),
                  (ctr[family], directory, 'ghcr.io/spegel-org/spegel:v0.3.0')]
        ghcr = '/v2/spegel-org/spegel/manifests/v0.3.0?ns=ghcr.io'
        expected += [authorized(spegel(MANIFEST)) + [USER], authorized(spegel(ghcr))]
    reads = containerd_reads(cases)
    assert [read['requests'] for read in reads] == expected
    assert not [read['stderr'] for read in reads if 'level=error' in read['stderr']]


def authorized(requests):
    return [[host, path, AUTH['Authorization']] for host, path, _auth in requests]
