# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input: k0s nodes through node_config (README "Bad input"): a containerd.toml k0s does not
manage, a drop-in path that is no file, a containerd.d that cannot be written, a k0s too old
for drop-ins, an option k0s has not, and an uninstall that finds nothing of ours. The adapter's
paths are fixed, so each task sees the case's etc/k0s as /etc/k0s (harness `node_paths`)."""

from __future__ import annotations

from pathlib import Path

from cases_node import tmpfs
from harness import Case, Dir, Fifo, left_with_warning

MODULE = 'peerpull.spegel.node_config'
NODE_PATHS = {'/etc/k0s': 'etc/k0s'}
CONFIG = 'etc/k0s/containerd.toml'
DROPIN = 'etc/k0s/containerd.d/spegel.toml'
# What k0s 1.36+ writes (tests/fixtures/k0s), first line # k0s_managed=true.
GENERATED = (Path(__file__).resolve().parents[1] / 'fixtures' / 'k0s' / 'containerd.toml').read_text()
# The same file once the user took it over: k0s leaves it alone and imports nothing.
USER_OWNED = GENERATED.split('\n', 1)[1]
# k0s before 1.36.1 (containerd 1.7): version 2, its own CRI file imported instead of containerd.d.
BEFORE_1_36 = GENERATED.split('imports')[0] + 'imports = ["/run/k0s/containerd-cri.toml"]\nversion = 2\n'
USERS_DROPIN = ('version = 3\n[plugins."io.containerd.cri.v1.images".registry]\n'
                'config_path = "/etc/k0s/certs.d"\n')
READ_ONLY_DROPINS = tmpfs('etc/k0s/containerd.d', read_only=True)


def args(**extra):
    return {'kind': 'k0s', 'registries': ['docker.io'], **extra}


def _case(id_, arguments, expect, **kwargs):
    return Case(id_, MODULE, arguments, expect, node_paths=NODE_PATHS, **kwargs)


CASES = [
    _case('k0s-containerd-toml-user-owned', args(), 'refused', files={CONFIG: USER_OWNED},
          message=('/etc/k0s/containerd.toml does not start with "# k0s_managed=true"',
                   'spegel_node_kind: containerd', 'containerd_config_file: /etc/k0s/containerd.toml'),
          why='a containerd.toml the user took over (k0s_managed line removed): k0s imports no drop-in there'),
    _case('k0s-before-1.36', args(), 'refused', files={CONFIG: BEFORE_1_36},
          message=('/etc/k0s/containerd.toml is version 2 without imports', 'Upgrade k0s to 1.36.1'),
          why='k0s 1.35 and older merge drop-ins themselves into a version 2 file'),
    _case('k0s-dropin-is-a-directory', args(), 'refused', files={CONFIG: GENERATED, DROPIN: Dir()},
          message=('/etc/k0s/containerd.d/spegel.toml cannot be read on the node: it is a directory', 'remove it'),
          why='a directory where the drop-in belongs (a volume mounted at the wrong path)'),
    _case('k0s-dropin-fifo', args(), 'refused', files={CONFIG: GENERATED, DROPIN: Fifo()},
          message=('/etc/k0s/containerd.d/spegel.toml cannot be read on the node: it is a FIFO', 'remove it'),
          why='a named pipe where the drop-in belongs must not hang the run'),
    _case('k0s-dropins-read-only', args(), 'refused', files={CONFIG: GENERATED},
          prepare=READ_ONLY_DROPINS[0], cleanup=READ_ONLY_DROPINS[1],
          message=('/etc/k0s/containerd.d/spegel.toml', 'Read-only file system', 'remount it read-write'),
          why='an immutable image whose /etc/k0s/containerd.d is read-only'),
    _case('k0s-config-dir-option', {**args(), 'kind_options': {'config_dir': '/etc/k0s'}}, 'refused',
          files={CONFIG: GENERATED},
          message=('kind_options for kind k0s: unknown option config_dir', 'Its options are: none'),
          why="k3s's config_dir carried over to a k0s node"),
    _case('k0s-uninstall-nothing-ours', args(state='absent'), 'ok',
          files={CONFIG: GENERATED, DROPIN: USERS_DROPIN, 'etc/k0s/containerd.d/10-site.toml': USERS_DROPIN},
          judge=left_with_warning('/etc/k0s/containerd.d/spegel.toml'),
          why="uninstall where spegel.toml is the user's own: it stays, and the warning names it"),
]
