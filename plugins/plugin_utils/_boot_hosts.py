# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The boot step of an image bake: hosts.toml files pointing at Spegel on the IP this boot has.

The role peerpull.spegel.bake installs this file, with the collection files it imports
(_errors, _node_ip, _hosts_names, _hosts_render, _hosts_text, _hosts_write, _toml_edit and
module_utils/_network: standard library only; the mirror role's mirror_boot_sources), under
/usr/local/lib/peerpull-spegel, and a systemd oneshot that runs it before containerd and
kubelet start:

    PYTHONPATH=/usr/local/lib/peerpull-spegel python3 -m \
        ansible_collections.peerpull.spegel.plugins.plugin_utils._boot_hosts [--check|--remove] [SETTINGS]

--check (at bake time) renders in memory only; --remove (peerpull.spegel.uninstall) takes the
block out of every file again and removes a file that held nothing else.

It needs Python 3 and nothing else: no Ansible, no TOML library. It owns one block of each
hosts.toml, between BEGIN and END comment lines, and leaves every other byte of the file as
it was. The block holds the Spegel targets on the node's IP (found with the roles' rules,
_node_ip.discover), in the form the mirror role writes (_hosts_render): tables, or dotted keys
in a [host] table for an IPv6 target on containerd 1.x (the major of the image's own
`containerd --version` at this boot). It sits where containerd tries it first: after the
file's own top-level keys (TOML puts those before any table), before the user's hosts. So
the mirror role's verify finds the file as the site playbook leaves it. Each boot replaces the block, so a former address's entries (the builder's, or a
re-addressed node's) go with it. Each file's text and mode follow the collection's one rule
for a hosts.toml (_hosts_write.hosts_file_write, as containerd_hosts): 0600 while it holds a
secret, its earlier mode noted and given back when the secret goes. Each file is written
atomically (a temporary file in the same directory, then a rename), and only when it changes.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.module_utils._network import IP_DIRS, network_facts
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import (
    DEFAULT_REGISTRY, HOSTS_FILE, NOT_A_REGISTRY, authorization_header, default_server, mirror_url, validate_host_url,
    validate_registry, validate_servers,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_render import (
    DOTTED_NOTE, dotted_form, normalise_host, render_dotted, render_host,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_text import _statements
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_write import hosts_file_write
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_ip import (
    KUBELET_FILES, KUBELET_GLOBS, KUBELET_UNITS, UNSET, discover, kubelet_sources,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import (
    redact_url_credentials, require_absolute,
)

SETTINGS = '/etc/peerpull-spegel/bake.json'
BEGIN = '# BEGIN peerpull.spegel (rendered at boot)'
END = '# END peerpull.spegel (rendered at boot)'
NOTE = ('# Written at every boot by peerpull-spegel-hosts.service from %s; '
        'edits inside this block are lost, the rest of the file is yours.')
BIN_DIRS = ['/usr/local/bin', '/usr/bin', '/usr/sbin', '/bin', '/sbin']
NEW_FILE_MODE = '0644'  # as node_files gives a new file without a secret
_VERSION = re.compile(r'^v?(\d+)\.\d+')


def containerd_major(version_output):
    """1 or 2 from a `containerd --version` line, None when it names no such version."""
    words = str(version_output or '').split()
    for word in words[2:3] + words:
        match = _VERSION.match(word)
        if match and int(match.group(1)) in (1, 2):
            return int(match.group(1))
    return None


def mirror_hosts(settings, node_ip):
    """[(url, fields)] of the Spegel targets, in order."""
    urls = settings.get('urls') or [mirror_url(node_ip, port) for port in settings.get('ports') or [30020]]
    header = authorization_header(settings.get('authorization'), 'mirror_authorization')
    hosts = []
    for url in urls:
        host = dict(url=url, capabilities=list(settings.get('capabilities') or ['pull', 'resolve']))
        if settings.get('dial_timeout'):
            host['dial_timeout'] = settings['dial_timeout']
        if header:
            host['header'] = {'Authorization': header}
        hosts.append(normalise_host(host))
    return hosts


# Stands for the node IP where only the boot knows it (TEST-NET-1).
PLACEHOLDER_IP = '192.0.2.1'


def check_settings(settings):
    """Refuse settings the boot step could not render at any boot, before the bake installs
    anything: every option as at boot (the node IP set, or PLACEHOLDER_IP), and a set node IP
    as the roles take it. Returns the settings."""
    require_absolute(settings.get('hosts_dir'), 'mirror_hosts_dir', '/etc/containerd/certs.d')
    registries = [validate_registry(registry) for registry in settings.get('registries') or [DEFAULT_REGISTRY]]
    validate_servers(settings.get('server'), registries, 'mirror_server', 'mirror_registries')
    node_ip = settings.get('node_ip')
    found = discover({}, [], node_ip) if node_ip not in UNSET else None
    mirror_hosts(settings, found.ip if found else PLACEHOLDER_IP)
    return settings


def without_block(text):
    """The text with our block (BEGIN to END, both lines included) taken out."""
    lines = text.splitlines(keepends=True)
    begin = next((i for i, line in enumerate(lines) if line.rstrip('\r\n') == BEGIN), None)
    if begin is None:
        return text
    end = next((i for i in range(begin, len(lines)) if lines[i].rstrip('\r\n') == END), None)
    if end is None:
        raise SpegelError('%s opens the block of peerpull.spegel but never closes it (%s)' % (BEGIN, END))
    return ''.join(lines[:begin] + lines[end + 1:])


def render_block(hosts, containerd_major_version, server=None, source=SETTINGS):
    """Our block: an optional server line, then every target as a table, or (an IPv6 target on
    containerd 1.x) every target as dotted keys of a [host] table."""
    dotted = any(dotted_form(url, containerd_major_version) for url, _fields in hosts)
    body = ['server = %s\n' % json.dumps(server)] if server else []
    if dotted:
        body += ['%s\n[host]\n' % DOTTED_NOTE] + [render_dotted(url, fields) for url, fields in hosts]
    else:
        body += [render_host(url, fields) for url, fields in hosts]
    return '%s\n%s\n%s%s\n' % (BEGIN, NOTE % source, ''.join(body), END)


def apply_block(text, block, dotted):
    """The user's text (block removed) with the new block where containerd tries it first:
    after the file's top-level keys, before its tables."""
    user = without_block(text)
    lines = user.splitlines(keepends=True)
    if lines and not lines[-1].endswith('\n'):
        lines[-1] += '\n'
    statements = _statements(''.join(lines))
    if dotted and any(s.kind == 'table' and s.key == ['host'] or s.kind == 'pair' and not s.section and s.key[0] == 'host'
                      for s in statements):
        raise SpegelError('it has host keys outside [host."URL"] tables (a [host] table, or root-level host. '
                          'keys), and the [host] table containerd 1.x needs for an IPv6 mirror cannot join them; '
                          'write its hosts as [host."URL"] tables')
    at = max((s.end for s in statements if s.kind == 'pair' and not s.section), default=0)
    return ''.join(lines[:at]) + block + ''.join(lines[at:])


def registry_files(settings):
    """{registry: hosts.toml path}: the registries asked for, and with _default every other
    registry directory that has a hosts.toml (it would hide _default from its registry)."""
    hosts_dir = os.path.normpath(settings.get('hosts_dir') or '/etc/containerd/certs.d')
    registries = [validate_registry(r) for r in settings.get('registries') or [DEFAULT_REGISTRY]]
    files = {r: os.path.join(hosts_dir, r, HOSTS_FILE) for r in registries}
    if DEFAULT_REGISTRY in registries:
        for path in sorted(glob.glob(os.path.join(glob.escape(hosts_dir), '*', HOSTS_FILE))):
            registry = os.path.basename(os.path.dirname(path))
            if registry not in NOT_A_REGISTRY:
                files.setdefault(registry, path)
    return files


def write_atomically(path, text, mode):
    """Replace the file with text and mode ('0600'): a temporary file in the same directory,
    then a rename (the boot step has no Ansible, so no atomic_move)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix='.hosts.toml.', dir=directory)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8', newline='') as out:
            os.fchmod(out.fileno(), int(mode, 8))
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def file_mode(path):
    """The file's mode as node_files reports it ('0644')."""
    return '%04o' % stat.S_IMODE(os.stat(path).st_mode)


def write_file(path, new_text, current_text, anchor_url=None):
    """Write new_text to path when its text or mode changes, both decided by hosts_file_write
    (current_text: the file read, None when there is none). Returns whether it wrote."""
    current_mode = file_mode(path) if current_text is not None else None
    new_text, mode = hosts_file_write(new_text, current_text, current_mode, anchor_url)
    mode = mode or current_mode or NEW_FILE_MODE
    if new_text == current_text and mode == current_mode:
        return False
    write_atomically(path, new_text, mode)
    return True


def read(path):
    try:
        with open(path, encoding='utf-8', newline='') as f:
            return f.read()
    except FileNotFoundError:
        return None


def render_file(registry, text, settings, hosts, major):
    """The new text of one registry's hosts.toml (text: its current text, or None)."""
    user = without_block(text or '')
    server = None
    if registry != DEFAULT_REGISTRY and not user.strip():  # a new file, as merge_registry writes it
        configured = (settings.get('server') or {}).get(registry)
        server = validate_host_url(configured) if configured else default_server(registry)
    dotted = any(dotted_form(url, major) for url, _fields in hosts)
    return apply_block(user, render_block(hosts, major, server), dotted)


def remove_file_block(path, text):
    """Take our block out of one file; a file that held nothing else is removed. Returns what was done."""
    user = without_block(text)
    if user == text:
        return None
    if user.strip():
        write_file(path, user, text)
        return 'removed the block'
    os.unlink(path)
    try:
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass
    return 'removed (it held only the block)'


# --- at boot ------------------------------------------------------------------------------------

def run(argv):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False)
    return done.returncode, done.stdout


def node_containerd_major(settings):
    """From the image's own `containerd --version`, at this boot; else the baked version."""
    binary = next((os.path.join(d, 'containerd') for d in BIN_DIRS
                   if os.access(os.path.join(d, 'containerd'), os.X_OK)), None)
    if binary:
        rc, out = run([binary, '--version'])
        if rc == 0 and containerd_major(out):
            return containerd_major(out)
    return containerd_major('x x %s' % settings.get('containerd_version', '')) or 2


def node_ip(settings):
    files = {path: read(path) for path in KUBELET_FILES + KUBELET_UNITS}
    globs = {pattern: sorted(glob.glob(pattern)) for pattern in KUBELET_GLOBS}
    for paths in globs.values():
        files.update((path, read(path)) for path in paths)
    ip = next((os.path.join(d, 'ip') for d in IP_DIRS if os.access(os.path.join(d, 'ip'), os.X_OK)), None)
    return discover(network_facts(ip or shutil.which('ip'), run), kubelet_sources(files, globs),
                    settings.get('node_ip'))


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    remove, check = '--remove' in args, '--check' in args
    args = [a for a in args if a not in ('--remove', '--check')]
    source = args[0] if args else SETTINGS
    log = sys.stderr
    try:
        with open(source, encoding='utf-8') as f:
            settings = json.load(f)
        files = registry_files(settings)
        if check:
            # At bake time: the settings render on this Python; PLACEHOLDER_IP stands in for
            # the node IP, which only the boot knows. Nothing is written.
            major = node_containerd_major(settings)
            check_settings(settings)
            for registry, path in files.items():
                render_file(registry, read(path), settings, mirror_hosts(settings, PLACEHOLDER_IP), major)
            print('boot step ready: Python %d.%d, containerd %d.x, %s'
                  % (sys.version_info[0], sys.version_info[1], major, ', '.join(files.values())))
            return 0
        if remove:
            for path in files.values():
                text = read(path)
                done = remove_file_block(path, text) if text is not None else None
                if done:
                    print('%s: %s' % (path, done), file=log)
            return 0
        try:
            found = None if settings.get('urls') else node_ip(settings)
        except SpegelError as exc:
            for path in files.values():
                text = read(path)
                if text is not None:
                    remove_file_block(path, text)
            raise SpegelError('%s The Spegel entries were removed, so pulls skip Spegel on this node until '
                              'this is fixed: set spegel_node_ip ("node_ip" in %s, or bake again with '
                              'spegel_node_ip), or kubelet\'s --node-ip, then `systemctl restart '
                              'peerpull-spegel-hosts` (and kubelet).' % (exc, source)) from None
        major = node_containerd_major(settings)
        hosts = mirror_hosts(settings, found.ip if found else None)
        print('node IP %s (%s); containerd %d.x; targets %s'
              % (found.ip if found else '-', found.source if found else 'mirror_urls', major,
                 ', '.join(url for url, _f in hosts)), file=log)
        failed = 0
        for registry, path in files.items():
            try:
                text = read(path)
                if write_file(path, render_file(registry, text, settings, hosts, major), text, hosts[0][0]):
                    print('%s: written' % path, file=log)
                else:
                    print('%s: unchanged' % path, file=log)
            except (OSError, ValueError, IndexError, SpegelError) as exc:
                # One file containerd cannot take ours in does not stop the others.
                print('%s: left as it is: %s' % (path, redact_url_credentials(str(exc))), file=log)
                failed += 1
        return 1 if failed else 0
    except (OSError, ValueError, SpegelError) as exc:
        print('peerpull-spegel-hosts: %s' % redact_url_credentials(str(exc)), file=log)
        return 1


if __name__ == '__main__':
    sys.exit(main())
