# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The boot step's settings filter: refused settings named, secrets never in the message."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.filter.boot_settings import boot_settings

BAKED = dict(hosts_dir='/etc/containerd/certs.d', registries=['docker.io'], ports=[30020], urls=[],
             capabilities=['pull', 'resolve'], dial_timeout='200ms', server={}, authorization='', node_ip='',
             containerd_version='')


@pytest.mark.parametrize('change', [
    {'urls': ['https://bob:S3cretPw@mirror.corp:5000']},
    {'urls': ['https://bob:pa@S3cretPw@mirror.corp:5000']},
    {'server': {'docker.io': 'https://bob:S3cretPw@r.corp'}},
])
def test_url_credentials_are_refused_without_showing_them(change):
    with pytest.raises(AnsibleFilterError, match='credentials do not belong in the URL') as refused:
        boot_settings(dict(BAKED, **change))
    assert 'S3cretPw' not in str(refused.value)


def test_settings_come_back_as_given():
    settings = dict(BAKED, server={'docker.io': 'HTTPS://R.Corp/'}, authorization={'username': 'u', 'password': 1})
    assert boot_settings(settings) == settings
