# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""containerd's config.toml: its paths, its layouts and versions, and reading its values
(controller side only).

LAYOUTS says which table holds which key for each config `version`. Facts verified against
containerd 1.6.20, 1.7.24, 2.1.9, 2.2.9, 2.3.7 and 2.4.2 and their sources.
"""

from __future__ import annotations

import collections
import posixpath
import re

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import MISSING, format_key, toml_type


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
