# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The mirror role's verify judge: the probe reference, and ctr's debug log as judge_probe reads
it. The logs of every containerd family's real ctr: tests/real/plugins/plugin_utils/test_hosts_probe.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_probe import (
    PROBE_DIGEST, judge_probe, probe_ref, read_probe,
)

from _hosts_cases import V6_URLS  # this directory


CAPABILITIES = ['pull', 'resolve']


@pytest.mark.parametrize('registry, capabilities, expected', [
    ('_default', CAPABILITIES, 'peerpull-verify.invalid/peerpull-verify/probe:probe'),
    ('docker.io', CAPABILITIES, 'docker.io/peerpull-verify/probe:probe'),
    ('registry.example:5000', CAPABILITIES, 'registry.example:5000/peerpull-verify/probe:probe'),
    ('registry.example_5000_', CAPABILITIES, 'registry.example:5000/peerpull-verify/probe:probe'),
    ('docker.io', ['pull'], 'docker.io/peerpull-verify/probe@' + PROBE_DIGEST),
])
def test_probe_ref(registry, capabilities, expected):
    assert probe_ref(registry, capabilities) == expected


def test_a_log_without_any_host_names_ctrs_last_line():
    hosts, problem = judge_probe('/d/hosts.toml', 'ctr: failed to resolve: invalid reference\n', V6_URLS)
    assert hosts == []
    assert 'it would try no host (ctr: failed to resolve: invalid reference)' in problem
    assert read_probe('') == ([], [])
