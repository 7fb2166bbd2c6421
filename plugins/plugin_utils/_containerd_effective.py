# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What containerd will see: predict_effective() mirrors how containerd merges `imports`
drop-ins (1.x: a drop-in's plugin table replaces the main file's; 2.x: tables are
deep-merged, older layouts migrated first), and settings_from_dump() reads what a running
containerd reports (controller side only)."""

from __future__ import annotations

import collections
import copy
import tomllib

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    CRI_IMAGES, CRI_PLUGINS, GRPC_CRI, LAYOUTS, MIGRATED_LAYOUT,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_legacy import _has_legacy_settings
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import MISSING, format_key, same_value


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
