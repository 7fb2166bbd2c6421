# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The roles' list options: lists as they are, AWX survey strings split, nothing guessed."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.filter.role_list import role_list


@pytest.mark.parametrize('value, ports', [
    ([30020, 30021], [30020, 30021]),
    ('30020, 30021', [30020, 30021]),
    ('30020 30021', [30020, 30021]),
    ('30020,30021\n', [30020, 30021]),
    (30020, [30020]),
    ('30020', [30020]),
    (['30020'], [30020]),
    ('', []), ('  ', []), (None, []), ([], []),
])
def test_ports(value, ports):
    assert role_list(value, 'mirror_ports', 'port') == ports


@pytest.mark.parametrize('value, shown', [
    ('-1', "'-1'"), (-1, '-1'), ('abc', "'abc'"), ('30020.5', "'30020.5'"), (0, '0'), (65536, '65536'),
    ([True], 'True'), ('30020;30021', "'30020;30021'"), (30020.0, '30020.0'),
])
def test_ports_nothing_guessed(value, shown):
    with pytest.raises(AnsibleFilterError, match=r"^mirror_ports: %s is not a port number from 1 to 65535"
                       % shown.replace('.', r'\.')):
        role_list(value, 'mirror_ports', 'port')


@pytest.mark.parametrize('value, items', [
    ('docker.io, ghcr.io registry.example:5000', ['docker.io', 'ghcr.io', 'registry.example:5000']),
    (['docker.io'], ['docker.io']),
    ([''], []),  # an AWX multiselect left blank
    ('', []),
])
def test_strings(value, items):
    assert role_list(value, 'mirror_registries') == items


@pytest.mark.parametrize('value, message', [
    (['docker.io', 5000], 'every item must be a non-empty string, got 5000'),
    (['docker.io', ''], "every item must be a non-empty string, got ''"),
    ({'docker.io': 1}, 'must be a list, or a string of items separated by commas or spaces; got a dict'),
    (True, 'got a boolean'),
    (5000, 'got a number'),
])
def test_strings_refused_naming_the_option(value, message):
    with pytest.raises(AnsibleFilterError, match='^mirror_registries'):
        role_list(value, 'mirror_registries')
    with pytest.raises(AnsibleFilterError, match=message):
        role_list(value, 'mirror_registries')
