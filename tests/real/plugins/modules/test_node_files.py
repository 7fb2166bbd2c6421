# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_files where only root can set the case up: a write as nobody into a directory nobody
cannot write, and links owned by other users (chown). The rest: tests/unit/plugins/modules/test_node_files.py."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'modules'))
from node_files_runner import entries, run  # noqa: E402  (tests/unit/plugins/modules, put on sys.path just above)


def test_a_write_into_a_directory_the_user_cannot_write_says_permission_denied(capsys):
    """A real EACCES: the task's user (nobody, as without become) cannot create the staged file."""
    if os.geteuid() != 0:
        pytest.fail('this test drops privileges to nobody and needs root')
    # Not under tmp_path: pytest's base directory is 0700, so nobody could not even reach it.
    base = Path(tempfile.mkdtemp(prefix='node-files-eacces-'))
    try:
        base.chmod(0o755)
        certs = base / 'certs.d'
        certs.mkdir()
        (certs / 'hosts.toml').write_text('server = "https://registry-1.docker.io"\n')
        certs.chmod(0o555)
        os.seteuid(65534)
        try:
            result = run(capsys, write=[dict(path=str(certs / 'hosts.toml'), content='new\n'),
                                        dict(path=str(certs / 'new.toml'), content='new\n')])
        finally:
            os.seteuid(0)
        assert result['failed'] and not result['changed'] and result['written'] == []
        assert f'{certs}/hosts.toml: cannot create a temporary file in {certs}: Permission denied: ' \
               'run the task as root (become: true) or fix the permissions' in result['msg']
        assert (certs / 'hosts.toml').read_text() == 'server = "https://registry-1.docker.io"\n'
        assert entries(certs) == ['hosts.toml']
    finally:
        shutil.rmtree(base)


def planted_link(tmp_path, dir_mode=0o755, link_owner=None, dir_group=0):
    """certs.d/docker.io/hosts.toml, a link to a file outside its directory (a stand-in for /etc/shadow)."""
    secret = tmp_path / 'etc' / 'shadow'
    secret.parent.mkdir()
    secret.write_text('root:HASH\n')
    registry = tmp_path / 'certs.d' / 'docker.io'
    registry.mkdir(parents=True)
    registry.chmod(dir_mode)
    os.chown(registry, 0, dir_group)
    link = registry / 'hosts.toml'
    link.symlink_to(secret)
    if link_owner is not None:
        os.lchown(link, link_owner, link_owner)
    return str(link), secret


@pytest.mark.parametrize('dir_mode, dir_group, link_owner, reason', [
    (0o777, 0, None, 'writable by group or others'),
    (0o775, 65534, None, 'writable by group or others'),
    (0o755, 0, 65534, 'owned by uid 65534'),
])
def test_a_link_someone_else_could_have_planted_is_never_followed(capsys, tmp_path, dir_mode, dir_group, link_owner,
                                                                  reason):
    link, secret = planted_link(tmp_path, dir_mode, link_owner, dir_group)
    before = entries(tmp_path)
    result = run(capsys, read=[link])
    assert 'content_b64' not in result['files'][link] and reason in result['files'][link]['error']
    result = run(capsys, write=[dict(path=link, content='server = "x"\n')])
    assert result['failed'] and not result['changed']
    assert result['msg'].startswith(f'{link}: it is a symbolic link') and reason in result['msg']
    assert 'replace the link' in result['msg']
    result = run(capsys, remove=[dict(path=link)])
    assert result['failed'] and reason in result['msg']
    assert secret.read_text() == 'root:HASH\n' and entries(tmp_path) == before


def test_a_link_of_root_in_a_directory_of_root_group_is_followed(capsys, tmp_path):
    """Group-writable by group root (gid 0) only: no one but root can plant a link there."""
    link, _secret = planted_link(tmp_path, 0o775)
    assert run(capsys, read=[link])['files'][link]['content_b64']


def test_a_users_link_to_their_own_file_is_followed(capsys, tmp_path):
    """Rootless containerd: a user's certs.d linking to the user's own file."""
    link, secret = planted_link(tmp_path, link_owner=65534)
    os.chown(secret, 65534, 65534)
    result = run(capsys, write=[dict(path=link, content='new\n')])
    assert result['changed'] and secret.read_text() == 'new\n' and os.path.islink(link)
