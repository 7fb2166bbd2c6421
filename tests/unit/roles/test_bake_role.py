# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The bake role takes the containerd and mirror roles' own options, not parallel ones."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
# mirror_node_kind: the boot step writes hosts.toml; a bake of another kind is refused (or
# applied) by containerd_node_kind.
UNUSED = {'containerd_restart', 'containerd_restart_timeout', 'containerd_address',
          'mirror_backup', 'mirror_prune_stale', 'mirror_verify_timeout', 'mirror_node_kind'}


def options(role, entry='main'):
    specs = yaml.safe_load((REPO / 'roles' / role / 'meta' / 'argument_specs.yml').read_text())
    return specs['argument_specs'][entry]['options']


def test_every_bake_option_is_the_containerd_or_mirror_roles_own():
    theirs = {**options('containerd'), **options('mirror')}
    bake = options('bake')
    assert set(bake) == set(theirs) - UNUSED
    for name, spec in bake.items():
        assert spec == theirs[name], name
        assert spec['type'] and spec['description'], name


def test_the_mirror_role_has_a_boot_entry_point_with_its_options():
    assert options('mirror', 'boot') == options('mirror')
    defaults = yaml.safe_load((REPO / 'roles/mirror/defaults/main.yml').read_text())
    assert defaults['mirror_boot_python'] == options('mirror')['mirror_boot_python']['default']
