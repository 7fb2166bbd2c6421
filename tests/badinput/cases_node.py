# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad filesystems on the node: what node_files does where a file cannot be written.

Read-only mounts and full disks are small tmpfs mounts inside the case directory; their
cleanup copies what the mount holds into the directory below it before unmounting, so the
harness's tree after the run shows the mount's content (and any temporary file left in it).
Immutable entries get `chattr +i` in prepare and lose it in cleanup.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

from harness import Case, Dir, Fifo, File, Link

# tests/containerd/harness.py (real containerd's config dump), under a name of its own.
_SPEC = importlib.util.spec_from_file_location(
    'containerd_harness', Path(__file__).resolve().parents[1] / 'containerd' / 'harness.py')
containerd_harness = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(containerd_harness)

MIRROR = 'http://198.18.0.5:30020'
# A file of root's that a planted link points at (a stand-in for /etc/shadow): never read.
SHADOW = 'root:$6$PLANTEDLINKSECRET:19000:0:99999:7:::\n'
CONFIG_V2 = 'version = 2\n'
# A hosts.toml with nothing but the module's own entry: state=absent removes the file.
ONLY_MIRROR = "[host.'%s']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'\n" % MIRROR
GKE_MIRRORS = '''version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.gcr.io"]
'''


def _run(*argv):
    subprocess.run(argv, check=True, capture_output=True)


def tmpfs(relative, files=None, size='64k', read_only=False, fill=False):
    """(prepare, cleanup) for a tmpfs at relative holding files; fill leaves no free block."""
    def prepare(directory):
        mount = directory / relative
        mount.mkdir(parents=True, exist_ok=True)
        _run('mount', '-t', 'tmpfs', '-o', f'size={size},mode=0755', 'tmpfs', str(mount))
        for name, content in (files or {}).items():
            path = mount / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(0o644)
        if fill:
            fd = os.open(mount / 'filler', os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                while os.write(fd, b'\0' * 512):
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)
        if read_only:
            _run('mount', '-o', 'remount,ro', str(mount))

    def cleanup(directory):
        mount = directory / relative
        kept = Path(tempfile.mkdtemp(prefix='node-case-'))
        try:
            shutil.copytree(mount, kept / 'tree', symlinks=True)
            _run('umount', str(mount))
            shutil.copytree(kept / 'tree', mount, symlinks=True, dirs_exist_ok=True)
        finally:
            shutil.rmtree(kept)
    return prepare, cleanup


def immutable(*relatives):
    def prepare(directory):
        for relative in relatives:
            _run('chattr', '+i', str(directory / relative))

    def cleanup(directory):
        for relative in relatives:
            _run('chattr', '-i', str(directory / relative))
    return prepare, cleanup


def unix_socket(relative):
    def prepare(directory):
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(directory / relative))
        server.close()
    return prepare


def bind_mounted(relative):
    """(prepare, cleanup): the file is a mount point (bound onto itself), as a file a container
    runtime or kubelet bind-mounts: no rename can replace it."""
    def prepare(directory):
        _run('mount', '--bind', str(directory / relative), str(directory / relative))

    def cleanup(directory):
        _run('umount', str(directory / relative))
    return prepare, cleanup


def link_owner(relative, uid):
    def prepare(directory):
        os.lchown(directory / relative, uid, uid)
    return prepare


def null_device(relative):
    def prepare(directory):
        os.mknod(directory / relative, 0o644 | stat.S_IFCHR, os.makedev(1, 3))
    return prepare


def link_kept(link, target_text, inside=''):
    """A judge: `link` is still a symbolic link, and the file behind it (or `inside` the
    directory behind it) holds target_text."""
    def judge(directory, result, _bin_dir):
        path = directory / link
        assert path.is_symlink(), f'{path} is no longer a symbolic link'
        text = (path / inside if inside else path).read_text()
        assert target_text in text, f'{target_text!r} not in the file behind {path}'
    return judge


def config_judge(link, family):
    """containerd reads the file behind the link, which still is a link, with Spegel's settings."""
    def judge(directory, result, _bin_dir):
        path = directory / link
        assert path.is_symlink(), f'{path} is no longer a symbolic link'
        dump = containerd_harness.config_dump(containerd_harness.containerd_binaries()[family], path)
        settings = containerd_harness.effective_registry_settings(dump)
        assert settings == {'config_path': f'{directory}/certs.d', 'discard_unpacked_layers': False}, settings
        original = directory / (link + '.peerpull-orig')
        assert not original.is_symlink() and original.read_text() == CONFIG_V2
    return judge


def link_free_content(relative, text):
    """A judge: relative is a plain file holding exactly text."""
    def judge(directory, result, _bin_dir):
        path = directory / relative
        assert not path.is_symlink() and path.read_text() == text, path.read_text()
    return judge


def directory_kept(link, behind):
    """A judge: `link` is still a symbolic link to the directory `behind`, which still exists."""
    def judge(directory, result, _bin_dir):
        assert (directory / link).is_symlink(), f'{directory / link} is no longer a symbolic link'
        assert (directory / behind).is_dir(), f'{directory / behind} was removed behind the link'
    return judge


def _case(id_, module, args, expect, **kwargs):
    hooks = kwargs.pop('hooks', None)
    if hooks:
        kwargs['prepare'], kwargs['cleanup'] = hooks
    return Case(id=id_, module=module, args=args, expect=expect, **kwargs)


TOML = 'peerpull.spegel.toml_file'
HOSTS = 'peerpull.spegel.containerd_hosts'
CONFIG = 'peerpull.spegel.containerd_config'


def toml_args(path, **extra):
    return dict(path=path, key=['a', 'b'], value='c', **extra)


def hosts_args(**extra):
    return dict(hosts_dir='{dir}/certs.d', mirrors=[MIRROR], **extra)


CASES = [
    # Read-only file systems
    _case('node-ro-toml', TOML, toml_args('{dir}/ro/config.toml'), 'refused',
          hooks=tmpfs('ro', {'config.toml': 'x = 1\n'}, read_only=True),
          message=('{dir}/ro/config.toml', 'Read-only file system'),
          why='config.toml on a read-only /etc (an immutable OS image)'),
    _case('node-ro-toml-create', TOML, toml_args('{dir}/ro/sub/config.toml', create=True), 'refused',
          hooks=tmpfs('ro', read_only=True),
          message=('{dir}/ro/sub', 'Read-only file system'),
          why='a new file whose parent directory must be made on a read-only mount'),
    _case('node-ro-hosts', HOSTS, hosts_args(), 'refused',
          hooks=tmpfs('certs.d', read_only=True),
          message=('{dir}/certs.d/_default', 'Read-only file system'),
          why='the registry hosts directory on a read-only mount'),
    _case('node-ro-config', CONFIG, dict(path='{dir}/ro/config.toml', hosts_dir='{dir}/certs.d'), 'refused',
          hooks=tmpfs('ro', {'config.toml': CONFIG_V2}, read_only=True), containerd='2.1',
          message=('{dir}/ro/config.toml', 'Read-only file system'),
          why='containerd_config on a read-only /etc/containerd: neither the copy nor the file is written'),
    _case('node-ro-hosts-migrated', CONFIG, dict(path='{dir}/config.toml', hosts_dir='{dir}/certs.d'),
          'refused', files={'config.toml': GKE_MIRRORS},
          hooks=tmpfs('certs.d', read_only=True), containerd='1.7',
          message=('{dir}/certs.d/docker.io', 'Read-only file system'),
          why='legacy mirrors migrate into a read-only hosts dir: config.toml is not changed either'),
    # Immutable files and directories
    _case('node-immutable-toml', TOML, toml_args('{dir}/config.toml'), 'refused',
          files={'config.toml': 'x = 1\n'}, hooks=immutable('config.toml'),
          message=('{dir}/config.toml', 'immutable', 'chattr -i'),
          why='a config protected with chattr +i'),
    _case('node-toml-attribute-chattr-refuses', TOML, toml_args('{dir}/config.toml', attributes='+Z', mode='0600'),
          'refused', files={'config.toml': 'x = 1\n'},
          message=('{dir}/config.toml', "attributes '+Z': chattr failed", 'use letters chattr takes'),
          why='a letter chattr does not know: the new content and mode are put back'),
    _case('node-immutable-second-hosts', HOSTS, hosts_args(registries=['_default', 'docker.io']), 'refused',
          files={'certs.d/docker.io/hosts.toml': 'server = "https://registry-1.docker.io"\n'},
          hooks=immutable('certs.d/docker.io/hosts.toml'),
          message=('{dir}/certs.d/docker.io/hosts.toml', 'immutable'),
          why='two files, the second immutable: the first is not written either'),
    _case('node-immutable-dir-hosts', HOSTS, hosts_args(registries=['_default', 'docker.io']), 'refused',
          files={'certs.d/docker.io': Dir()}, hooks=immutable('certs.d/docker.io'),
          message=('{dir}/certs.d/docker.io', 'Operation not permitted'),
          why='an immutable registry directory: no temporary file can be made in it'),
    _case('node-immutable-config', CONFIG, dict(path='{dir}/config.toml', hosts_dir='{dir}/certs.d'), 'refused',
          files={'config.toml': CONFIG_V2}, hooks=immutable('config.toml'), containerd='2.1',
          message=('{dir}/config.toml', 'immutable'),
          why='an immutable config.toml: no .peerpull-orig is left behind'),
    _case('node-immutable-remove', HOSTS, hosts_args(state='absent'), 'refused',
          files={'certs.d/_default/hosts.toml': ONLY_MIRROR},
          hooks=immutable('certs.d/_default/hosts.toml'),
          message=('{dir}/certs.d/_default/hosts.toml', 'immutable'),
          why='uninstall meets an immutable hosts.toml it would remove'),
    _case('node-ro-remove', HOSTS, hosts_args(state='absent'), 'refused',
          hooks=tmpfs('certs.d', {'_default/hosts.toml': ONLY_MIRROR}, read_only=True),
          message=('{dir}/certs.d/_default/hosts.toml', 'Read-only file system'),
          why='uninstall of hosts.toml on a read-only mount'),
    # No space left
    _case('node-full-toml', TOML, toml_args('{dir}/full/config.toml'), 'refused',
          hooks=tmpfs('full', {'config.toml': 'x = 1\n'}, fill=True),
          message=('{dir}/full/config.toml', 'No space left on device'),
          why='a full /etc: the write fails and no truncated temporary file stays'),
    _case('node-full-hosts', HOSTS, hosts_args(registries=['_default', 'docker.io']), 'refused',
          hooks=tmpfs('certs.d', {'_default/.keep': '', 'docker.io/.keep': ''}, fill=True),
          message=('{dir}/certs.d/', 'No space left on device'),
          why='a full disk under the hosts dir'),
    _case('node-full-backup', TOML, toml_args('{dir}/full/config.toml', backup=True), 'refused',
          hooks=tmpfs('full', {'config.toml': 'x = 1\n'}, fill=True),
          message=('{dir}/full/config.toml', 'No space left on device'),
          why='backup: true on a full disk: no half backup stays'),
    _case('node-full-config', CONFIG, dict(path='{dir}/full/config.toml', hosts_dir='{dir}/certs.d'), 'refused',
          hooks=tmpfs('full', {'config.toml': CONFIG_V2}, fill=True), containerd='2.1',
          message=('{dir}/full/config.toml', 'No space left on device'),
          why='containerd_config on a full disk: not even the file to validate can be staged'),
    # A file where a directory belongs
    _case('node-parent-file-toml', TOML, toml_args('{dir}/etc/config.toml', create=True), 'refused',
          files={'etc': 'not a directory\n'},
          message=('{dir}/etc', 'Not a directory'),
          why='a file stands where the config directory should be'),
    _case('node-parent-file-hosts', HOSTS, hosts_args(registries=['_default', 'docker.io']), 'refused',
          files={'certs.d/docker.io': 'oops\n'},
          message=('{dir}/certs.d/docker.io', 'Not a directory'),
          why='a registry "directory" that is a file: _default is not written either'),
    _case('node-hosts-dir-file', HOSTS, hosts_args(), 'refused',
          files={'certs.d': 'oops\n'},
          message=('{dir}/certs.d', 'Not a directory'),
          why='hosts_dir names a file'),
    # A NUL in a path
    _case('node-nul-toml', TOML, toml_args('{dir}/con\0fig.toml', create=True), 'refused',
          message=('{dir}/con\\x00fig.toml', 'NUL'),
          why='a path with a NUL byte (a templating accident)'),
    _case('node-nul-hosts', HOSTS, dict(hosts_args(), hosts_dir='{dir}/cer\0ts.d'), 'refused',
          message=('NUL',),
          why='hosts_dir with a NUL byte'),
    # Not a regular file
    _case('node-fifo-toml', TOML, toml_args('{dir}/config.toml'), 'refused',
          files={'config.toml': Fifo()},
          message=('{dir}/config.toml', 'FIFO', 'regular file'),
          why='a named pipe where config.toml belongs: refused at once, never read'),
    _case('node-fifo-hosts', HOSTS, hosts_args(), 'refused',
          files={'certs.d/_default/hosts.toml': Fifo()},
          message=('{dir}/certs.d/_default/hosts.toml', 'FIFO'),
          why='a named pipe where hosts.toml belongs'),
    _case('node-fifo-config', CONFIG, dict(path='{dir}/config.toml', hosts_dir='{dir}/certs.d'), 'refused',
          files={'config.toml': Fifo()}, containerd='2.1',
          message=('{dir}/config.toml', 'FIFO'),
          why='a named pipe where containerd_config reads and dumps config.toml'),
    _case('node-fifo-dropin', CONFIG, dict(path='{dir}/config.toml', hosts_dir='{dir}/certs.d'), 'refused',
          files={'config.toml': 'version = 2\nimports = ["conf.d/*.toml"]\n', 'conf.d/x.toml': Fifo()},
          containerd='2.1', message=('{dir}/conf.d/x.toml', 'FIFO'),
          why='a named pipe among the drop-ins: containerd itself would block on it (its dump is cut short)'),
    _case('node-socket-toml', TOML, toml_args('{dir}/config.toml'), 'refused',
          prepare=unix_socket('config.toml'),
          message=('{dir}/config.toml', 'socket'),
          why='a socket where a file is expected'),
    _case('node-device-toml', TOML, toml_args('{dir}/config.toml'), 'refused',
          prepare=null_device('config.toml'),
          message=('{dir}/config.toml', 'character device'),
          why='a device (it reads as empty) is never replaced by a file'),
    _case('node-dir-toml', TOML, toml_args('{dir}/config.toml'), 'refused',
          files={'config.toml': Dir()},
          message=('{dir}/config.toml', 'directory'),
          why='a directory where a file is expected'),
    # Symbolic links: the target is edited, the link stays
    _case('node-link-toml', TOML, toml_args('{dir}/config.toml'), 'changed',
          files={'managed/config.toml': 'x = 1\n', 'config.toml': Link('managed/config.toml')},
          written=(), judge=link_kept('config.toml', 'b = "c"'),
          why='config.toml links into a config-management directory'),
    _case('node-link-hosts', HOSTS, hosts_args(), 'changed',
          files={'managed/hosts.toml': '', 'certs.d/_default/hosts.toml': Link('{dir}/managed/hosts.toml')},
          judge=link_kept('certs.d/_default/hosts.toml', MIRROR),
          why='hosts.toml is a link to a managed file'),
    _case('node-link-dir-hosts', HOSTS, hosts_args(registries=['docker.io']), 'changed',
          files={'managed/docker.io': Dir(), 'certs.d/docker.io': Link('../managed/docker.io')},
          written=('managed/docker.io/hosts.toml',),
          judge=link_kept('certs.d/docker.io', MIRROR, inside='hosts.toml'),
          why='a registry directory that is a link'),
    _case('node-link-config', CONFIG, dict(path='{dir}/config.toml', hosts_dir='{dir}/certs.d'), 'changed',
          files={'managed/config.toml': CONFIG_V2, 'config.toml': Link('managed/config.toml')},
          written=('config.toml.peerpull-orig',), containerd='2.1',
          judge=config_judge('config.toml', '2.1'),
          why='containerd_config edits the file behind the link; the saved original is a plain copy'),
    _case('node-link-dangling', TOML, toml_args('{dir}/config.toml', create=True), 'refused',
          files={'config.toml': Link('{dir}/gone/config.toml')},
          message=('{dir}/config.toml', '{dir}/gone/config.toml', 'does not exist'),
          why='a link to a file that is gone is not silently replaced'),
    _case('node-link-loop', TOML, toml_args('{dir}/config.toml'), 'refused',
          files={'config.toml': Link('other.toml'), 'other.toml': Link('config.toml')},
          message=('{dir}/config.toml', 'Too many levels of symbolic links'),
          why='a loop of links'),
    _case('node-link-fifo', TOML, toml_args('{dir}/config.toml'), 'refused',
          files={'pipe': Fifo(), 'config.toml': Link('pipe')},
          message=('{dir}/config.toml', 'FIFO'),
          why='a link to a named pipe'),
    _case('node-link-check', TOML, toml_args('{dir}/config.toml'), 'ok', check_mode=True,
          files={'managed/config.toml': '[a]\nb = "c"\n', 'config.toml': Link('managed/config.toml')},
          why='check mode reads through the link and finds nothing to do'),
    _case('node-fifo-check', TOML, toml_args('{dir}/config.toml'), 'refused', check_mode=True,
          files={'config.toml': Fifo()},
          message=('{dir}/config.toml', 'FIFO'),
          why='check mode refuses a named pipe as the real run does, without blocking'),
    # Links another user could have planted (fs.protected_symlinks): never followed, nothing read
    _case('node-link-planted-hosts', HOSTS, hosts_args(), 'refused',
          files={'certs.d/_default': Dir(0o777), 'etc/shadow': File(SHADOW, 0o600),
                 'certs.d/_default/hosts.toml': Link('{dir}/etc/shadow')},
          message=('{dir}/certs.d/_default/hosts.toml', 'writable by group or others', 'replace the link'),
          secrets=('PLANTEDLINKSECRET',),
          why='rootless containerd: a user plants hosts.toml -> /etc/shadow in a directory they can write'),
    _case('node-link-planted-registry-dir', HOSTS, hosts_args(registries=['docker.io']), 'refused',
          files={'certs.d': Dir(0o777), 'etc': Dir(), 'certs.d/docker.io': Link('{dir}/etc')},
          message=('{dir}/certs.d/docker.io', 'writable by group or others'),
          why='a registry directory planted as a link to /etc: no hosts.toml is created in /etc'),
    _case('node-link-foreign-owner-toml', TOML, toml_args('{dir}/config.toml'), 'refused',
          files={'etc/shadow': File(SHADOW, 0o600), 'config.toml': Link('{dir}/etc/shadow')},
          prepare=link_owner('config.toml', 65534),
          message=('{dir}/config.toml', 'owned by uid 65534', 'chown -h'),
          secrets=('PLANTEDLINKSECRET',),
          why='a link owned by another user pointing at a file of root\'s'),
    _case('node-link-planted-config', CONFIG, dict(path='{dir}/etc/config.toml', hosts_dir='{dir}/certs.d'),
          'refused', files={'etc': Dir(0o777), 'shadow': File(SHADOW, 0o600),
                            'etc/config.toml': Link('{dir}/shadow')},
          containerd='2.1', message=('{dir}/etc/config.toml', 'writable by group or others'),
          secrets=('PLANTEDLINKSECRET',),
          why='containerd_config neither reads nor dumps a planted config.toml'),
    # A registry directory that is a link: uninstall keeps the link and the directory behind it
    _case('node-link-dir-remove', HOSTS, hosts_args(registries=['docker.io'], state='absent'), 'changed',
          files={'managed/docker.io/hosts.toml': ONLY_MIRROR, 'certs.d/docker.io': Link('../managed/docker.io')},
          judge=directory_kept('certs.d/docker.io', 'managed/docker.io'),
          why='certs.d/docker.io links to a managed directory; emptying it must not leave a dangling link'),
    # A bind-mounted file (kubelet, a container runtime): no rename can replace it
    _case('node-bind-mounted-hosts', HOSTS, hosts_args(registries=['_default', 'docker.io']), 'refused',
          files={'certs.d/_default/hosts.toml': 'server = "https://registry.example"\n',
                 'certs.d/docker.io/hosts.toml': 'server = "https://registry-1.docker.io"\n'},
          hooks=bind_mounted('certs.d/docker.io/hosts.toml'),
          message=('{dir}/certs.d/docker.io/hosts.toml', 'Device or resource busy', 'ANSIBLE_UNSAFE_WRITES',
                   'nothing was changed'),
          why='a bind-mounted hosts.toml: reported unchanged, with the way to write it in place'),
    _case('node-bind-mounted-unsafe-writes', 'peerpull.spegel.node_files',
          dict(unsafe_writes=True, write=[dict(path='{dir}/hosts.toml', content='server = "https://r.example"\n')]),
          'changed', files={'hosts.toml': 'server = "https://registry-1.docker.io"\n'},
          hooks=bind_mounted('hosts.toml'), judge=link_free_content('hosts.toml', 'server = "https://r.example"\n'),
          why='unsafe_writes: true writes a bind-mounted file in place'),
    # Validation and temporary files
    _case('node-validate-fails', TOML, toml_args('{dir}/new/dir/config.toml', create=True, validate='false %s'),
          'refused',
          message=('{dir}/new/dir/config.toml', 'failed validation'),
          why='a rejected new file: neither a temporary file nor the new directories stay'),
    _case('node-validate-link', TOML, toml_args('{dir}/config.toml', validate='false %s'), 'refused',
          files={'managed/config.toml': 'x = 1\n', 'config.toml': Link('managed/config.toml')},
          message=('{dir}/config.toml', 'failed validation'),
          why='a rejected edit behind a link'),
]
