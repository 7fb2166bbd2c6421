# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The arguments and seed file node_config's tests (tests/unit and tests/real) share."""

from __future__ import annotations


SEED = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "overlayfs"\n'


def containerd_args(tmp_path, **kind_options):
    return dict(kind='containerd', hosts_dir=str(tmp_path / 'certs.d'), containerd_version='1.7.24',
                kind_options=dict(dict(path=str(tmp_path / 'config.toml'), service_name='', validate=False),
                                  **kind_options))
