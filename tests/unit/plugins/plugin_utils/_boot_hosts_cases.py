# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The settings and rendering the boot step's tests (tests/unit and tests/real) share."""

from __future__ import annotations

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _boot_hosts as boot

from _hosts_cases import AUTH  # this directory


SETTINGS = dict(ports=[30020, 30021], capabilities=['pull', 'resolve'], dial_timeout='200ms')
SECRET = dict(SETTINGS, authorization=AUTH['Authorization'])
V4, V6, BUILDER = '198.18.0.5', 'fd00:5e6e:9::5', '198.18.0.99'


def rendered(user, ip, major, settings=None, registry='docker.io'):
    settings = settings or SETTINGS
    return boot.render_file(registry, user, settings, boot.mirror_hosts(settings, ip), major)
