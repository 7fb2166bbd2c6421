# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The mirror role's verify judge: ctr's debug log, as every containerd family writes it.

Every log here is captured from the real ctr of each family (tests/containerd/binaries.py)
as node_files runs it for verify: `ctr --debug content fetch-object --hosts-dir` in a network
namespace with no network at all. Needs root, unshare and ip; without them the tests fail.
"""

from __future__ import annotations

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_probe import judge_probe, probe_ref
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_merge import merge_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import default_server

from test_hosts_toml_containerd import (  # noqa: E402  (a sibling test module)
    USER_DOCKER_IO, V6, V6_NODEPORT, V6_URLS, binaries, containerd_reads, hosts_dir, major_of, merged,
)


USER = 'http://198.18.0.6:5000'


def probe(ctr, directory, registry, capabilities=('pull', 'resolve'), terminal=False):
    return ctr, directory, probe_ref(registry, capabilities), terminal


@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_the_engines_files_pass(family, ctr, tmp_path):
    major = major_of(family)
    pull_only = [dict(V6, capabilities=['pull']), dict(V6_NODEPORT, capabilities=['pull'])]
    root = hosts_dir(tmp_path, {
        'docker.io': merged(USER_DOCKER_IO, [V6, V6_NODEPORT], major),
        '_default': merged('', [V6, V6_NODEPORT], major, registry='_default'),
        'registry.example_5000_': merged('', pull_only, major, registry='registry.example:5000'),
    })
    logs = containerd_reads([probe(ctr[family], root, 'docker.io'), probe(ctr[family], root, '_default'),
                             probe(ctr[family], root, 'registry.example_5000_', ['pull']),
                             probe(ctr[family], root, 'docker.io', terminal=True)], network=False)
    judged = [judge_probe('/d/hosts.toml', log['stderr'], V6_URLS) for log in logs]
    assert judged == [
        (V6_URLS + [USER, 'https://registry-1.docker.io'], None),
        (V6_URLS + ['https://peerpull-verify.invalid'], None),
        (V6_URLS + ['https://registry.example:5000'], None),
        (V6_URLS + [USER, 'https://registry-1.docker.io'], None),
    ]
    assert '\x1b[' in logs[3]['stderr'] and 'level=' not in logs[3]['stderr']


@pytest.mark.parametrize('family', binaries.FAMILIES)
def test_files_containerd_ignores_or_reads_without_spegel_first_fail(family, ctr, tmp_path):
    major = major_of(family)
    other = hosts_dir(tmp_path / 'other', {'docker.io': merged(USER_DOCKER_IO, [V6, V6_NODEPORT], 3 - major)})
    last = hosts_dir(tmp_path / 'last', {'docker.io': merge_registry(
        USER_DOCKER_IO, 'f', 'docker.io', default_server('docker.io'), [V6, V6_NODEPORT], position='last',
        containerd_major=major)})
    empty = hosts_dir(tmp_path / 'empty', {})
    broken = hosts_dir(tmp_path / 'broken', {'docker.io': USER_DOCKER_IO + '[host."http://198.18.0.7:5000"\n'})
    logs = containerd_reads([probe(ctr[family], other, 'docker.io'), probe(ctr[family], other, 'docker.io', terminal=True),
                             probe(ctr[family], last, 'docker.io'), probe(ctr[family], empty, '_default'),
                             probe(ctr[family], broken, 'docker.io')], network=False)
    judged = [judge_probe('/d/docker.io/hosts.toml', log['stderr'], V6_URLS) for log in logs]
    if major == 1:
        # 1.x ignores the table form: an error line, then the registry itself.
        for hosts, problem in judged[:2]:
            assert hosts == ['https://registry-1.docker.io']
            assert problem.startswith('containerd reports an error for /d/docker.io/hosts.toml (failed to decode '
                                      'hosts.toml: failed to parse TOML: ')
            assert problem.endswith('), so it ignores the file')
    else:
        # 2.x drops the dotted entries without a word.
        assert judged[0] == judged[1] == ([USER, 'https://registry-1.docker.io'], (
            'containerd does not read /d/docker.io/hosts.toml as written: it would try http://198.18.0.6:5000, '
            'https://registry-1.docker.io, not the Spegel mirrors %s first' % ', '.join(V6_URLS)))
    assert judged[2][0] == [USER] + V6_URLS + ['https://registry-1.docker.io']
    assert 'it would try http://198.18.0.6:5000, http://[fd00' in judged[2][1]
    # Every family ignores a file it cannot parse, and says so.
    assert judged[4][0] == ['https://registry-1.docker.io']
    assert judged[4][1].startswith('containerd reports an error for /d/docker.io/hosts.toml (failed to decode ')
    assert judged[3] == (['https://peerpull-verify.invalid'], (
        'containerd does not read /d/docker.io/hosts.toml as written: it would try https://peerpull-verify.invalid, '
        'not the Spegel mirrors %s first' % ', '.join(V6_URLS)))
