# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The mirror role's plan and converge entry points plan and write, through containerd_config's
hosts_options, the hosts.toml files its main entry point writes: the same containerd_hosts options
from the same variables (Ansible warns when a task's args are one templated variable, so main's
task spells them out and vars/main.yml holds them for the other two)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
# Options that are main's alone: the second round trip that judges the written files, and the
# state, which the other entry points fix to present (main's).
NOT_PLANNED = {'probe', 'state'}


def tasks(path):
    return yaml.safe_load((REPO / path).read_text())


def test_plan_and_converge_pass_main_s_containerd_hosts_options():
    written = tasks('roles/mirror/tasks/hosts.yml')[0]['peerpull.spegel.containerd_hosts']
    options = tasks('roles/mirror/vars/main.yml')['mirror_containerd_hosts_options']
    assert {name: value for name, value in options.items() if name not in NOT_PLANNED} == {
        name: value for name, value in written.items() if name not in NOT_PLANNED}
    assert options['state'] == 'present' == tasks('roles/mirror/tasks/main.yml')[0]['vars']['mirror_state']
    for entry_point in ('plan', 'converge'):
        assert tasks('roles/mirror/tasks/%s.yml' % entry_point)[0]['vars'] == {
            'containerd_hosts_options': '{{ mirror_containerd_hosts_options }}'}


def test_plan_and_converge_have_the_mirror_options():
    specs = yaml.safe_load((REPO / 'roles/mirror/meta/argument_specs.yml').read_text())['argument_specs']
    assert specs['plan']['options'] == specs['main']['options'] == specs['converge']['options']
