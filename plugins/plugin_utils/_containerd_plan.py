# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ConfigPlan: the edits that make one config.toml ready for Spegel (controller side only).

ConfigPlan is the only code that writes containerd keys in this collection; the extra
settings a user adds go through it too.
"""

from __future__ import annotations

import copy

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_effective import _lenient_get
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    CRI_IMAGES, CRI_PLUGINS, GRPC_CRI, HOSTS_DIR, LAYOUTS, MIGRATED_LAYOUT, Layout, _get, check_layout, declared_version,
    resolve_imports,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_legacy import (
    _has_legacy_settings, legacy_registries,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_containerd import containerd1_unreadable
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import (
    MISSING, TomlEditor, format_key, option_type, parse_plain, same_value,
)


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

        managed = layout.managed_keys() + list(ALWAYS_MANAGED)
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


# Keys set in every layout: the version line, and disabled_plugins (enable_cri).
ALWAYS_MANAGED = (('version',), ('disabled_plugins',))


def edits_beyond_the_plan(original_text, current_text, extra_settings, source):
    """The keys (formatted, at most five, values never shown) where current differs from
    original outside what a plan may change (any layout's managed keys, the version line,
    disabled_plugins, the keys of extra_settings): [] when putting original back loses nothing
    but this collection's settings. Comments and layout are not compared."""
    ignored = [key for layout in LAYOUTS.values() for key in layout.managed_keys()] + list(ALWAYS_MANAGED)
    ignored += [setting['key'] for setting in normalise_extra_settings(extra_settings)]
    try:
        current = _without(parse_plain(current_text, source), ignored)
    except SpegelError:
        return ['the whole file (it is not valid TOML)']
    original = _without(parse_plain(original_text, source), ignored)
    return [format_key(key) for key in _differences(original, current, ())][:5]


def _without(data, keys):
    """data without keys, and without the tables that leaves empty."""
    data = copy.deepcopy(data)
    for key in keys:
        node = data
        for segment in key[:-1]:
            node = node.get(segment) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(key[-1], None)
    return _pruned(data)


def _pruned(node):
    if not isinstance(node, dict):
        return node
    pruned = {key: _pruned(value) for key, value in node.items()}
    return {key: value for key, value in pruned.items() if value != {}}


def _differences(left, right, path):
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            yield from _differences(left.get(key, MISSING), right.get(key, MISSING), path + (key,))
    elif not same_value(left, right):
        yield path


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
            # Its fields' names only: a value may be a secret.
            got = ('a dict with the fields %s' % ', '.join(sorted(str(field) for field in setting))
                   if isinstance(setting, dict) else option_type(setting))
            raise SpegelError('%s must be a dict with a key (a list of segments), got %s.' % (where, got))
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
