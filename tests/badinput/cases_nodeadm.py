# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input: EKS AL2023 nodes through node_config with kind nodeadm (README "Bad input"): an
AMI that reads no drop-ins, user data that keeps nodeadm on its version 2 template, a
nodeadm.d that cannot be written or is no directory, an option the node's containerd has not,
and an uninstall that finds nothing of ours. The adapter's paths are fixed, so each task sees
the case's etc/eks, etc/systemd/system, etc/containerd and run/eks there (harness `node_paths`)."""

from __future__ import annotations

import json
from pathlib import Path

from cases_node import tmpfs
from harness import Case, left_with_warning

MODULE = 'peerpull.spegel.node_config'
NODE_PATHS = {'/etc/eks': 'etc/eks', '/etc/systemd/system': 'etc/systemd/system',
              '/etc/containerd': 'etc/containerd', '/run/eks': 'run/eks'}
FIXTURES = Path(__file__).resolve().parents[1] / 'fixtures'
RUN_UNIT = 'etc/systemd/system/nodeadm-run.service'
CONFIG = 'etc/containerd/config.toml'
CACHE = 'run/eks/nodeadm/config.json'
DROPINS = 'etc/eks/nodeadm.d'
DROPIN = DROPINS + '/spegel.yaml'
# An AL2023 node of AMI v20251023+ with containerd 2, as nodeadm left it.
AL2023 = {RUN_UNIT: (FIXTURES / 'nodeadm' / 'nodeadm-run.service').read_text(),
          CONFIG: (FIXTURES / 'containerd' / 'eks-al2023-containerd2.toml').read_text()}
V2_USER_DATA = '[plugins."io.containerd.grpc.v1.cri".containerd]\nsnapshotter = "overlayfs"\n'
# nodeadm's config cache after a boot whose user data set containerd settings in version 2 tables.
V2_CACHE = json.dumps({'apiVersion': 'node.eks.aws/v1alpha1', 'kind': 'NodeConfig', 'spec': {
    'cluster': {'name': 'my-cluster', 'cidr': '10.100.0.0/16'}, 'containerd': {'config': V2_USER_DATA}}})
USERS_DROPIN = ('apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    flags:\n'
                '      - --node-labels=team=cache\n')
READ_ONLY_DROPINS = tmpfs(DROPINS, read_only=True)


def args(**extra):
    return {'kind': 'nodeadm', 'registries': ['docker.io'], **extra}


def _case(id_, arguments, expect, **kwargs):
    return Case(id_, MODULE, arguments, expect, node_paths=NODE_PATHS, **kwargs)


CASES = [
    _case('nodeadm-ami-before-v20251023', args(), 'refused',
          files={**AL2023, RUN_UNIT: (FIXTURES / 'nodeadm' / 'nodeadm-run-before-v20251023.service').read_text()},
          message=('/etc/systemd/system/nodeadm-run.service does not read /etc/eks/nodeadm.d/',
                   'Move the node group to AMI v20251023 or later'),
          why='an older AL2023 AMI whose nodeadm-run reads user data only: a drop-in would be ignored'),
    _case('nodeadm-user-data-v2-tables', args(), 'refused', files={**AL2023, CACHE: V2_CACHE},
          message=('/run/eks/nodeadm/config.json (user data and drop-ins): the containerd settings there are in '
                   'version 2 tables', 'Move those settings to the version 3 tables'),
          why="user data written for containerd 1.7: the drop-in's version 3 keys would make nodeadm drop them"),
    _case('nodeadm-dropins-read-only', args(), 'refused', files=AL2023,
          prepare=READ_ONLY_DROPINS[0], cleanup=READ_ONLY_DROPINS[1],
          message=('/etc/eks/nodeadm.d/spegel.yaml', 'Read-only file system', 'remount it read-write'),
          why='a hardened AMI with /etc/eks on a read-only file system'),
    _case('nodeadm-dropins-is-a-file', args(), 'refused', files={**AL2023, DROPINS: USERS_DROPIN},
          message=('/etc/eks/nodeadm.d/spegel.yaml', '/etc/eks/nodeadm.d is a file, not a directory'),
          why='a NodeConfig saved as /etc/eks/nodeadm.d itself instead of a file in it'),
    _case('nodeadm-local-pull-on-containerd-1', args(use_local_image_pull=True, containerd_version='1.7.27'),
          'refused', files=AL2023,
          message=('/etc/eks/nodeadm.d/spegel.yaml: use_local_image_pull exists only in config version 3',),
          why='use_local_image_pull on an AL2023 node still on containerd 1.7'),
    _case('nodeadm-uninstall-nothing-ours', args(state='absent'), 'ok',
          files={**AL2023, DROPIN: USERS_DROPIN, DROPINS + '/10-site.yaml': USERS_DROPIN},
          judge=left_with_warning('/etc/eks/nodeadm.d/spegel.yaml'),
          why="uninstall where spegel.yaml is the user's own NodeConfig: it stays, and the warning names it"),
]
