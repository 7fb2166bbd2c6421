# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""k0s: k0s runs its own containerd (socket /run/k0s/containerd.sock) from
/etc/k0s/containerd.toml, which it rewrites at every start while the file's first line is
`# k0s_managed=true`.

Facts from k0s's source (pkg/component/worker/containerd): since 1.36.1 (containerd 2) that
file is version 3 and imports /etc/k0s/containerd.d/*.toml, which containerd deep-merges in
name order; before, k0s merged drop-ins into a version 2 CRI file of its own. k0s watches
containerd.d (fsnotify; create, write, remove, rename; 3 s debounce) and sends its containerd
SIGHUP, which containerd does not handle, so it exits and k0s's supervisor starts it again
with the new drop-in: nothing needs restarting here.
"""

from __future__ import annotations

import copy
import tomllib

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import (
    K0S_DROPIN, K0S_SOCKET, k0s, k0s_dropin,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_effective import _view
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import LAYOUTS
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_kinds import FileChange, NodeKind, Plan, remove_if_ours

K0S_CONFIG = '/etc/k0s/containerd.toml'
K0S_DROPIN_DIR = '/etc/k0s/containerd.d'
K0S_IMPORTS = K0S_DROPIN_DIR + '/*.toml'
MANAGED_MARK = '# k0s_managed=true'


class K0sKind(NodeKind):
    name = 'k0s'
    summary = 'k0s: k0s generates its containerd\'s config and imports drop-ins from /etc/k0s/containerd.d'
    marks = ('/usr/local/bin/k0s', '/var/lib/k0s', K0S_CONFIG)
    services = ()
    cri_address = K0S_SOCKET
    refusal = ('k0s runs its own containerd from /etc/k0s/containerd.toml, not from /etc/containerd/config.toml, '
               'and takes drop-ins in /etc/k0s/containerd.d')

    def reads(self, spec):
        return [K0S_CONFIG, K0S_DROPIN], [K0S_IMPORTS]

    def plan(self, spec, state):
        spec = copy.copy(spec)
        main = state.file(K0S_CONFIG)
        if not main.exists:
            raise SpegelError(
                '%s is missing: k0s writes it when its worker starts. Start k0s on the node (k0s install worker, '
                'then k0s start) and run again; nothing was changed.' % K0S_CONFIG)
        if main.text.split('\n', 1)[0].rstrip('\r') != MANAGED_MARK:
            raise SpegelError(
                '%s does not start with "%s", so k0s does not manage containerd there and imports no drop-in. '
                'Patch that file with the plain adapter instead: spegel_node_kind: containerd and '
                'containerd_config_file: %s; nothing was changed.' % (K0S_CONFIG, MANAGED_MARK, K0S_CONFIG))
        try:
            data = tomllib.loads(main.text)
        except tomllib.TOMLDecodeError as exc:
            raise SpegelError('%s is not TOML (%s); restart k0s so that it writes the file again. Nothing was '
                              'changed.' % (K0S_CONFIG, exc)) from None
        if data.get('version') != 3 or K0S_IMPORTS not in (data.get('imports') or []):
            raise SpegelError(
                '%s is version %s without imports = ["%s"]: k0s before 1.36.1 (containerd 1.7) merges drop-ins '
                'itself, in a version 2 layout this adapter does not write. Upgrade k0s to 1.36.1 or later; '
                'nothing was changed.' % (K0S_CONFIG, data.get('version', 1), K0S_IMPORTS))
        text, plan = k0s_dropin(spec)
        current = state.file(K0S_DROPIN)
        changes = []
        if not current.exists or current.text != text:
            # k0s restarts its containerd itself when containerd.d changes.
            changes.append(FileChange(K0S_DROPIN, current, text, '0644', None, False))
        facts = {'dropin': K0S_DROPIN, 'socket': K0S_SOCKET, 'hosts_dir': spec.hosts_dir,
                 'applied_by': 'k0s: it watches %s and restarts its containerd a few seconds after a change'
                               % K0S_DROPIN_DIR}
        return Plan(changes, plan.warnings + self._overridden(state, spec), facts)

    def loaded_by(self, spec, state):
        return None, [K0S_DROPIN], (
            'not checked for k0s: k0s restarts its containerd itself a few seconds after %s changes, and no '
            'systemd unit shows when' % K0S_DROPIN_DIR)

    def revert(self, spec, state):
        # k0s restarts its containerd itself when the drop-in goes, as when it comes.
        changes, warnings = remove_if_ours(state, K0S_DROPIN, (k0s_dropin(copy.copy(spec))[0],), False)
        return Plan(changes, warnings, {'dropin': K0S_DROPIN, 'socket': K0S_SOCKET})

    def artefact(self, spec):
        return k0s(copy.copy(spec))

    @staticmethod
    def _overridden(state, spec):
        """Warnings for drop-ins containerd imports after this one that set the same keys."""
        warnings = []
        for path in state.globs.get(K0S_IMPORTS, []):
            if path <= K0S_DROPIN:
                continue
            node_file = state.files.get(path)
            try:
                data = tomllib.loads(node_file.text) if node_file is not None and node_file.text else {}
            except tomllib.TOMLDecodeError:
                warnings.append('%s is not TOML, and k0s\'s containerd will not start with it; fix or remove it.'
                                % path)
                continue
            settings = sorted(name for name in _view(data, LAYOUTS[3]) if name != 'legacy')
            if settings:
                warnings.append('%s: containerd imports it after %s, so its %s win; remove them there (Spegel '
                                'needs config_path = %s and discard_unpacked_layers = false).'
                                % (path, K0S_DROPIN, ', '.join(settings), spec.hosts_dir))
        return warnings
