# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The registry of node kinds and detection from the marks a distribution leaves on a node."""

from __future__ import annotations

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _kinds as kinds
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_kinds import NodeKind

# A path each distribution's own installer leaves on every node of that kind (servers and
# agents alike), and never on a plain containerd node. A registered kind must be found by it.
REAL_MARKS = {
    'k3s': '/usr/local/bin/k3s',  # get.k3s.io installs the binary there
    'rke2': '/var/lib/rancher/rke2',  # its data directory (tarball and RPM installs)
    'nodeadm': '/usr/bin/nodeadm',  # the AL2023 EKS AMI's nodeadm
    'k0s': '/etc/k0s/containerd.toml',  # k0s writes it, with # k0s_managed=true
}
OTHER_KINDS = sorted(name for name in kinds.KINDS if name != kinds.FALLBACK)
# The socket each kind's containerd serves, from the projects' sources: k3s's agent (also RKE2's)
# puts containerd's state in /run/k3s/containerd; k0s starts containerd with --address in its
# run directory /run/k0s; nodeadm's config templates keep containerd's default.
CRI_ADDRESSES = {
    'containerd': '/run/containerd/containerd.sock',
    'k3s': '/run/k3s/containerd/containerd.sock',
    'rke2': '/run/k3s/containerd/containerd.sock',
    'k0s': '/run/k0s/containerd.sock',
    'nodeadm': '/run/containerd/containerd.sock',
}


def test_the_registry_holds_plain_containerd_and_every_adapter_under_its_own_name():
    assert kinds.KINDS[kinds.FALLBACK].name == 'containerd'
    for name, adapter in kinds.KINDS.items():
        assert issubclass(adapter, NodeKind) and adapter.name == name and adapter.summary
        assert all(mark.startswith('/') for mark in adapter.marks)
    assert len(kinds.KINDS) == len(kinds.ADAPTERS)  # no two adapters share a name
    assert kinds.KINDS[kinds.FALLBACK].marks == ()  # plain is what is left when no mark is found
    assert kinds.FALLBACK in kinds.over_ssh()


def test_every_kind_that_generates_its_containerd_config_says_why_and_has_a_real_mark():
    for name in OTHER_KINDS:
        adapter = kinds.KINDS[name]
        assert adapter.marks and kinds.reason(name).strip(), name
        assert REAL_MARKS.get(name) in adapter.marks, '%s: add its real mark to REAL_MARKS' % name


def test_a_node_without_marks_is_plain_containerd():
    assert kinds.detect([]) == ['containerd']
    assert kinds.detect(['/etc/containerd/config.toml', '/usr/bin/containerd']) == ['containerd']
    assert kinds.refusal(['/usr/bin/containerd']) is None


@pytest.mark.parametrize('name', OTHER_KINDS)
def test_each_kind_is_detected_by_its_real_mark_and_refused_with_the_fix(name):
    mark = REAL_MARKS[name]
    assert kinds.detect([mark, '/etc/containerd/config.toml']) == [name]
    message = kinds.refusal([mark])
    assert name in message and mark in message and kinds.reason(name) in message
    assert 'spegel_node_kind: %s' % name in message and 'spegel_node_kind: containerd' in message
    assert 'Nothing was changed' in message


def test_detection_with_a_kind_of_its_own(monkeypatch):
    """detect() and refusal() over a kind registered for this test only."""
    class Toy(NodeKind):
        name = 'toy'
        summary = 'a toy distribution'
        marks = ('/opt/toy/bin/toy', '/etc/toy')
        refusal = 'toy regenerates config.toml at every start'
    monkeypatch.setattr(kinds, 'ADAPTERS', kinds.ADAPTERS + (Toy,))
    monkeypatch.setitem(kinds.KINDS, 'toy', Toy)
    assert kinds.detect(['/etc/toy']) == ['toy']
    assert kinds.marks_found(['/etc/toy', '/opt/toy/bin/toy', '/etc/other']) == {'toy': ['/opt/toy/bin/toy', '/etc/toy']}
    assert '/etc/toy' in kinds.all_marks()
    message = kinds.refusal(['/etc/toy'])
    assert message.startswith('This node is not plain containerd: toy (a toy distribution; found /etc/toy): '
                              'toy regenerates config.toml at every start.')
    assert message.endswith('Set spegel_node_kind: toy to apply that kind\'s adapter, or spegel_node_kind: '
                            'containerd to patch config.toml anyway (the module\'s option is node_kind). '
                            'Nothing was changed.')


def test_an_unknown_kind_is_refused_naming_the_option_and_the_kinds():
    with pytest.raises(SpegelError, match=r"node_kind 'k3z' is no node kind this collection knows; use one of "
                                          r"auto, containerd"):
        kinds.adapter_for('k3z', 'node_kind', ['auto'] + sorted(kinds.KINDS))
    with pytest.raises(SpegelError, match=r"kind 'auto' is no node kind this collection knows; use one of containerd"):
        kinds.adapter_for('auto', 'kind', kinds.over_ssh())
    assert kinds.adapter_for('containerd') is kinds.KINDS['containerd']


def test_every_kind_names_the_socket_its_containerd_serves():
    assert {name: adapter.cri_address for name, adapter in kinds.KINDS.items() if adapter.over_ssh} == CRI_ADDRESSES
