# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The arguments containerd_config's tests (tests/unit and tests/real) share."""

from __future__ import annotations


SEED = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "overlayfs"\n'
NO_NODE_PROBES = dict(containerd_version='1.7.24', validate=False, service_name='')


def args_for(tmp_path, **args):
    return dict(NO_NODE_PROBES, path=str(tmp_path / 'config.toml'), hosts_dir=str(tmp_path / 'certs.d'), **args)
