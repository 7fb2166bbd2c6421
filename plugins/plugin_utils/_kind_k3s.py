# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""K3s and RKE2: Spegel is embedded, so the collection only switches it on.

Facts, checked against k3s's and rke2's source and docs:

- `embedded-registry: true` enables the embedded mirror for the whole cluster and is a
  server flag (k3s v1.26.13+/rke2 v1.26.13+, GA v1.29.12/1.30.8/1.31.4). The config file
  parser drops unknown keys only for `server` and `etcd-snapshot` (pkg/configfilearg,
  ValidFlags), so on an agent the key is an unknown flag and the agent does not start.
- Config: /etc/rancher/<program>/config.yaml, then config.yaml.d/*.yaml and *.yml in file
  name order; the last value of a key wins (`key+` appends). rke2 has the drop-ins since
  v1.21.2, older than the embedded registry, so every version that has the flag reads them.
- registries.yaml (/etc/rancher/<program>/registries.yaml, every node) is loaded with
  gopkg.in/yaml.v2 into wharfie's `registries.Registry`; a registry present under `mirrors:`
  (endpoints optional) takes part in the mirror; `"*"` (quoted: a bare `*` is a YAML alias)
  stands for every registry from v1.26.15/1.27.12/1.28.8/1.29.3. A node without any mirrored
  registry takes no part.
- The embedded mirror listens on the supervisor port (k3s 6443, rke2 9345) and peers on
  5001; its registry API needs a client certificate of the cluster's CA. k3s writes
  containerd's hosts.toml files itself, so the mirror role writes none.
- Changes load when the service restarts: k3s / k3s-agent (install.sh), rke2-server /
  rke2-agent (the rke2 tarball ships both units; the enabled one tells the role).
"""

from __future__ import annotations

import copy
import ipaddress
import posixpath
import re

import yaml

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _artefacts as artefacts
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_names as hosts_names
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _toml_edit as toml_edit
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_kinds import FileChange, NodeKind, Plan
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import require_absolute

DROPIN_NAME = 'spegel.yaml'
WILDCARD = '*'
ROLES = ('server', 'agent')
# Quoted: a bare * starts a YAML alias.
REDACTED = '"%s"' % toml_edit.REDACTED
# Keys of registries.yaml whose scalar values are credentials (wharfie's AuthConfig).
_SECRET_KEYS = ('password', 'auth', 'identity_token', 'identitytoken')
_SECRET_LINE = re.compile(r'^(?P<lead>\s*(?:-\s+)?["\']?(?:%s)["\']?\s*:[ \t]+)(?P<value>[^#\s].*)$'
                          % '|'.join(_SECRET_KEYS))
# The first line of a registries.yaml the adapter creates.
_HEADER = '# Registries shared through the embedded Spegel (peerpull.spegel).'
_MIRRORS_LINE = re.compile(r'^(?:mirrors|"mirrors"|\'mirrors\')[ \t]*:(?P<rest>.*)$')


class K3sError(SpegelError):
    """A registries.yaml or config the adapter cannot carry or edit safely: the message names
    the file, key or option and the fix."""


class _EmbeddedSpegel(NodeKind):
    """What k3s and rke2 share; subclasses name the program and its units."""

    program = ''
    server_unit = ''
    agent_unit = ''
    supervisor_port = 0
    marks = ()
    writes_hosts_toml = False
    # Both run k3s's agent code, which puts its containerd's state in /run/k3s/containerd.
    cri_address = '/run/k3s/containerd/containerd.sock'
    refusal_template = ('%s generates its containerd config.toml from a template at every start, so an edit '
                        'there is lost; its embedded Spegel is switched on in config.yaml.d and registries.yaml')
    OPTIONS = {
        # auto: the enabled unit tells (server_unit or agent_unit).
        'role': {'type': 'str', 'choices': ['auto', 'server', 'agent'], 'default': 'auto'},
        # For a service started with --config DIR/config.yaml --private-registry DIR/registries.yaml.
        'config_dir': {'type': 'path'},
    }

    def __init__(self, **options):
        # The seam's NodeKind.__init__ keeps the validated kind_options the same way.
        self.options = dict(options)
        self._role = options.get('role') if options.get('role') in ROLES else None

    @property
    def refusal(self):
        return self.refusal_template % self.program

    @property
    def services(self):
        """The unit of the node's role (known once plan() has seen the node, or given)."""
        if self._role is None:
            return ()
        return (self.server_unit if self._role == 'server' else self.agent_unit,)

    # --- paths ---------------------------------------------------------------------------------

    @property
    def etc(self):
        default = '/etc/rancher/%s' % self.program
        given = self.options.get('config_dir')
        return default if given in (None, '') else require_absolute(given, 'kind_options.config_dir', default)

    @property
    def dropin_dir(self):
        return posixpath.join(self.etc, 'config.yaml.d')

    @property
    def dropin_path(self):
        return posixpath.join(self.dropin_dir, DROPIN_NAME)

    @property
    def registries_path(self):
        return posixpath.join(self.etc, 'registries.yaml')

    def _unit_globs(self):
        return tuple('/etc/systemd/system/*.target.wants/%s.service' % unit
                     for unit in (self.server_unit, self.agent_unit))

    def _dropin_globs(self):
        return (posixpath.join(self.dropin_dir, '*.yaml'), posixpath.join(self.dropin_dir, '*.yml'))

    # --- the interface -------------------------------------------------------------------------

    def reads(self, spec):
        return (self.dropin_path, self.registries_path), self._dropin_globs() + self._unit_globs()

    def plan(self, spec, state):
        warnings = self._check_spec(spec)
        role = self._node_role(state)
        self._role = role
        changes = []
        registries = registries_yaml_keys(spec.registries)
        registries_file = state.file(self.registries_path)
        after, added = add_mirrors(registries_file.text, self.registries_path, registries)
        changes.append(FileChange(self.registries_path, registries_file, after, '0600', None, True))
        dropin = state.file(self.dropin_path)
        if role == 'server':
            self._check_config(state)
            changes.append(FileChange(self.dropin_path, dropin, dropin_text(self.program), '0644', None, True))
        elif dropin.exists:
            # A former server's drop-in: an agent does not start with the server flag.
            changes.append(FileChange(self.dropin_path, dropin, None, None, None, True))
        changes = [change for change in changes if change.changed]
        facts = {'role': role, 'services': list(self.services), 'registries_yaml': self.registries_path,
                 'mirrors': registries, 'mirrors_added': added,
                 'embedded_registry': self.dropin_path if role == 'server' else None,
                 'ports': {'p2p': 5001, 'registry': self.supervisor_port}}
        return Plan(changes, warnings, facts)

    def loaded_by(self, spec, state):
        """The role's unit starts k3s's containerd with registries.yaml (and, on a server, the drop-in)."""
        self._role = self._role or self._node_role(state)
        return self.services[0], [self.registries_path] + ([self.dropin_path] if self._role == 'server' else []), None

    def revert(self, spec, state):
        role = self._node_role(state)
        self._role = role
        registries = registries_yaml_keys(spec.registries)
        registries_file = state.file(self.registries_path)
        after, removed, kept = remove_mirrors(registries_file.text, self.registries_path, registries)
        changes = [FileChange(self.registries_path, registries_file, after, None, None, True)]
        warnings = []
        if kept:
            warnings.append('%s: mirrors %s were left: they are empty but not written as this collection writes '
                            'them (the quoted name alone), so they may be yours; remove them by hand if they are not.'
                            % (self.registries_path, ', '.join(_quoted(registry) for registry in kept)))
        dropin = state.file(self.dropin_path)
        if dropin.exists and dropin.text == dropin_text(self.program):
            changes.append(FileChange(self.dropin_path, dropin, None, None, None, True))
        elif dropin.exists:
            warnings.append('%s is not what this collection writes, so it was left; remove it by hand if it only '
                            'switches on the embedded registry.' % self.dropin_path)
        changes = [change for change in changes if change.changed]
        facts = {'role': role, 'services': list(self.services), 'registries_yaml': self.registries_path,
                 'mirrors_removed': removed}
        return Plan(changes, warnings, facts)

    def artefact(self, spec):
        warnings = self._check_spec(spec)
        registries = registries_yaml_keys(spec.registries)
        registries_text, _added = add_mirrors(None, self.registries_path, registries)
        files = [artefacts._file('registries.yaml', registries_text,
                                 'every node: %s (merge into an existing one)' % self.registries_path, '0600')]
        # role auto: no node to ask, so both files, the drop-in marked for servers.
        if self._role != 'agent':
            files.insert(0, artefacts._file(DROPIN_NAME, dropin_text(self.program),
                                            'servers only: %s (an agent does not start with it)' % self.dropin_path))
        notes = ['%s embeds Spegel: no chart. Servers need %s, every node %s; restart %s (servers) or %s '
                 '(agents) after a change.' % (self.program, self.dropin_path, self.registries_path,
                                               self.server_unit, self.agent_unit),
                 'Nodes reach each other on TCP 5001 (peers) and %d (the mirror, on the supervisor port).'
                 % self.supervisor_port]
        notes.append('embedded-registry needs %s v1.26.13, v1.27.10, v1.28.6, v1.29.1 or newer (GA in v1.29.12, '
                     'v1.30.8, v1.31.4).' % self.program)
        if WILDCARD in registries:
            notes.append('"*" stands for every registry from %s v1.26.15, v1.27.12, v1.28.8, v1.29.3 on; on older '
                         'releases list the registries instead.' % self.program)
        return artefacts._artefact(self.name, files, {}, warnings, notes)

    def redact(self, path, text, before=None):
        return redact_yaml_secrets(text)

    # --- checks --------------------------------------------------------------------------------

    def _check_spec(self, spec):
        """Refuse what the embedded Spegel cannot carry; warnings for options it does not use."""
        name = self.program
        if spec.secret:
            raise K3sError(
                'authorization: %s\'s embedded Spegel takes no authorization header; its registry API needs a '
                'client certificate of the cluster\'s CA instead. Leave mirror_authorization empty for %s nodes. '
                'Nothing was changed.' % (name, name))
        if spec.urls:
            raise K3sError(
                'urls: %s\'s embedded Spegel is the mirror on every node itself (the supervisor port, %d); it takes '
                'no mirror URLs. Leave mirror_urls empty for %s nodes; other mirrors belong in the endpoint lists '
                'of %s. Nothing was changed.' % (name, self.supervisor_port, name, self.registries_path))
        if 'push' in spec.capabilities:
            raise K3sError('capabilities: %s\'s embedded Spegel is read-only; remove push. Nothing was changed.' % name)
        if spec.use_local_image_pull is not None:
            raise K3sError(
                'use_local_image_pull: %s generates its containerd config itself; set it in %s\'s containerd '
                'template (config.toml.tmpl) instead and leave containerd_use_local_image_pull unset for %s nodes. '
                'Nothing was changed.' % (name, name, name))
        ignored = []
        if spec.ports != [30020]:
            ignored.append('ports (the embedded Spegel serves on %d and peers on 5001)' % self.supervisor_port)
        if spec.dial_timeout is not None:
            ignored.append('dial_timeout')
        if spec.node_ip is not None:
            ignored.append('node_ip')
        if spec.hosts_dir is not None:
            ignored.append('hosts_dir (%s writes its own hosts.toml files)' % name)
        if spec.server:
            ignored.append('server')
        if spec.containerd is not None:
            ignored.append('containerd_version')
        if set(spec.capabilities) != {'pull', 'resolve'}:
            ignored.append('capabilities (the embedded Spegel pulls and resolves)')
        warnings = []
        if ignored:
            warnings.append('%s nodes: not used by the embedded Spegel: %s.' % (name, '; '.join(ignored)))
        local = [registry for registry in spec.registries if _is_localhost(registry)]
        if local:
            warnings.append('registries: %s\'s embedded Spegel skips localhost registries (%s); their images are not '
                            'shared between nodes.' % (name, ', '.join(local)))
        return warnings

    def _node_role(self, state):
        if self.options.get('role') in ROLES:
            return self.options['role']
        enabled = [unit for unit, pattern in zip((self.server_unit, self.agent_unit), self._unit_globs())
                   if state.globs.get(pattern)]
        if len(enabled) == 1:
            return 'server' if enabled[0] == self.server_unit else 'agent'
        found = ('both %s and %s are enabled' if enabled else 'neither %s nor %s is enabled') % (
            self.server_unit, self.agent_unit)
        raise K3sError('kind_options.role: %s on this node, so it is not known whether it is a %s server or an '
                       'agent; set kind_options.role to server or agent. Nothing was changed.' % (found, self.program))

    def _check_config(self, state):
        """The drop-in must win: a drop-in read after it must not switch the embedded Spegel off
        (k3s reads config.yaml, then the drop-ins in file name order; the last value wins)."""
        later = sorted({path for pattern in self._dropin_globs() for path in state.globs.get(pattern, ())
                        if posixpath.basename(path) > DROPIN_NAME}, key=posixpath.basename)
        for path in later:
            data = _load(_read(state, path) or '', path)
            if not isinstance(data, dict):
                continue
            for key, value in data.items():
                if str(key).rstrip('+') == 'embedded-registry' and value is not True:
                    raise K3sError(
                        '%s: embedded-registry: %s is read after %s and switches the embedded Spegel off; remove '
                        'the key there (or set it to true). Nothing was changed.' % (path, value, self.dropin_path))


class K3sKind(_EmbeddedSpegel):
    name = 'k3s'
    summary = 'k3s with its embedded Spegel (registries.yaml, embedded-registry on servers)'
    program = 'k3s'
    server_unit = 'k3s'
    agent_unit = 'k3s-agent'
    supervisor_port = 6443
    # k3s's data directory and install.sh's binary, on servers and agents alike.
    marks = ('/var/lib/rancher/k3s', '/usr/local/bin/k3s')


class Rke2Kind(_EmbeddedSpegel):
    name = 'rke2'
    summary = 'RKE2 with its embedded Spegel (registries.yaml, embedded-registry on servers)'
    program = 'rke2'
    server_unit = 'rke2-server'
    agent_unit = 'rke2-agent'
    supervisor_port = 9345
    # rke2's data directory, and its binary from the tarball (/usr/local) or the RPM (/usr/bin).
    marks = ('/var/lib/rancher/rke2', '/usr/local/bin/rke2', '/usr/bin/rke2')


# --- the files ---------------------------------------------------------------------------------

def dropin_text(program):
    return ('# Written by peerpull.spegel: %s\'s embedded Spegel (servers only; agents reject the flag).\n'
            'embedded-registry: true\n' % program)


def registries_yaml_keys(registries):
    """registries.yaml's mirror names: `_default` (every registry) is k3s's "*"."""
    return [WILDCARD if registry == hosts_names.DEFAULT_REGISTRY else registry for registry in registries]


def _is_localhost(registry):
    """As containerd's docker.IsLocalhost, which k3s's embedded Spegel skips registries by."""
    host = registry.rsplit(':', 1)[0] if registry.count(':') == 1 or registry.startswith('[') else registry
    host = host.strip('[]')
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read(state, path):
    node_file = state.files.get(path)
    return node_file.text if node_file is not None and node_file.exists else None


def _load(text, source):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise K3sError('%s is not YAML that can be read here (%s); fix it, nothing was changed.'
                       % (source, str(exc).replace('\n', ' '))) from None


def _quoted(key):
    return '"%s"' % key.replace('\\', '\\\\').replace('"', '\\"')


def add_mirrors(text, source, registries):
    """registries.yaml with every registry under `mirrors:` (a new entry has no endpoints),
    everything else byte for byte as it was. Returns (new text, the registries added)."""
    data = _load(text or '', source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise K3sError('%s: k3s and rke2 read this file as a mapping (mirrors, configs); it holds a %s. Fix the '
                       'file; nothing was changed.' % (source, type(data).__name__))
    mirrors = data.get('mirrors')
    if mirrors is not None and not isinstance(mirrors, dict):
        raise K3sError('%s: mirrors is a %s; it must be a mapping of registry names. Fix the key; nothing was '
                       'changed.' % (source, type(mirrors).__name__))
    added = [registry for registry in registries if registry not in (mirrors or {})]
    if not added:
        return text, []
    newline = '\r\n' if '\r\n' in (text or '') else '\n'
    lines = (text or '').splitlines(keepends=True)
    if lines and not lines[-1].endswith('\n'):
        lines[-1] += newline
    if 'mirrors' not in data:
        block = ['mirrors:' + newline] + ['  %s:%s' % (_quoted(registry), newline) for registry in added]
        if not lines:
            block.insert(0, _HEADER + newline)
        new_lines = lines + block
    else:
        at = _mirrors_line(lines, source)
        rest = _MIRRORS_LINE.match(lines[at]).group('rest')
        if rest.strip() and not rest.strip().startswith('#'):
            raise K3sError('%s: mirrors is written on one line (%s); write it as a block, one registry per line '
                           '("mirrors:" and then "  docker.io:"), so that entries can be added. Nothing was changed.'
                           % (source, rest.strip()))
        end, indent = _block_end(lines, at)
        entries = ['%s%s:%s' % (indent or '  ', _quoted(registry), newline) for registry in added]
        new_lines = lines[:end] + entries + lines[end:]
    new_text = ''.join(new_lines)
    _verify(new_text, source, data, added)
    return new_text, added


def remove_mirrors(text, source, registries):
    """registries.yaml without the mirrors entries add_mirrors() writes for registries (a line of
    the quoted name alone; the name written otherwise, or given endpoints, is the user's), the
    `mirrors:` line it appended when none is left under it, and None for a file holding nothing
    but what it wrote. Returns (new text, the registries removed, the empty entries kept)."""
    data = _load(text or '', source)
    mirrors = data.get('mirrors') if isinstance(data, dict) else None
    present = [registry for registry in registries if isinstance(mirrors, dict) and registry in mirrors]
    if not present:
        return text, [], []
    lines = text.splitlines(keepends=True)
    at = _mirrors_line(lines, source)
    end, _indent = _block_end(lines, at)
    ours = {}
    for index in range(at + 1, end):
        body = lines[index].rstrip('\r\n')
        for registry in present:
            if mirrors[registry] is None and body.lstrip() == _quoted(registry) + ':' and body[:1].isspace():
                ours[index] = registry
    removed = [registry for registry in present if registry in ours.values()]
    # Empty entries spelled otherwise may be the adapter's, edited since; one with settings is the user's.
    kept = [registry for registry in present if registry not in removed and mirrors[registry] is None]
    if not removed:
        return text, [], kept
    new_lines = [line for index, line in enumerate(lines) if index not in ours]
    rest = {key: value for key, value in mirrors.items() if key not in removed}
    expected = dict(data, mirrors=rest or None)
    if not rest and new_lines[at].rstrip('\r\n') == 'mirrors:' and at == len(new_lines) - 1:
        del new_lines[at]
        del expected['mirrors']
        if [line.rstrip('\r\n') for line in new_lines] == [_HEADER]:
            return None, removed, kept
    new_text = ''.join(new_lines)
    try:
        got = yaml.safe_load(new_text)
    except yaml.YAMLError:
        got = None
    if (got or {}) != expected:
        raise K3sError('%s: its layout cannot be edited safely here (the edit did not read back as intended); '
                       'remove %s under mirrors by hand. Nothing was changed.'
                       % (source, ', '.join(_quoted(registry) for registry in removed)))
    return new_text, removed, kept


def _mirrors_line(lines, source):
    found = [index for index, line in enumerate(lines) if _MIRRORS_LINE.match(line)]
    if len(found) != 1:
        raise K3sError('%s: the key mirrors is not written at the start of one line; write it as a top-level block '
                       '("mirrors:" at the start of a line) so that entries can be added. Nothing was changed.'
                       % source)
    return found[0]


def _block_end(lines, at):
    """Where the block under lines[at] ends (after its last indented line, so that comments
    before the next top-level key stay with it), and its entries' indentation."""
    end, indent = at + 1, None
    for index in range(at + 1, len(lines)):
        line = lines[index]
        stripped = line.strip()
        if not stripped:
            continue
        if not line[0].isspace():
            if stripped.startswith('#'):
                continue
            break
        end = index + 1
        if indent is None and not stripped.startswith('#'):
            indent = line[:len(line) - len(line.lstrip())]
    return end, indent


def _verify(new_text, source, before, added):
    """The edit must hold exactly the data before plus the new entries (as the TOML engine checks)."""
    expected = copy.deepcopy(before)
    mirrors = expected.get('mirrors') or {}
    for registry in added:
        mirrors[registry] = None
    expected['mirrors'] = mirrors
    try:
        got = yaml.safe_load(new_text)
    except yaml.YAMLError:
        got = None
    if got != expected:
        raise K3sError('%s: its layout cannot be edited safely here (the edit did not read back as intended); add '
                       '%s under mirrors by hand, or write mirrors as a plain block. Nothing was changed.'
                       % (source, ', '.join(_quoted(registry) for registry in added)))


def redact_yaml_secrets(text):
    """registries.yaml as shown in a diff: credential values masked (block scalars too), and
    credentials in URLs (endpoints) and comments."""
    if not text:
        return text
    out, block_indent = [], None
    for line in text.splitlines(keepends=True):
        if block_indent is not None:
            if not line.strip() or len(line) - len(line.lstrip()) > block_indent:
                continue
            block_indent = None
        match = _SECRET_LINE.match(line)
        if match:
            value = match.group('value').strip()
            if value[:1] in '|>':
                block_indent = len(line) - len(line.lstrip())
            out.append('%s%s%s' % (match.group('lead'), REDACTED, line[len(line.rstrip('\r\n')):]))
            continue
        out.append(line)
    return toml_edit.redact_text_credentials(''.join(out))
