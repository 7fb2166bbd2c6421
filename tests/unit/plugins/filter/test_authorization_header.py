# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The authorization_header filter: the header containerd_hosts writes, refusals without the secret."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.filter.authorization_header import authorization_header
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import authorization_header as written


@pytest.mark.parametrize('value', [
    'Basic c3BlZ2VsOnB3', {'username': 'spegel', 'password': 'pw'},
    {'username': '"spegel"', 'password': '"0123"', 'encoding': 'json'},
])
def test_the_header_is_the_one_the_hosts_toml_files_carry(value):
    assert authorization_header(value) == written(value) and authorization_header(value).startswith('Basic ')


@pytest.mark.parametrize('value', ['', None, {}])
def test_unset_is_no_header(value):
    assert authorization_header(value) == ''


def test_a_refused_value_names_the_option_and_not_the_secret():
    with pytest.raises(AnsibleFilterError, match='^mirror_authorization: with encoding json its password') as refused:
        authorization_header({'username': '"spegel"', 'password': 'S3cretPw', 'encoding': 'json'})
    assert 'S3cretPw' not in str(refused.value)
