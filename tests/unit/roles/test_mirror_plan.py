# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The mirror role's plan entry point plans the hosts.toml files its main entry point writes:
the same containerd_hosts options from the same variables (Ansible warns when a task's args are
one templated variable, so the two tasks each spell them out)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
# Options that do not change what is planned: how a write is kept, the second round trip that
# judges the written files, and the state, which the plan fixes to present (main's).
NOT_PLANNED = {'backup', 'probe', 'state'}


def tasks(path):
    return yaml.safe_load((REPO / path).read_text())


def test_the_plan_passes_main_s_containerd_hosts_options():
    written = tasks('roles/mirror/tasks/hosts.yml')[0]['peerpull.spegel.containerd_hosts']
    planned = tasks('roles/mirror/tasks/plan.yml')[0]['vars']['containerd_plan_hosts']
    assert {name: value for name, value in planned.items() if name not in NOT_PLANNED} == {
        name: value for name, value in written.items() if name not in NOT_PLANNED}
    assert planned['state'] == 'present' == tasks('roles/mirror/tasks/main.yml')[0]['vars']['mirror_state']


def test_the_plan_entry_point_has_the_mirror_options():
    specs = yaml.safe_load((REPO / 'roles/mirror/meta/argument_specs.yml').read_text())['argument_specs']
    assert specs['plan']['options'] == specs['main']['options']
