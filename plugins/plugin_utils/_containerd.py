# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""containerd's config.toml: its layouts, how containerd reads them, and every key this
collection writes into it (controller side only).

Everything that knows where a containerd setting lives is in this file: LAYOUTS says which
table holds which key for each config `version`, ConfigPlan is the only code that writes
those keys, and predict_effective() mirrors how containerd merges `imports` drop-ins
(1.x: a drop-in's plugin table replaces the main file's; 2.x: tables are deep-merged,
older layouts migrated first). Facts verified against containerd 1.6.20, 1.7.24, 2.1.9,
2.2.9, 2.3.7 and 2.4.2 and their sources.
"""

from __future__ import annotations

import collections
import copy
import datetime
import posixpath
import re
import tomllib

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_toml import (
    containerd1_unreadable, validate_host_url, validate_registry,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import (
    MISSING, TomlEditor, format_key, same_value, toml_type,
)

CONFIG_FILE = '/etc/containerd/config.toml'
HOSTS_DIR = '/etc/containerd/certs.d'
ORIGINAL_SUFFIX = '.peerpull-orig'
# Marks a config.toml this collection created (there was none to keep as the original).
CREATED_SUFFIX = '.peerpull-created'
CREATED_MARKER_TEXT = ('# peerpull.spegel created %s (there was none before); its uninstall removes that file '
                       'and this marker.\n')
SERVICE_NAME = 'containerd'

GRPC_CRI = 'io.containerd.grpc.v1.cri'
CRI_IMAGES = 'io.containerd.cri.v1.images'
# Disabling any of these leaves kubelet without a working CRI.
CRI_PLUGINS = ('cri', GRPC_CRI, CRI_IMAGES, 'io.containerd.cri.v1.runtime')

# Registry hosts that legacy CRI mirrors fall back to (and hosts.toml writes as `server`).
DOCKER_HUB = 'docker.io'
DOCKER_HUB_SERVER = 'https://registry-1.docker.io'
WILDCARD_MIRROR = '*'
DEFAULT_HOSTS_REGISTRY = '_default'
LEGACY_CAPABILITIES = ['pull', 'resolve']  # what legacy CRI mirrors could do


class Layout(collections.namedtuple('Layout', 'version registry images')):
    """Where one config `version` keeps the keys this collection manages.

    registry: the table holding config_path, mirrors and configs.
    images:   the table holding discard_unpacked_layers (and use_local_image_pull on v3+).
    """

    @property
    def config_path(self):
        return self.registry + ('config_path',)

    @property
    def discard_unpacked_layers(self):
        return self.images + ('discard_unpacked_layers',)

    @property
    def use_local_image_pull(self):
        return self.images + ('use_local_image_pull',) if self.version >= 3 else None

    @property
    def mirrors(self):
        return self.registry + ('mirrors',)

    @property
    def configs(self):
        return self.registry + ('configs',)

    @property
    def cri_plugin(self):
        """The plugin table a containerd 1.x drop-in would replace wholesale."""
        return self.images[:2]

    def managed_keys(self):
        keys = [self.config_path, self.discard_unpacked_layers, self.mirrors, self.configs]
        return keys + ([self.use_local_image_pull] if self.use_local_image_pull else [])


LAYOUTS = {
    1: Layout(1, ('plugins', 'cri', 'registry'), ('plugins', 'cri', 'containerd')),
    2: Layout(2, ('plugins', GRPC_CRI, 'registry'), ('plugins', GRPC_CRI, 'containerd')),
    3: Layout(3, ('plugins', CRI_IMAGES, 'registry'), ('plugins', CRI_IMAGES)),
    4: Layout(4, ('plugins', CRI_IMAGES, 'registry'), ('plugins', CRI_IMAGES)),
}
# Where containerd 2.x reads the managed keys once it has migrated a file (version 4 keeps
# the tables of version 3).
MIGRATED_LAYOUT = LAYOUTS[3]


# --- containerd versions ------------------------------------------------------------------

_VERSION = re.compile(r'^v?(\d+)\.(\d+)(?:\.(\d+))?')


class ContainerdVersion(collections.namedtuple('ContainerdVersion', 'major minor patch')):

    def __str__(self):
        return '%d.%d.%d' % self

    @property
    def newest_config_version(self):
        """The highest `version` this containerd loads (containerd's version.ConfigVersion)."""
        if self.major < 2:
            return 2
        return 3 if (self.major, self.minor) < (2, 3) else 4

    @property
    def migrates_each_file(self):
        """containerd 2.3+ migrates every file below version 4 on its own before it merges it
        (2.0-2.2 merge first and migrate the result; they ignore a version 1 file's CRI tables)."""
        return self >= (2, 3)

    @property
    def refuses_newer_dropins(self):
        """2.3.0-2.3.4 refuse a drop-in whose version is above the main file's (reverted in 2.3.5)."""
        return (2, 3) <= self < (2, 3, 5)


def parse_containerd_version(text, source='containerd_version'):
    """'1.7.24', 'v2.1.9', or a whole `containerd --version` line such as
    'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3'."""
    text = str(text).strip()
    candidates = [text] + text.split()[2:3] + text.split()
    for candidate in candidates:
        match = _VERSION.match(candidate)
        if match:
            major, minor, patch = (int(part) if part else 0 for part in match.groups())
            if major in (1, 2):
                return ContainerdVersion(major, minor, patch)
            break
    raise SpegelError('%s: cannot tell the containerd version from %r; set containerd_version '
                      'to the version installed on the node, such as 1.7.24.' % (source, text))


# --- reading values with clear type errors ------------------------------------------------

def _get(data, segments, source, expect=None):
    """The value at segments, MISSING when absent. A non-table on the way, or a value of the
    wrong type, is an error naming file, key and fix."""
    node = data
    for depth, segment in enumerate(segments):
        if not isinstance(node, dict):
            raise SpegelError(
                '%s: %s is %s, but containerd expects a table there (it holds %s). Fix the file by hand; '
                'nothing was changed.' % (source, format_key(segments[:depth]), toml_type(node),
                                          format_key(segments)))
        if segment not in node:
            return MISSING
        node = node[segment]
    if expect is not None and not _is(node, expect):
        raise SpegelError(
            '%s: %s is %s, but containerd expects %s. Fix the file by hand; nothing was changed.'
            % (source, format_key(segments), toml_type(node), _EXPECT_NAMES[expect]))
    return node


_EXPECT_NAMES = {str: 'a string', bool: 'a boolean (true or false)', dict: 'a table',
                 'strings': 'an array of strings'}


def _is(value, expect):
    if expect == 'strings':
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if expect is bool:
        return isinstance(value, bool)
    return isinstance(value, expect) and not isinstance(value, bool)


def declared_version(data, source):
    """The file's `version` (1 when absent), refusing layouts this module does not know."""
    version = data.get('version', 1)
    if isinstance(version, bool) or not isinstance(version, int) or version not in LAYOUTS:
        raise SpegelError(
            '%s: version = %r is not a containerd config layout this module knows (1, 2, 3 or 4). '
            'Fix the version line (containerd 1.x: 2, containerd 2.0-2.2: 3, 2.3+: 4); nothing was changed.'
            % (source, version))
    return version


def check_layout(version, source, containerd):
    """Refuse a layout the node's containerd cannot use."""
    if containerd is None:
        return
    if containerd.major == 1 and version >= 3:
        raise SpegelError(
            '%s: version = %d is a containerd 2.x layout, but containerd %s on the node is 1.x and cannot '
            'load it. Restore a version = 2 config for containerd 1.x, or upgrade containerd first; '
            'nothing was changed.' % (source, version, containerd))
    if version > containerd.newest_config_version:
        raise SpegelError(
            '%s: version = %d is newer than containerd %s loads (at most %d). Write version = %d, or '
            'upgrade containerd first; nothing was changed.'
            % (source, version, containerd, containerd.newest_config_version, containerd.newest_config_version))


def resolve_imports(data, source):
    """The file's `imports`, absolute (containerd resolves relative ones against the file's
    directory, and expands only patterns containing '*')."""
    imports = _get(data, ('imports',), source, expect='strings')
    if imports is MISSING:
        return []
    base = posixpath.dirname(source)
    return [posixpath.normpath(item if item.startswith('/') else posixpath.join(base, item)) for item in imports]


# --- legacy CRI registry settings -> hosts.toml --------------------------------------------

def _legacy_scheme(host):
    """containerd's defaultScheme: http for localhost, https otherwise."""
    name = host.rsplit(':', 1)[0] if host.count(':') == 1 else host
    return 'http' if name in ('localhost', '127.0.0.1', '[::1]', '::1') else 'https'


def _split_endpoint(endpoint):
    """(scheme://host, path) of a legacy mirror endpoint; a missing scheme as containerd adds it."""
    if '://' not in endpoint:
        endpoint = '%s://%s' % (_legacy_scheme(endpoint.split('/', 1)[0]), endpoint)
    scheme, rest = endpoint.split('://', 1)
    host, _slash, path = rest.partition('/')
    return '%s://%s' % (scheme.lower(), host.lower()), ('/' + path).rstrip('/') if path else ''


def _tls_fields(tls, where):
    """hosts.toml host fields for a legacy configs.<host>.tls table."""
    fields = {}
    ca = tls.get('ca_file', '')
    cert = tls.get('cert_file', '')
    key = tls.get('key_file', '')
    for name, value in (('ca_file', ca), ('cert_file', cert), ('key_file', key)):
        if not isinstance(value, str):
            raise SpegelError('%s.%s is %s, but containerd expects a string path. Fix the file by hand; '
                              'nothing was changed.' % (where, name, toml_type(value)))
    skip = tls.get('insecure_skip_verify', False)
    if not isinstance(skip, bool):
        raise SpegelError('%s.insecure_skip_verify is %s, but containerd expects true or false. Fix the '
                          'file by hand; nothing was changed.' % (where, toml_type(skip)))
    if ca:
        fields['ca'] = ca
    if cert and key:
        fields['client'] = [[cert, key]]
    elif cert:
        fields['client'] = cert
    if skip:
        fields['skip_verify'] = True
    return fields


def legacy_registries(data, layout, source):
    """The hosts.toml content that replaces legacy `mirrors` and `configs.<host>.tls`.

    Returns (plans, dropped). plans: [{registry, server, hosts}] where registry is the hosts
    directory name (`_default` for the `*` mirror) and hosts are merge_registry() host dicts,
    in the order legacy CRI tried them. Legacy CRI appended the registry's own host after the
    mirrors; hosts.toml's `server` is that fallback. TLS settings of an endpoint host follow it
    into every hosts.toml that lists it, and a host with TLS settings but no mirrors gets its own.
    dropped: [{key, reason}] of what legacy CRI could never use (a key that is no registry
    host, an endpoint that is no http(s) URL, a mirror without endpoints); it leaves with the
    mirrors table. The user:password@ of an endpoint, which legacy CRI never sent, is dropped
    too, and named without its value.
    """
    mirrors = _get(data, layout.mirrors, source, expect=dict)
    configs = _get(data, layout.configs, source, expect=dict)
    mirrors = {} if mirrors is MISSING else mirrors
    configs = {} if configs is MISSING else configs

    tls_by_host = {}
    for host, config in configs.items():
        where = '%s: %s' % (source, format_key(layout.configs + (host,)))
        if not isinstance(config, dict):
            raise SpegelError('%s is %s, but containerd expects a table. Fix the file by hand; nothing was '
                              'changed.' % (where, toml_type(config)))
        tls = config.get('tls', MISSING)
        if tls is MISSING:
            continue
        if not isinstance(tls, dict):
            raise SpegelError('%s.tls is %s, but containerd expects a table. Fix the file by hand; nothing '
                              'was changed.' % (where, toml_type(tls)))
        tls_by_host[host.lower()] = _tls_fields(tls, where + '.tls')

    def host_entry(base, path):
        entry = {'url': base + path, 'capabilities': list(LEGACY_CAPABILITIES)}
        if path:
            entry['override_path'] = True  # legacy CRI used an endpoint's path as given
        entry.update(tls_by_host.get(base.split('://', 1)[1], {}))
        return entry

    plans, dropped = [], []
    for registry, mirror in mirrors.items():
        key = format_key(layout.mirrors + (registry,))
        endpoints = _get(mirror, ('endpoint',), '%s: %s' % (source, key),
                         expect='strings') if isinstance(mirror, dict) else None
        if endpoints is None:
            raise SpegelError('%s: %s is %s, but containerd expects a table with an endpoint list. Fix the '
                              'file by hand; nothing was changed.' % (source, key, toml_type(mirror)))
        if registry != WILDCARD_MIRROR:
            try:
                if registry == DEFAULT_HOSTS_REGISTRY:
                    raise SpegelError(registry)  # no image name's host: it is hosts.toml's own name
                validate_registry(registry)
            except SpegelError:
                dropped.append({'key': key, 'reason': 'not a registry host as image names carry it, so containerd '
                                                      'never matched it'})
                continue
        endpoints = [] if endpoints is MISSING else endpoints
        hosts, seen, seen_hosts = [], set(), set()
        for index, endpoint in enumerate(endpoints):
            where = '%s.endpoint[%d]' % (key, index)
            base, path = _split_endpoint(endpoint)
            if '@' in base:
                base = base.split('://', 1)[0] + '://' + base.rsplit('@', 1)[1]
                dropped.append({'key': where, 'reason': 'its user:password@ was never sent by containerd; the '
                                                        'endpoint moves without it (use configs."HOST".auth)'})
            try:
                validate_host_url(base + path)
            except SpegelError:
                dropped.append({'key': where, 'reason': 'not an http(s) URL containerd could reach'})
                continue
            seen_hosts.add(base.split('://', 1)[1])
            if base + path not in seen:
                seen.add(base + path)
                hosts.append(host_entry(base, path))
        if registry == WILDCARD_MIRROR:
            if hosts:
                plans.append({'registry': DEFAULT_HOSTS_REGISTRY, 'server': None, 'hosts': hosts})
            else:
                dropped.append({'key': key, 'reason': 'no usable endpoint, so it changed nothing'})
            continue
        upstream = DOCKER_HUB_SERVER if registry == DOCKER_HUB else '%s://%s' % (_legacy_scheme(registry), registry)
        # Legacy CRI added the registry itself after the mirrors unless one of them is that host.
        upstream_host = upstream.split('://', 1)[1].lower()
        if upstream_host in tls_by_host and upstream_host not in seen_hosts:
            hosts.append(host_entry(upstream.lower(), ''))
        if not hosts:
            dropped.append({'key': key, 'reason': 'no usable endpoint, so containerd pulled from the registry '
                                                  'itself, as it does without the entry'})
            continue
        plans.append({'registry': registry, 'server': upstream, 'hosts': hosts})

    planned = {plan['registry'] for plan in plans}
    for host, fields in tls_by_host.items():
        if host in planned or (host == 'registry-1.docker.io' and DOCKER_HUB in planned):
            continue
        url = '%s://%s' % (_legacy_scheme(host), host)
        plans.append({'registry': host, 'server': url, 'hosts': [host_entry(url, '')]})
    return plans, dropped


def _has_legacy_settings(registry_table):
    """Settings that make containerd drop CRI when config_path is set (1.x: mirrors and any
    configs.<host>.tls table, even an empty one; 2.x: mirrors)."""
    if not isinstance(registry_table, dict):
        return False
    configs = registry_table.get('configs')
    return bool(registry_table.get('mirrors')) or (
        isinstance(configs, dict) and any(isinstance(c, dict) and 'tls' in c for c in configs.values()))


# --- the plan -----------------------------------------------------------------------------

class ConfigPlan:
    """The edits that make one config.toml ready for Spegel, computed on the controller.

    The only writer of containerd keys in this collection: construct it with the file's text,
    call apply(), then render().
    """

    def __init__(self, text, source, containerd=None):
        self.source = source
        self.containerd = containerd
        self.editor = TomlEditor(text, source)
        self.original = copy.deepcopy(self.editor.model)
        self.version = declared_version(self.original, source)
        self.layout = LAYOUTS[self.version]
        self.migrated = []          # [{registry, server, hosts}] that left config.toml
        self.dropped_mirrors = []   # [{key, reason}] of legacy mirrors containerd could never use
        self.warnings = []
        self.replaced_config_path = None
        self.enabled_cri = []       # CRI plugin names removed from disabled_plugins
        _get(self.original, ('disabled_plugins',), source, expect='strings')

    @property
    def data(self):
        return self.editor.model

    def imports(self):
        return resolve_imports(self.original, self.source)

    def apply(self, hosts_dir=HOSTS_DIR, enable_cri=False, use_local_image_pull=None, migrate_mirrors=True,
              extra_settings=(), over_base=False):
        """over_base: the text is a patch or drop-in merged over a base config that may discard
        unpacked layers (Kind, Talos, k0s), so discard_unpacked_layers = false is always written."""
        extra_settings = normalise_extra_settings(extra_settings)
        self._choose_layout()
        self._choose_registry_table()
        self._refuse_leftover_v2_tables()
        self._enable_cri(enable_cri)
        layout = self.layout

        registry = _get(self.data, layout.registry, self.source, expect=dict)
        if registry is not MISSING and _has_legacy_settings(registry):
            if not migrate_mirrors:
                raise SpegelError(
                    '%s: %s holds legacy mirrors or configs.<host>.tls, and containerd drops the CRI plugin '
                    'when they are set together with config_path. Set migrate_mirrors: true to move them into '
                    'hosts.toml files, or remove them by hand; nothing was changed.'
                    % (self.source, format_key(layout.registry)))
            self._migrate_legacy(registry)

        current = _get(self.data, layout.config_path, self.source, expect=str)
        if current is not MISSING and current not in ('', hosts_dir):
            self.replaced_config_path = current
        discard = _get(self.data, layout.discard_unpacked_layers, self.source, expect=bool)
        self.editor.set(layout.config_path, hosts_dir)
        # false is containerd's default in every layout: a file without the key is already
        # right (AKS), and writing it anyway would restart containerd for nothing. A new
        # file, or one merged over a base, spells it out.
        if discard is not MISSING or not self.original or over_base:
            self.editor.set(layout.discard_unpacked_layers, False)

        if use_local_image_pull is not None:
            if layout.use_local_image_pull is None:
                raise SpegelError(
                    '%s: use_local_image_pull exists only in config version 3 and 4 (containerd 2.x), and this '
                    'file is version %d. Leave use_local_image_pull unset (containerd 1.x always pulls '
                    'locally); nothing was changed.' % (self.source, layout.version))
            _get(self.data, layout.use_local_image_pull, self.source, expect=bool)
            self.editor.set(layout.use_local_image_pull, bool(use_local_image_pull))

        managed = layout.managed_keys() + [('version',), ('disabled_plugins',)]
        for setting in extra_settings:
            overlap = [key for key in managed if _overlaps(key, setting['key'])]
            if overlap:
                raise SpegelError(
                    'extra_settings: %s overlaps %s, which this module manages; use its own option instead.'
                    % (format_key(setting['key']), format_key(overlap[0])))
            if setting['state'] == 'absent':
                self.editor.remove(setting['key'])
            else:
                self.editor.set(setting['key'], setting['value'])
        return self

    def render(self):
        text = self.editor.render()
        if self.layout.version <= 2 and (self.containerd is None or self.containerd.major == 1):
            # Without a containerd on the node (an image bake) nothing else would catch it.
            unreadable = containerd1_unreadable(text)
            if unreadable:
                raise SpegelError(
                    'Refusing to write %s: containerd 1.x cannot parse its key %s (go-toml v1 reads no "[" or "]" in a '
                    'table name and no escaped \\" in a key), so containerd would not start. Change that key (in '
                    'extra_settings, or by hand in the file); nothing was changed.' % (self.source, unreadable))
        return text

    def _enable_cri(self, enable_cri):
        disabled = self.original.get('disabled_plugins', [])
        cri = [name for name in disabled if name in CRI_PLUGINS]
        if not cri:
            return
        if not enable_cri:
            raise SpegelError(
                '%s: disabled_plugins = %s turns off the CRI plugin (%s), so kubelet cannot use containerd '
                '(Docker\'s containerd.io package ships it this way). Set enable_cri: true to remove it from '
                'disabled_plugins; nothing was changed.' % (self.source, disabled, ', '.join(cri)))
        self.editor.set(['disabled_plugins'], [name for name in disabled if name not in CRI_PLUGINS])
        self.enabled_cri = cri

    def _choose_layout(self):
        """Refuse a layout the node cannot use; give a version-less file the version line it needs.

        A file without `version` is version 1, which differs from 2 only in short plugin names
        (`cri`). When it uses none (an empty file, Docker's containerd.io file), the version line
        that fits the node's containerd is added, so this module never writes version 1 keys
        into a new file.
        """
        data = self.original
        if 'version' in data:
            check_layout(self.version, self.source, self.containerd)
            return
        required = _get(data, ('required_plugins',), self.source, expect='strings')
        plugins = _get(data, ('plugins',), self.source, expect=dict)
        plugins = {} if plugins is MISSING else plugins
        names = list(plugins) + data.get('disabled_plugins', []) + ([] if required is MISSING else required)
        short_names = [name for name in names if '.' not in name and name not in CRI_PLUGINS]
        if short_names or 'cri' in plugins:
            if self.containerd is not None and self.containerd.major >= 2 and not self.containerd.migrates_each_file:
                raise SpegelError(
                    '%s has no version line, so containerd reads it as version 1, and containerd %s ignores the '
                    'CRI settings of a version 1 file. Convert it with `containerd config migrate` (review the '
                    'output), or add version = 2 and use full plugin names; nothing was changed.'
                    % (self.source, self.containerd))
            return  # version 1 on containerd 1.x or 2.3+ (which migrates it): keep the file's layout
        if self.containerd is None:
            raise SpegelError(
                '%s has no version line, so its layout depends on the containerd version, and containerd is not '
                'installed on the node. Set containerd_version to the version the node will run, such as 1.7.24; '
                'nothing was changed.' % self.source)
        if self.containerd.major == 1:
            if CRI_IMAGES in plugins:
                raise SpegelError(
                    '%s holds plugins."%s", a containerd 2.x table, but containerd %s on the node is 1.x. '
                    'Write the config for containerd 1.x (version = 2), or upgrade containerd first; nothing '
                    'was changed.' % (self.source, CRI_IMAGES, self.containerd))
            self.version = 2
        else:
            # containerd 2.x migrates CRI tables of version 2 files only.
            self.version = 2 if GRPC_CRI in plugins else self.containerd.newest_config_version
        self.layout = LAYOUTS[self.version]
        self.editor = TomlEditor(_with_version_line(self.editor.original, self.version), self.source)

    def _choose_registry_table(self):
        """A version 2 file that already holds containerd 2.x's images registry table, as some
        cloud templates ship it: containerd 2.x reads that table as it is, unless the file also
        holds the version 2 CRI registry table, which its migration puts in its place. Writing
        a version 2 registry table next to it would make containerd 2.x drop the 2.x table's
        other settings (headers, mirrors); containerd 1.x reads only the version 2 table."""
        if self.version != 2:
            return
        new_table, old_table = MIGRATED_LAYOUT.registry, LAYOUTS[2].registry
        if _lenient_get(self.original, new_table) is MISSING:
            return
        if _lenient_get(self.original, old_table) is not MISSING:
            if self.containerd is None or self.containerd.major >= 2:
                self.warnings.append(
                    '%s: containerd 2.x replaces %s with %s when it migrates this version 2 file, so settings only in '
                    'the former have no effect; move them into the latter.' % (
                        self.source, format_key(new_table), format_key(old_table)))
            return
        if self.containerd is None:
            raise SpegelError(
                '%s: this version 2 file holds %s, the registry table containerd 2.x reads, while containerd 1.x '
                'reads %s; which one to write depends on the containerd version, and containerd is not installed '
                'on the node. Set containerd_version to the version the node will run, such as 2.1.5; nothing was '
                'changed.' % (self.source, format_key(new_table), format_key(old_table)))
        if self.containerd.major >= 2:
            self.layout = Layout(2, new_table, LAYOUTS[2].images)
        else:
            self.warnings.append(
                '%s: containerd %s ignores %s (a containerd 2.x table), so config_path goes into %s. After an upgrade '
                'to containerd 2.x that table replaces the 2.x one: move the 2.x table\'s settings into it, or run '
                'this module again after the upgrade with a file without it.' % (
                    self.source, self.containerd, format_key(new_table), format_key(old_table)))

    def _refuse_leftover_v2_tables(self):
        """containerd 2.3+ migrates a version 3 file too: its leftover version 2 CRI registry
        table, or discard_unpacked_layers beside runtimes, replace the images plugin's (2.0-2.2
        ignore them), so what this module writes in the version 3 tables would not count."""
        if self.version != 3 or self.containerd is None or not self.containerd.migrates_each_file:
            return
        old_layout = LAYOUTS[2]
        containerd_table = _lenient_get(self.original, old_layout.images)
        leftovers = [key for key, present in (
            (old_layout.registry, _lenient_get(self.original, old_layout.registry) is not MISSING),
            (old_layout.discard_unpacked_layers, isinstance(containerd_table, dict) and 'runtimes' in containerd_table
             and 'discard_unpacked_layers' in containerd_table)) if present]
        if leftovers:
            raise SpegelError(
                '%s: version = 3, but it also holds %s, a version 2 table that containerd %s migrates over '
                'plugins."%s" (2.0-2.2 ignore it). Move its settings into the version 3 tables and remove it; nothing '
                'was changed.' % (self.source, format_key(leftovers[0]), self.containerd, CRI_IMAGES))

    def _migrate_legacy(self, registry):
        layout = self.layout
        self.migrated, self.dropped_mirrors = legacy_registries(self.data, layout, self.source)
        self.warnings += ['%s: %s: %s; dropped with the legacy mirrors.' % (self.source, item['key'], item['reason'])
                          for item in self.dropped_mirrors]
        self.editor.remove(layout.mirrors)
        configs = registry.get('configs', {})
        for host in list(configs):
            if isinstance(configs[host], dict) and 'tls' in configs[host]:
                # auth stays: containerd still uses configs.<host>.auth next to config_path, with
                # the token exchange a static hosts.toml header cannot do.
                self.editor.remove(layout.configs + (host, 'tls'))
                if not self.editor.get(layout.configs + (host,)):
                    self.editor.remove(layout.configs + (host,))
        if 'configs' in registry and not self.editor.get(layout.configs):
            self.editor.remove(layout.configs)


def _with_version_line(text, version):
    """The text with `version = N` where containerd's own files have it: above the first
    setting and the comment block attached to it, below a file's header comment."""
    newline = '\r\n' if '\r\n' in text else '\n'
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith('#')), None)
    if first is None:
        if lines and not lines[-1].endswith('\n'):
            lines[-1] += newline
        return ''.join(lines) + 'version = %d%s' % (version, newline)
    while first > 0 and lines[first - 1].lstrip().startswith('#'):
        first -= 1
    return ''.join(lines[:first]) + 'version = %d%s' % (version, newline) + ''.join(lines[first:])


def _overlaps(left, right):
    left, right = tuple(left), tuple(right)
    shorter = min(len(left), len(right))
    return left[:shorter] == right[:shorter]


# The fields of an extra_settings item (DOCUMENTATION's suboptions). Checked here, not by the
# argument spec: its list type would take a string key apart at commas instead of refusing it.
EXTRA_SETTING_FIELDS = ('key', 'value', 'state')


def normalise_extra_settings(settings):
    """[{key: [segments], value: any} | {key: [...], state: absent}] with plain types."""
    result = []
    for index, setting in enumerate(settings or ()):
        where = 'extra_settings[%d]' % index
        if not isinstance(setting, dict) or 'key' not in setting:
            raise SpegelError('%s must be a dict with a key (a list of segments), got %r.' % (where, setting))
        unknown = set(setting) - set(EXTRA_SETTING_FIELDS)
        if unknown:
            raise SpegelError('%s: unknown field(s) %s; use key, value and state.' % (where, ', '.join(sorted(unknown))))
        key = setting['key']
        if isinstance(key, str) or not isinstance(key, (list, tuple)) or not key or \
                not all(isinstance(segment, str) and segment for segment in key):
            raise SpegelError('%s: key must be a list of non-empty strings such as '
                              '[plugins, io.containerd.metadata.v1.bolt, content_sharing_policy], got %r.'
                              % (where, key))
        state = str(setting.get('state') or 'present')
        if state not in ('present', 'absent'):
            raise SpegelError('%s: state must be present or absent, got %r.' % (where, state))
        if state == 'present' and setting.get('value') is None:
            raise SpegelError('%s: %s needs a value (or state: absent).' % (where, format_key(key)))
        result.append({'key': [str(segment) for segment in key], 'value': setting.get('value'), 'state': state})
    return result


# --- what containerd will see ---------------------------------------------------------------

Setting = collections.namedtuple('Setting', 'value file key')
DEFAULTS = {'config_path': '', 'discard_unpacked_layers': False, 'use_local_image_pull': False}


def _view(data, layout):
    """The managed settings a file sets itself, as {name: (value, key)}; legacy settings as
    'legacy' when present."""
    found = {}
    for name, key in (('config_path', layout.config_path), ('discard_unpacked_layers', layout.discard_unpacked_layers),
                      ('use_local_image_pull', layout.use_local_image_pull)):
        if key is None:
            continue
        value = _lenient_get(data, key)
        if value is not MISSING:
            found[name] = (value, key)
    registry = _lenient_get(data, layout.registry)
    if _has_legacy_settings(registry):
        found['legacy'] = (True, layout.registry)
    return found


def _lenient_get(data, segments):
    node = data
    for segment in segments:
        if not isinstance(node, dict) or segment not in node:
            return MISSING
        node = node[segment]
    return node


def _migrate_v2(data):
    """A copy of version 2 data as containerd 2.x migrates it to version 3, for the keys this
    module manages (plugins/cri/images configMigration): the CRI `registry` table replaces
    the images plugin's, and discard_unpacked_layers moves only when the CRI `containerd`
    table has `runtimes` (2.0-2.4 return early without them, dropping the key)."""
    data = copy.deepcopy(data)
    cri = _lenient_get(data, ('plugins', GRPC_CRI))
    if not isinstance(cri, dict):
        return data
    images = data['plugins'].get(CRI_IMAGES)
    images = data['plugins'][CRI_IMAGES] = images if isinstance(images, dict) else {}
    if 'registry' in cri:
        images['registry'] = cri['registry']
    containerd_table = cri.get('containerd')
    if isinstance(containerd_table, dict) and 'runtimes' in containerd_table \
            and 'discard_unpacked_layers' in containerd_table:
        images['discard_unpacked_layers'] = containerd_table['discard_unpacked_layers']
    return data


def _with_full_plugin_names(data):
    """A copy of a version 1 file with the CRI plugin under its full name, as containerd 2.x
    renames it (containerd 1.x reads the short name itself)."""
    if isinstance(data.get('plugins'), dict) and 'cri' in data['plugins']:
        data = copy.deepcopy(data)
        data['plugins'][GRPC_CRI] = data['plugins'].pop('cri')
    return data


def _deep_merge(into, data):
    """containerd 2.x's merge of a drop-in: tables merge key by key, anything else replaces."""
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def wanted_settings(hosts_dir, use_local_image_pull=None):
    """What the effective config must hold once this collection is done."""
    wanted = {'config_path': hosts_dir, 'discard_unpacked_layers': False}
    if use_local_image_pull is not None:
        wanted['use_local_image_pull'] = bool(use_local_image_pull)
    return wanted


def predict_effective(main, dropins, layout, containerd):
    """The effective managed settings after containerd merges the main file and its drop-ins.

    main: (path, data); dropins: [(path, data)] in containerd's load order.
    Returns (effective {name: Setting}, overriding [{file, key, value?}]) where overriding lists
    every drop-in that sets, or on 1.x replaces, what this collection manages.
    """
    family2 = containerd.major >= 2 if containerd is not None else layout.version >= 3
    effective = {name: Setting(value, None, None) for name, value in DEFAULTS.items()}
    effective['legacy'] = Setting(False, None, None)
    overriding = []
    if not family2:
        cri = layout.cri_plugin
        winner = main
        for path, data in dropins:
            if _lenient_get(data, cri) is not MISSING:
                winner = (path, data)
                overriding.append({'file': path, 'key': format_key(cri),
                                   'effect': 'replaces the whole table on containerd 1.x'})
        path, data = winner
        for name, (value, key) in _view(data, layout).items():
            effective[name] = Setting(value, path, format_key(key))
        if winner is not main:
            for name in DEFAULTS:
                if effective[name].file is None:
                    effective[name] = Setting(DEFAULTS[name], path, format_key(cri))
        return effective, overriding

    # 2.0-2.2 merge the files as they are (a version 1 file's plugins renamed) and migrate the
    # result once, when the last file that declares version 2 or 3 declares 2 (their own
    # version is 3 until a file says otherwise). 2.3+ migrate every file below version 4 on its
    # own (the main file too, a version 3 file's leftover version 2 CRI tables included), then
    # merge them. 2.3.0-2.3.4 refuse a drop-in newer than the main file.
    each_file = containerd.migrates_each_file if containerd is not None else layout.version >= 4
    root_version = _known_version(main[1])
    files = [main] + list(dropins)
    declared = [_known_version(data) for _path, data in files if _known_version(data) >= 2]
    migrate_once = not each_file and (declared[-1] if declared else 3) < 3
    merged, sources = {}, {}
    for index, (path, data) in enumerate(files):
        version = _known_version(data)
        if index and containerd is not None and version > containerd.newest_config_version:
            raise SpegelError(
                '%s: the drop-in %s declares version = %d, newer than containerd %s loads (at most %d), so containerd '
                'would not start. Lower the drop-in\'s version; nothing was changed.'
                % (main[0], path, version, containerd, containerd.newest_config_version))
        if index and version > root_version and (containerd is None or containerd.refuses_newer_dropins):
            raise SpegelError(
                '%s: the drop-in %s declares version = %d, newer than the main file\'s version = %d, and containerd '
                '2.3.0 to 2.3.4 refuse to start with it. Lower the drop-in\'s version or raise the main file\'s; nothing '
                'was changed.' % (main[0], path, version, root_version))
        written = _view(data, LAYOUTS[version])
        data = _with_full_plugin_names(data) if version < 2 else data
        if each_file:
            data = _migrate_v2(data) if version < 4 else data
            own = {name: (value, written.get(name, (value, key))[1])
                   for name, (value, key) in _view(data, MIGRATED_LAYOUT).items()}
        else:
            own = _view(data, MIGRATED_LAYOUT)
            if migrate_once:
                own.update(_view(data, LAYOUTS[2]))
        for name, (value, key) in own.items():
            sources[name] = (path, format_key(key))
            if index:
                entry = {'file': path, 'key': format_key(key)}
                if not isinstance(value, (dict, list)):
                    entry['value'] = value
                overriding.append(entry)
        _deep_merge(merged, data)
    final = _migrate_v2(merged) if migrate_once else merged
    for name, (value, _key) in _view(final, MIGRATED_LAYOUT).items():
        effective[name] = Setting(value, *sources.get(name, (None, None)))
    return effective, overriding


def _known_version(data):
    version = data.get('version', 1)
    return version if version in LAYOUTS else 1


def check_effective(effective, wanted, source):
    """Fail, naming the drop-in and key, when the merged result is not what was wanted."""
    for name, value in wanted.items():
        setting = effective[name]
        if not same_value(setting.value, value):
            where = ('%s sets %s' % (setting.file, setting.key)) if setting.file and setting.file != source \
                else None
            if where is None:
                raise SpegelError('%s: effective %s would be %r instead of %r (bug in this module; nothing '
                                  'was changed).' % (source, name, setting.value, value))
            if setting.key.endswith(name):
                what = 'the drop-in %s = %r overrides %s = %r' % (where, setting.value, name, value)
            else:  # containerd 1.x: the drop-in's plugin table replaced the main file's
                what = ('the drop-in %s, which replaces that whole table on containerd 1.x, so %s is %r instead of %r'
                        % (where, name, setting.value, value))
            raise SpegelError(
                '%s: %s from %s. Change or remove that setting in %s (this module does not edit drop-ins other '
                'tools own); nothing was changed.' % (source, what, source, setting.file))
    legacy = effective['legacy']
    if legacy.value and legacy.file != source:
        raise SpegelError(
            '%s: the drop-in %s holds legacy registry mirrors or configs.<host>.tls at %s; with config_path set '
            'containerd drops the CRI plugin. Move them into hosts.toml files and remove them from %s; '
            'nothing was changed.' % (source, legacy.file, legacy.key, legacy.file))


def disabled_cri_in_dropins(dropins):
    """[(file, names)] of drop-ins whose disabled_plugins turn CRI off."""
    found = []
    for path, data in dropins:
        names = [name for name in data.get('disabled_plugins', []) if name in CRI_PLUGINS] \
            if isinstance(data.get('disabled_plugins'), list) else []
        if names:
            found.append((path, names))
    return found


# --- reading containerd's own view ----------------------------------------------------------

def settings_from_dump(text, source):
    """{config_path, discard_unpacked_layers, use_local_image_pull?} from `containerd config dump`
    output (version 2 on 1.x, 3 on 2.0-2.2, 4 on 2.3+)."""
    try:
        dump = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpegelError('%s: containerd config dump printed no TOML (%s).' % (source, exc)) from None
    layout = LAYOUTS.get(dump.get('version'))
    if layout is None or layout.version < 2:
        raise SpegelError('%s: containerd config dump printed version = %r.' % (source, dump.get('version')))
    result = {}
    for name, key in (('config_path', layout.config_path), ('discard_unpacked_layers', layout.discard_unpacked_layers),
                      ('use_local_image_pull', layout.use_local_image_pull)):
        value = _lenient_get(dump, key) if key else MISSING
        if value is not MISSING:
            result[name] = value
    result['cri_disabled'] = [name for name in dump.get('disabled_plugins', []) if name in CRI_PLUGINS]
    return result


# --- did the running containerd load the files? ---------------------------------------------

def restart_state(service, changes):
    """Whether the running containerd loaded its config files as they are now.

    service: node_files' `service` ({name, active_state, started_us, now_us, error?});
    changes: [(path, mtime_us)] of the config file and its drop-ins that exist, on the same
    (node's wall) clock as started_us. The one comparison behind the module's
    restart_pending and the verify playbook's `restarted` check.
    """
    state = {'name': service.get('name'), 'active_state': service.get('active_state'),
             'started_at': _iso(service.get('started_us')), 'last_change_at': None, 'last_change_file': None,
             'restart_pending': False, 'up_to_date': False}
    changes = [(path, mtime) for path, mtime in changes if mtime is not None]
    started = service.get('started_us')
    if changes:
        path, mtime = max(changes, key=lambda change: change[1])
        state.update(last_change_at=_iso(mtime), last_change_file=path)
    if service.get('error'):
        state['detail'] = 'systemd cannot tell when %s started: %s' % (state['name'], service['error'])
    elif state['active_state'] != 'active':
        state['detail'] = '%s is %s' % (state['name'], state['active_state'] or 'unknown')
    elif not changes:
        state['detail'] = 'no config file to load'
    elif started is None:
        state['detail'] = '%s is active but systemd has no start time for it' % state['name']
    elif service.get('now_us') is not None and mtime > service['now_us']:
        # A restart could never start after it: no endless restarts for a skewed file date.
        state['detail'] = 'cannot tell: %s is dated %.1fs in the future (fix its date, e.g. touch it)' % (
            path, (mtime - service['now_us']) / 1e6)
    elif mtime > started:
        state['restart_pending'] = True
        state['detail'] = 'restart pending: %s changed %.1fs after %s started' % (
            path, (mtime - started) / 1e6, state['name'])
    else:
        state['up_to_date'] = True
        state['detail'] = 'started %.1fs after the last change of %s' % ((started - mtime) / 1e6, path)
    return state


def _iso(microseconds):
    if microseconds is None:
        return None
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=microseconds)
    return moment.isoformat().replace('+00:00', 'Z')
