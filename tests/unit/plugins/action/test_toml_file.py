# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""toml_file's options that are wrong whatever the node holds."""

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.action.toml_file import check_options, normalise_mode


@pytest.mark.parametrize('mode, octal', [
    ('0644', '0644'), ('644', '0644'), ('0o644', '0644'), ('0600', '0600'),
    # YAML reads an unquoted 0644 as 420 and 420 as 420: ansible.builtin.copy takes an integer as the mode.
    (420, '0644'), (0o600, '0600'), (644, '1204'), (0, '0000'), (0o7777, '7777'), (None, None),
])
def test_mode_is_read_as_ansible_builtin_copy_reads_it(mode, octal):
    assert normalise_mode(mode, '/f.toml') == octal


@pytest.mark.parametrize('mode', ['u=rw,g=r,o=r', '0999', '', True, 0o10000, -1, 6.44, ['0644']])
def test_other_modes_are_refused_naming_the_file(mode):
    with pytest.raises(SpegelError, match=r"^/f.toml: mode must be octal"):
        normalise_mode(mode, '/f.toml')


@pytest.mark.parametrize('path, validate, message', [
    ('relative.toml', None, "path must be an absolute path such as /etc/containerd/config.toml, got 'relative.toml'"),
    ('./etc/config.toml', None, 'path must be an absolute path'),
    ('/etc/containerd/config.toml', 'containerd config dump', 'validate must contain %s'),
])
def test_options_refused_before_the_node_is_read(path, validate, message):
    with pytest.raises(SpegelError, match=message):
        check_options(path, validate)


def test_good_options_pass():
    check_options('/etc/containerd/config.toml', 'containerd --config %s config dump')
    check_options('/etc/containerd/config.toml', None)
