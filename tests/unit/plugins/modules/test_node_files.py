# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_files on awkward files: the read limit, links, FIFOs, NUL bytes, and a failure
part-way through a multi-file write (atomic_move made to fail), which must be undone or reported."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.modules import node_files
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _node as node

sys.path.insert(0, str(Path(__file__).resolve().parent))
from node_files_runner import entries, run, sha1  # noqa: E402  (this directory)


def fail_atomic_move_for(monkeypatch, failing_dest, error=errno.EBUSY):
    real = AnsibleModule.atomic_move

    def atomic_move(self, src, dest, *args, **kwargs):
        if dest == str(failing_dest):
            raise Exception(f'Could not replace {dest!r} with {src!r}.') from OSError(error, os.strerror(error))
        return real(self, src, dest, *args, **kwargs)
    monkeypatch.setattr(AnsibleModule, 'atomic_move', atomic_move)


def test_a_file_above_the_limit_is_described_but_not_read(tmp_path):
    large = tmp_path / 'config.toml'
    with open(large, 'wb') as f:
        f.truncate(node_files.MAX_READ_BYTES + 1)  # sparse: no disk space
    info = node_files.describe(str(large))
    assert info['exists'] and 'content_b64' not in info
    assert info['error'].startswith('it is %d bytes, above the 4 MiB' % (node_files.MAX_READ_BYTES + 1))


def test_a_file_at_the_limit_is_read(tmp_path):
    edge = tmp_path / 'config.toml'
    with open(edge, 'wb') as f:
        f.truncate(node_files.MAX_READ_BYTES)
    info = node_files.describe(str(edge))
    assert 'error' not in info and info['content_b64']


def test_a_link_is_followed_and_stays_a_link(capsys, tmp_path):
    (tmp_path / 'managed').mkdir()
    (tmp_path / 'managed' / 'config.toml').write_text('old\n')
    (tmp_path / 'config.toml').symlink_to('managed/config.toml')
    path = str(tmp_path / 'config.toml')
    result = run(capsys, read=[path])
    assert result['files'][path]['link_target'] == str(tmp_path / 'managed' / 'config.toml')
    result = run(capsys, write=[dict(path=path, content='new\n', expected_checksum=sha1('old\n'), backup=True)])
    assert result['changed'] and result['written'][0]['path'] == path
    assert os.readlink(path) == 'managed/config.toml'
    assert (tmp_path / 'managed' / 'config.toml').read_text() == 'new\n'
    assert open(result['written'][0]['backup_file']).read() == 'old\n'
    assert entries(tmp_path) == sorted(['config.toml', 'managed', 'managed/config.toml',
                                        os.path.basename(result['written'][0]['backup_file'])])


def test_check_mode_writes_and_removes_nothing(capsys, tmp_path):
    (tmp_path / 'config.toml').write_text('old\n')
    (tmp_path / 'gone.toml').write_text('stays\n')
    result = run(capsys, _ansible_check_mode=True, remove=[dict(path=str(tmp_path / 'gone.toml'))],
                 write=[dict(path=str(tmp_path / 'config.toml'), content='new\n', expected_checksum=sha1('old\n')),
                        dict(path=str(tmp_path / 'new' / 'hosts.toml'), content='x\n', create_parents=True)])
    assert not result['changed'] and result['written'] == [] and 'failed' not in result
    assert entries(tmp_path) == ['config.toml', 'gone.toml']
    assert (tmp_path / 'config.toml').read_text() == 'old\n' and (tmp_path / 'gone.toml').read_text() == 'stays\n'


def test_removing_a_link_empties_the_file_behind_it(capsys, tmp_path):
    (tmp_path / 'hosts.real').write_text('x\n')
    (tmp_path / 'hosts.toml').symlink_to('hosts.real')
    result = run(capsys, remove=[dict(path=str(tmp_path / 'hosts.toml'), remove_empty_parent=True)])
    assert result['changed']
    assert (tmp_path / 'hosts.toml').is_symlink() and (tmp_path / 'hosts.real').read_text() == ''


@pytest.mark.parametrize('make, kind', [
    (os.mkfifo, 'a FIFO (named pipe)'),
    (os.mkdir, 'a directory'),
    (lambda p: os.symlink(p + '.gone', p), 'symbolic link to'),
])
def test_no_regular_file_is_reported_never_opened(capsys, tmp_path, make, kind):
    path = str(tmp_path / 'config.toml')
    make(path)
    result = run(capsys, read=[path], read_globs=[str(tmp_path / '*.toml')])
    assert kind in result['files'][path]['error']
    assert result['globs'][str(tmp_path / '*.toml')] == ([] if kind == 'a directory' else [path])
    with pytest.raises(SpegelError, match='cannot be read on the node'):
        node.NodeState(result)


def test_a_fifo_is_never_written_over(capsys, tmp_path):
    os.mkfifo(tmp_path / 'config.toml')
    result = run(capsys, write=[dict(path=str(tmp_path / 'config.toml'), content='x\n')])
    assert result['failed'] and 'FIFO' in result['msg'] and str(tmp_path / 'config.toml') in result['msg']
    assert stat.S_ISFIFO(os.lstat(tmp_path / 'config.toml').st_mode)


def test_a_nul_in_a_path_is_refused_before_anything(capsys, tmp_path):
    result = run(capsys, read=[str(tmp_path / 'a')],
                 write=[dict(path=str(tmp_path / 'b\0c'), content='content-not-in-message')])
    assert result['failed'] and 'NUL' in result['msg'] and repr(str(tmp_path / 'b\0c')) in result['msg']
    assert entries(tmp_path) == []


def test_a_file_where_a_directory_belongs_is_named(capsys, tmp_path):
    (tmp_path / 'etc').write_text('')
    result = run(capsys, write=[dict(path=str(tmp_path / 'etc' / 'sub' / 'config.toml'), content='x',
                                     create_parents=True)])
    assert result['failed']
    assert 'Not a directory' in result['msg'] and f'{tmp_path}/etc is a file, not a directory' in result['msg']
    assert entries(tmp_path) == ['etc']


def test_a_rejected_validation_leaves_no_temporary_file_nor_directory(capsys, tmp_path):
    (tmp_path / 'a').write_text('old\n')
    result = run(capsys, write=[
        dict(path=str(tmp_path / 'a'), content='new\n', backup=True),
        dict(path=str(tmp_path / 'new' / 'dir' / 'b'), content='x', create_parents=True, validate='false %s'),
    ])
    assert result['failed'] and 'failed validation' in result['msg']
    assert entries(tmp_path) == ['a'] and (tmp_path / 'a').read_text() == 'old\n'


def test_a_failure_part_way_puts_back_what_was_written(capsys, tmp_path, monkeypatch):
    (tmp_path / 'first').write_text('first old\n')
    (tmp_path / 'first').chmod(0o640)
    inode = (tmp_path / 'first').stat().st_ino
    (tmp_path / 'gone').write_text('remove me\n')
    fail_atomic_move_for(monkeypatch, tmp_path / 'third')
    result = run(capsys, write=[
        dict(path=str(tmp_path / 'first'), content='first new\n'),
        dict(path=str(tmp_path / 'sub' / 'second'), content='second\n', create_parents=True, mode='0600'),
        dict(path=str(tmp_path / 'third'), content='third\n'),
    ], remove=[dict(path=str(tmp_path / 'gone'))])
    assert result['failed'] and not result['changed'] and result['written'] == []
    assert f'{tmp_path}/third: cannot replace it: Device or resource busy' in result['msg']
    assert 'nothing was changed' in result['msg']
    assert (tmp_path / 'first').read_text() == 'first old\n' and (tmp_path / 'first').stat().st_ino == inode
    assert entries(tmp_path) == ['first', 'gone']


def test_a_removal_failing_puts_back_the_writes(capsys, tmp_path, monkeypatch):
    (tmp_path / 'kept').write_text('kept\n')
    (tmp_path / 'gone').write_text('gone\n')
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if str(path) == str(tmp_path / 'gone'):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_unlink(path, *args, **kwargs)
    monkeypatch.setattr(os, 'unlink', unlink)
    result = run(capsys, write=[dict(path=str(tmp_path / 'kept'), content='new\n')],
                 remove=[dict(path=str(tmp_path / 'gone'))])
    assert result['failed'] and f'{tmp_path}/gone: cannot remove it: Permission denied' in result['msg']
    assert (tmp_path / 'kept').read_text() == 'kept\n' and entries(tmp_path) == ['gone', 'kept']


def test_what_cannot_be_put_back_is_reported_as_changed(capsys, tmp_path, monkeypatch):
    (tmp_path / 'first').write_text('old\n')
    fail_atomic_move_for(monkeypatch, tmp_path / 'second')
    real_rename = os.rename

    def rename(src, dst, *args, **kwargs):
        if '.keep' in str(src):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_rename(src, dst, *args, **kwargs)
    monkeypatch.setattr(os, 'rename', rename)
    result = run(capsys, write=[dict(path=str(tmp_path / 'first'), content='new\n'),
                                dict(path=str(tmp_path / 'second'), content='x\n')])
    assert result['failed'] and result['changed']
    assert result['written'] == [{'path': str(tmp_path / 'first'), 'action': 'changed'}]
    assert f'could not be put back: {tmp_path}/first' in result['msg']


def test_a_file_written_in_place_is_reported_as_changed(capsys, tmp_path, monkeypatch):
    """unsafe_writes wrote into the old inode: a later failure cannot undo that."""
    (tmp_path / 'bound').write_text('old\n')

    def atomic_move(self, src, dest, *args, **kwargs):
        if dest.endswith('second'):
            raise Exception('Could not replace') from OSError(errno.EBUSY, os.strerror(errno.EBUSY))
        with open(dest, 'wb') as out, open(src, 'rb') as new:
            out.write(new.read())
        os.unlink(src)
    monkeypatch.setattr(AnsibleModule, 'atomic_move', atomic_move)
    result = run(capsys, unsafe_writes=True, write=[dict(path=str(tmp_path / 'bound'), content='new\n'),
                                                    dict(path=str(tmp_path / 'second'), content='x\n')])
    assert result['failed'] and result['changed']
    assert result['written'] == [{'path': str(tmp_path / 'bound'), 'action': 'changed'}]
    assert entries(tmp_path) == ['bound']


def test_a_busy_target_is_reported_unchanged_and_points_at_unsafe_writes(capsys, tmp_path, monkeypatch):
    """A bind-mounted file: every rename onto it fails with EBUSY, the put-back rename too."""
    (tmp_path / 'a.toml').write_text('A0')
    (tmp_path / 'b.toml').write_text('B0')
    real_rename = os.rename

    def rename(src, dst, *args, **kwargs):
        if os.fsdecode(dst) == str(tmp_path / 'b.toml'):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
        return real_rename(src, dst, *args, **kwargs)
    monkeypatch.setattr(os, 'rename', rename)
    result = run(capsys, write=[dict(path=str(tmp_path / 'a.toml'), content='A1', expected_checksum=sha1('A0')),
                                dict(path=str(tmp_path / 'b.toml'), content='B1', expected_checksum=sha1('B0'))])
    assert result['failed'] and not result['changed'] and result['written'] == []
    assert f'{tmp_path}/b.toml: cannot replace it: Device or resource busy' in result['msg']
    assert 'unsafe_writes' in result['msg'] and 'ANSIBLE_UNSAFE_WRITES' in result['msg']
    assert 'nothing was changed' in result['msg'] and 'could not be put back' not in result['msg']
    assert (tmp_path / 'a.toml').read_text() == 'A0' and (tmp_path / 'b.toml').read_text() == 'B0'
    assert entries(tmp_path) == ['a.toml', 'b.toml']


def test_a_failure_reported_through_fail_json_is_rolled_back(capsys, tmp_path, monkeypatch):
    """AnsibleModule reports some errors (chown, SELinux context) with fail_json, not an exception."""
    (tmp_path / 'a.toml').write_text('A0')
    (tmp_path / 'b.toml').write_text('B0')
    real = AnsibleModule.set_fs_attributes_if_different

    def set_fs_attributes_if_different(self, file_args, changed, *args, **kwargs):
        if file_args['path'] == str(tmp_path / 'b.toml'):
            try:
                raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
            except OSError as exc:
                self.fail_json(path=file_args['path'], msg='chown failed: %s' % exc)
        return real(self, file_args, changed, *args, **kwargs)
    monkeypatch.setattr(AnsibleModule, 'set_fs_attributes_if_different', set_fs_attributes_if_different)
    result = run(capsys, write=[dict(path=str(tmp_path / 'a.toml'), content='A1', expected_checksum=sha1('A0')),
                                dict(path=str(tmp_path / 'b.toml'), content='B1', mode='0600',
                                     expected_checksum=sha1('B0'))])
    assert result['failed'] and not result['changed'] and result['written'] == []
    assert f'{tmp_path}/b.toml: cannot replace it: Operation not permitted' in result['msg']
    assert 'were put back; nothing was changed' in result['msg']
    assert (tmp_path / 'a.toml').read_text() == 'A0' and (tmp_path / 'b.toml').read_text() == 'B0'
    assert stat.S_IMODE((tmp_path / 'b.toml').stat().st_mode) == 0o644
    assert entries(tmp_path) == ['a.toml', 'b.toml']


def test_a_registry_directory_link_in_a_writable_directory_is_refused(capsys, tmp_path):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'certs.d').mkdir(mode=0o777)
    (tmp_path / 'certs.d').chmod(0o777)
    (tmp_path / 'certs.d' / 'docker.io').symlink_to(tmp_path / 'etc')
    path = str(tmp_path / 'certs.d' / 'docker.io' / 'hosts.toml')
    result = run(capsys, write=[dict(path=path, content='x\n', create_parents=True)])
    assert result['failed'] and f'{tmp_path}/certs.d/docker.io' in result['msg']
    assert 'writable by group or others' in result['msg']
    assert entries(tmp_path) == ['certs.d', 'certs.d/docker.io', 'etc']


def test_a_link_repointed_after_staging_is_refused_and_nothing_written(capsys, tmp_path, monkeypatch):
    (tmp_path / 'managed').write_text('old\n')
    (tmp_path / 'other').write_text('other\n')
    (tmp_path / 'config.toml').symlink_to('managed')

    def validate(module, path, command, tmp):  # runs between staging and commit
        os.unlink(path)
        os.symlink('other', path)
        return ''
    monkeypatch.setattr(node_files, 'validate', validate)
    result = run(capsys, write=[dict(path=str(tmp_path / 'config.toml'), content='new\n',
                                     expected_checksum=sha1('old\n'), validate='true %s')])
    assert result['failed'] and not result['changed'] and 'changed on the node' in result['msg']
    assert (tmp_path / 'managed').read_text() == 'old\n' and (tmp_path / 'other').read_text() == 'other\n'
    assert entries(tmp_path) == ['config.toml', 'managed', 'other']


def test_a_file_replaced_after_staging_is_refused(capsys, tmp_path, monkeypatch):
    """Same content, another inode: the lock compares the file, not only its bytes."""
    (tmp_path / 'config.toml').write_text('old\n')

    def validate(module, path, command, tmp):
        os.unlink(path)
        with open(path, 'w') as new:
            new.write('old\n')
        return ''
    monkeypatch.setattr(node_files, 'validate', validate)
    result = run(capsys, write=[dict(path=str(tmp_path / 'config.toml'), content='new\n',
                                     expected_checksum=sha1('old\n'), validate='true %s')])
    assert result['failed'] and 'changed on the node' in result['msg']
    assert (tmp_path / 'config.toml').read_text() == 'old\n' and entries(tmp_path) == ['config.toml']


def test_removing_from_a_linked_registry_directory_keeps_the_directory_behind_it(capsys, tmp_path):
    (tmp_path / 'managed' / 'docker.io').mkdir(parents=True)
    (tmp_path / 'managed' / 'docker.io' / 'hosts.toml').write_text('x\n')
    (tmp_path / 'certs.d').mkdir()
    (tmp_path / 'certs.d' / 'docker.io').symlink_to('../managed/docker.io')
    result = run(capsys, remove=[dict(path=str(tmp_path / 'certs.d' / 'docker.io' / 'hosts.toml'),
                                      remove_empty_parent=True)])
    assert result['changed']
    assert entries(tmp_path) == ['certs.d', 'certs.d/docker.io', 'managed', 'managed/docker.io']
    assert (tmp_path / 'certs.d' / 'docker.io').is_symlink() and (tmp_path / 'certs.d' / 'docker.io').is_dir()


def test_removing_the_last_file_removes_its_plain_directory(capsys, tmp_path):
    (tmp_path / 'docker.io').mkdir()
    (tmp_path / 'docker.io' / 'hosts.toml').write_text('x\n')
    result = run(capsys, remove=[dict(path=str(tmp_path / 'docker.io' / 'hosts.toml'), remove_empty_parent=True)])
    assert result['changed'] and entries(tmp_path) == []


def test_a_new_secret_file_is_never_looser_than_its_mode(capsys, tmp_path, monkeypatch):
    seen = []
    real = AnsibleModule.atomic_move

    def atomic_move(self, src, dest, *args, **kwargs):
        real(self, src, dest, *args, **kwargs)
        seen.append(stat.S_IMODE(os.stat(dest).st_mode))
    monkeypatch.setattr(AnsibleModule, 'atomic_move', atomic_move)
    (tmp_path / 'existing').write_text('old\n')
    (tmp_path / 'existing').chmod(0o644)
    run(capsys, write=[dict(path=str(tmp_path / 'new'), content='token\n', mode='0600'),
                       dict(path=str(tmp_path / 'existing'), content='token\n', mode='0600'),
                       dict(path=str(tmp_path / 'plain'), content='x\n', mode='0644')])
    assert all(mode & 0o077 == 0 for mode in seen[:2]), [oct(m) for m in seen]
    assert [stat.S_IMODE(os.stat(tmp_path / n).st_mode) for n in ('new', 'existing', 'plain')] == [0o600, 0o600, 0o644]


def test_module_failure_without_msg_names_the_exception():
    class Event:
        msg = "[Errno 40] Too many levels of symbolic links: '/etc/containerd/config.toml'"

    class Captured:
        event = Event()
    message = str(node.NodeFilesError({'failed': True, 'exception': Captured()}))
    assert 'Too many levels of symbolic links' in message and '/etc/containerd/config.toml' in message


# --- list_dirs ------------------------------------------------------------------------------

def test_a_directory_is_listed_by_name_and_type_without_a_file_opened(capsys, tmp_path):
    hosts = tmp_path / 'certs.d'
    (hosts / 'docker.io').mkdir(parents=True)
    (hosts / 'docker.io' / 'hosts.toml').write_text('server = "https://registry-1.docker.io"\n')
    (tmp_path / 'elsewhere').mkdir()
    (hosts / 'ghcr.io').symlink_to(tmp_path / 'elsewhere')  # containerd's os.Stat follows it
    (hosts / 'ca.crt').write_text('-----BEGIN CERTIFICATE-----\n')
    os.mkfifo(hosts / 'pipe')  # stat only: a FIFO never blocks the listing
    (hosts / 'gone').symlink_to(tmp_path / 'nothing')
    (hosts / 'loop').symlink_to(hosts / 'loop')
    result = run(capsys, list_dirs=[str(hosts), str(tmp_path / 'missing')])
    assert not result['changed'] and result['files'] == {}
    assert result['dirs'][str(hosts)] == {'exists': True, 'entries': {
        'docker.io': {'type': 'directory', 'link': False},
        'ghcr.io': {'type': 'directory', 'link': True},
        'ca.crt': {'type': 'file', 'link': False},
        'pipe': {'type': 'other', 'link': False},
        'gone': {'type': 'broken', 'link': True},
        'loop': {'type': 'broken', 'link': True},
    }}
    assert 'BEGIN CERTIFICATE' not in str(result) and 'registry-1' not in str(result)
    assert result['dirs'][str(tmp_path / 'missing')] == {'exists': False, 'entries': {}}
    listing = node.NodeState(result).dirs[str(hosts)]
    assert listing.names('directory') == ['docker.io', 'ghcr.io'] and listing.names('file') == ['ca.crt']


def test_a_file_where_the_directory_should_be_is_named_and_refused_by_the_controller(capsys, tmp_path):
    (tmp_path / 'certs.d').write_text('')
    path = str(tmp_path / 'certs.d')
    result = run(capsys, list_dirs=[path])
    assert result['dirs'][path] == {'exists': True, 'entries': {},
                                    'error': 'Not a directory: move it away or choose another path'}
    with pytest.raises(SpegelError, match='^%s cannot be listed on the node: Not a directory: ' % path):
        node.NodeState(result)


def test_a_directory_above_the_entry_limit_is_not_listed(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(node_files, 'MAX_LIST_ENTRIES', 3)
    for name in 'abcd':
        (tmp_path / name).mkdir()
    assert node_files.list_dir(str(tmp_path))['error'].startswith('it holds more than 3 entries')
    (tmp_path / 'd').rmdir()
    assert len(node_files.list_dir(str(tmp_path))['entries']) == 3


def list_as_the_test_user(locked, mode):
    """list_dir(locked) with locked at mode, as nobody when root (root reads any directory)."""
    locked.chmod(mode)
    if os.geteuid() == 0:
        os.seteuid(65534)
    try:
        return node_files.list_dir(str(locked))
    finally:
        if os.getuid() == 0:
            os.seteuid(0)
        locked.chmod(0o700)


def test_a_directory_that_cannot_be_read_says_why():
    """Only the directory itself is unreadable: its parents are searchable by everyone (not under
    tmp_path, whose base directory is 0700, so nobody would be stopped there), and the same
    directory made readable is listed; then a searchable (x) but unreadable (no r) mode is refused."""
    base = Path(tempfile.mkdtemp(prefix='node-files-list-'))
    try:
        base.chmod(0o755)
        assert all(os.stat(parent).st_mode & 0o005 == 0o005 for parent in [base, *base.parents])
        locked = base / 'certs.d'
        locked.mkdir()
        (locked / 'docker.io').mkdir()
        assert list_as_the_test_user(locked, 0o755)['entries'] == {'docker.io': {'type': 'directory', 'link': False}}
        unreadable = 0o711 if os.geteuid() == 0 else 0o300  # others (nobody), or the owner: x without r
        assert list_as_the_test_user(locked, unreadable) == {
            'exists': True, 'entries': {},
            'error': 'Permission denied: run the task as root (become: true) or fix the permissions'}
    finally:
        shutil.rmtree(base)


def test_a_nul_in_a_listed_path_is_refused(capsys, tmp_path):
    result = run(capsys, list_dirs=[str(tmp_path) + '\0x'])
    assert result['failed'] and 'NUL byte' in result['msg'] and 'dirs' not in result


def test_a_write_of_the_content_already_there_changes_only_the_metadata_in_place(capsys, tmp_path):
    """No rename (the inode stays): how an immutable file can be made mutable (-i); the real
    chattr: tests/real/plugins/action/test_toml_file.py."""
    path = tmp_path / 'hosts.toml'
    path.write_text('server = "x"\n')
    path.chmod(0o644)
    inode = path.stat().st_ino
    result = run(capsys, write=[dict(path=str(path), content='server = "x"\n', mode='0600',
                                     expected_checksum=sha1('server = "x"\n'))])
    assert result['changed'] and result['written'] == [{'path': str(path), 'action': 'written'}]
    assert path.stat().st_ino == inode and oct(path.stat().st_mode)[-3:] == '600'
    assert entries(tmp_path) == ['hosts.toml']


def test_read_attributes_adds_lsattrs_letters_only_when_asked(capsys, tmp_path):
    path = tmp_path / 'config.toml'
    path.write_text('version = 2\n')
    assert 'attributes' not in run(capsys, read=[str(path)])['files'][str(path)]
    info = run(capsys, read=[str(path)], read_attributes=True)['files'][str(path)]
    # A string, or None where the file system has no attributes (lsattr fails there).
    assert 'attributes' in info and (info['attributes'] is None or info['attributes'].isalpha()
                                     or info['attributes'] == '')
    assert 'secontext' not in info  # no SELinux on the hosts these tests run on


def test_a_write_locked_on_a_read_writes_nothing_when_the_read_finds_something_else(capsys, tmp_path):
    (tmp_path / 'a').write_text('old\n')
    (tmp_path / 'dropin').write_text('one\n')
    request = dict(read=[str(tmp_path / 'a'), str(tmp_path / 'dropin')], exists=[str(tmp_path / 'mark')])
    first = run(capsys, **request)
    assert run(capsys, **request)['read_digest'] == first['read_digest']  # the same node, the same digest
    write = [dict(path=str(tmp_path / 'a'), content='new\n', expected_checksum=sha1('old\n'))]

    (tmp_path / 'mark').write_text('')  # a path only asked about appears: no file to write changed
    refused = run(capsys, write=write, expect_read_digest=first['read_digest'], **request)
    assert refused['failed'] and refused['changed_meanwhile'] == 'the files and probes read for the plan'
    assert (tmp_path / 'a').read_text() == 'old\n' and entries(tmp_path) == ['a', 'dropin', 'mark']

    (tmp_path / 'mark').unlink()
    done = run(capsys, write=write, expect_read_digest=first['read_digest'], **request)
    assert 'failed' not in done and (tmp_path / 'a').read_text() == 'new\n'


def test_a_write_locked_on_a_read_cannot_come_with_a_restart(capsys, tmp_path):
    result = run(capsys, read=[str(tmp_path / 'a')], restart=['containerd'], expect_read_digest='0' * 64,
                 write=[dict(path=str(tmp_path / 'a'), content='x')])
    assert result['failed'] and 'cannot be given with restart' in result['msg'] and entries(tmp_path) == []


def test_the_read_digest_leaves_out_what_changes_by_itself():
    def found(now_us, started_us, life_time, stderr, pods=()):
        links = [{'ifname': 'eth0', 'flags': ['UP'], 'addr_info': [
            {'local': '198.18.0.5', 'scope': 'global', 'valid_life_time': life_time, 'preferred_life_time': life_time}]}]
        links += [{'ifname': 'veth%d' % pod, 'flags': ['UP'], 'addr_info': [
            {'local': '198.19.%d.1' % pod, 'scope': 'global'}]} for pod in pods]
        return dict(files={'/etc/containerd/config.toml': {'exists': True, 'checksum': 'c'}},
                    service={'name': 'containerd', 'active_state': 'active', 'started_monotonic_us': 5_000_000,
                             'started_us': started_us, 'now_us': now_us},
                    network={'source': 'ip', 'addresses': links,
                             'route_v4': [{'dst': '8.8.8.8', 'prefsrc': '198.18.0.5', 'dev': 'eth0', 'expires': now_us}]},
                    config_dump={'path': '/etc/containerd/config.toml', 'rc': 0, 'stdout': 'version = 3\n',
                                 'stderr': stderr}, cri_plugins={'loaded': now_us % 2 == 0})
    one = node_files.read_digest(found(1_000_000_000, 1_700_000_000_999_999, 3600, 'time="12:00:00" level=warning'))
    # a second later: the clock, the wall-clock start (by a microsecond), lifetimes, log lines, pods
    assert one == node_files.read_digest(found(1_000_000_001, 1_700_000_001_000_000, 3599,
                                               'time="12:00:01" level=warning', pods=(1, 2)))
    restarted = found(1_000_000_000, 1_700_000_000_999_999, 3600, '')
    restarted['service']['started_monotonic_us'] = 9_000_000
    assert node_files.read_digest(restarted) != one  # the unit started again: the plan's restart_pending is stale
    moved = found(1_000_000_000, 1_700_000_000_999_999, 3600, '')
    moved['network']['addresses'][0]['addr_info'][0]['local'] = '198.18.0.6'
    assert node_files.read_digest(moved) != one
