# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ansible.builtin.files' attributes and SELinux parts compared as chattr and ansible-core apply
them (pure). The real chattr: tests/real/plugins/action/test_toml_file.py."""

import pytest

from ansible_collections.peerpull.spegel.plugins.module_utils._file_attributes import (
    attributes_differ, chattr_argument, parse_attributes, wanted_context, wanted_flags,
)


@pytest.mark.parametrize('value, parsed', [
    ('+i', ('+', 'i')), ('-iA', ('-', 'iA')), ('i', ('=', 'i')), ('=eA', ('=', 'eA')),
])
def test_an_attributes_value_is_an_operator_and_letters(value, parsed):
    assert parse_attributes(value) == parsed


@pytest.mark.parametrize('value', ['', '+', '-', '+i,A', 'i A', '+1', '++i', '+é'])
def test_a_value_chattr_could_never_take_is_refused_with_the_fix(value):
    with pytest.raises(ValueError, match=r"^attributes must be chattr's letters after an optional \+, - or = "
                                         r"\(such as '\+i'"):
        parse_attributes(value)


@pytest.mark.parametrize('current, value, wanted, differ', [
    ('e', '+i', 'ei', True),
    ('ei', '+i', 'ei', False),   # ext4's e: ansible-core's text comparison calls this a change
    ('ie', '+i', 'ie', False),
    ('eAi', '-i', 'eA', True),
    ('e', '-i', 'e', False),     # ansible-core reports every '-' as a change
    ('', '-i', '', False),
    ('e', '=eA', 'eA', True),
    ('Ae', 'eA', 'eA', False),   # '=' compares letters, not their order
    ('eA', 'e', 'e', True),
    ('e', 'i', 'ei', True),
    ('ei', 'i', 'ei', False),    # '=' keeps what chattr cannot clear (ext4's e)
    ('eA', '=i', 'ei', True),
    (None, '+i', 'i', True),     # lsattr could not tell: chattr is asked, and judges
])
def test_attributes_are_compared_as_chattr_applies_them(current, value, wanted, differ):
    assert set(wanted_flags(current or '', value)) == set(wanted)
    assert attributes_differ(current, value) is differ


def test_no_value_is_no_change():
    assert attributes_differ('ei', None) is False and attributes_differ(None, None) is False


@pytest.mark.parametrize('value, argument', [('+i', '+i'), ('-A', '-A'), ('i', 'i'), ('=eA', 'eA')])
def test_chattr_gets_the_value_as_ansible_core_passes_it_on(value, argument):
    """set_attributes_if_different adds '=' itself and strips only '+' and '-'."""
    assert chattr_argument(value) == argument


CURRENT = ['system_u', 'object_r', 'etc_t', 's0']
DEFAULT = ['system_u', 'object_r', 'container_config_t', 's0']


@pytest.mark.parametrize('requested, wanted', [
    ([None, None, None, None], CURRENT),
    ([None, None, 'container_config_t', None], ['system_u', 'object_r', 'container_config_t', 's0']),
    ([None, None, '_default', None], DEFAULT),
    (['unconfined_u', None, None, 's0:c1'], ['unconfined_u', 'object_r', 'etc_t', 's0:c1']),
])
def test_selinux_parts_not_asked_for_stay_the_files(requested, wanted):
    assert wanted_context(CURRENT, DEFAULT, requested) == wanted


def test_without_mls_the_level_is_not_compared_and_a_missing_default_keeps_the_part():
    """ansible-core adds selevel only where SELinux is MLS-aware; _default without a policy
    default (matchpathcon found none) leaves the part as it is."""
    assert wanted_context(CURRENT[:3], None, [None, None, '_default', 's0:c1']) == CURRENT[:3]
