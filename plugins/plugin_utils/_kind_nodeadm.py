# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""EKS Amazon Linux 2023: nodeadm owns /etc/containerd/config.toml.

Facts from nodeadm's source (awslabs/amazon-eks-ami, nodeadm/ and templates/al2023/):

- nodeadm writes config.toml from its template at every `init` config phase, so hand edits
  are lost. The TOML in a NodeConfig's spec.containerd.config is merged onto the template
  (internal/containerd/config.go); any `io.containerd.cri.v1.images` key selects the version 3
  (containerd 2) template, and containerd 1.x nodes refuse such a config.
- nodeadm-run.service runs `nodeadm init --skip config --config-source imds://user-data
  --config-source file:///etc/eks/nodeadm.d/ --config-cache /run/eks/nodeadm/config.json`
  (AMI v20251023+). Files in nodeadm.d (.yaml/.yml/.json, by name) merge after user data and
  win; their containerd TOML is merged table by table (internal/api/merge.go).
- Restarting nodeadm-run.service replays the boot: its Requires= starts the finished oneshot
  nodeadm-config.service again (config phase from user data), then nodeadm-run sees a spec
  other than the cached one, runs the config phase again with the drop-ins
  (cmd/nodeadm/init: needsRecache), and restarts containerd and kubelet (EnsureRunning).

The mirror role's hosts.toml files go under the single hosts directory the drop-in names.
"""

from __future__ import annotations

import copy
import json
import tomllib

import yaml

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import (
    NODEADM_DROPIN, nodeadm, nodeconfig, nodeconfig_text, nodeconfig_toml,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_effective import _view
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import CONFIG_FILE, LAYOUTS, SERVICE_NAME
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_kinds import FileChange, NodeKind, Plan, remove_if_ours
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_secrets

NODEADM_DIR = '/etc/eks/nodeadm.d'
NODEADM_RUN_UNIT = '/etc/systemd/system/nodeadm-run.service'
NODEADM_CONFIG_UNIT = '/etc/systemd/system/nodeadm-config.service'
DROPIN_SOURCE = 'file:///etc/eks/nodeadm.d'
# The spec of nodeadm's last config phase, user data and drop-ins merged (JSON).
CONFIG_CACHE = '/run/eks/nodeadm/config.json'
V2_TABLES = 'io.containerd.grpc.v1.cri'
# What makes nodeadm choose its version 3 template (Version3configInNodeConfig).
V3_TABLES = ('io.containerd.cri.v1.images', 'io.containerd.cri.v1.runtime')
CONFIG_EXTENSIONS = ('.yaml', '.yml', '.json')


class NodeadmKind(NodeKind):
    name = 'nodeadm'
    summary = 'EKS Amazon Linux 2023: nodeadm writes /etc/containerd/config.toml from NodeConfig at every boot'
    marks = ('/usr/bin/nodeadm', NODEADM_DIR, NODEADM_RUN_UNIT, NODEADM_CONFIG_UNIT)
    services = ('nodeadm-run.service',)
    refusal = 'nodeadm writes /etc/containerd/config.toml again at every boot, so an edit there is lost'

    def reads(self, spec):
        return [NODEADM_RUN_UNIT, NODEADM_DROPIN, CONFIG_FILE, CONFIG_CACHE], [NODEADM_DIR + '/*']

    def probes(self, spec):
        # nodeadm picks its template by the containerd major version.
        return {'containerd_version': True}

    def redact(self, path, text, before=None):
        """The NodeConfig with its containerd TOML masked as any TOML is; other text is not shown."""
        toml = nodeconfig_toml(text)
        if toml is None:
            return text and '(%s is not shown: it is not the NodeConfig this collection writes, and may hold ' \
                            'secrets)\n' % path
        return nodeconfig_text(redact_secrets(toml, path, before=nodeconfig_toml(before)))

    def plan(self, spec, state):
        spec = copy.copy(spec)
        unit = state.file(NODEADM_RUN_UNIT)
        if not unit.exists:
            raise SpegelError(
                '%s is missing, so this is no EKS AL2023 node that nodeadm configures. Set spegel_node_kind to the '
                'node\'s kind (containerd for a plain containerd node); nothing was changed.' % NODEADM_RUN_UNIT)
        if DROPIN_SOURCE not in unit.text:
            raise SpegelError(
                '%s does not read %s/ (AMI releases before v20251023), so nodeadm would ignore a drop-in there. '
                'Move the node group to AMI v20251023 or later, or put the NodeConfig part into its user data '
                '(the nodeadm artefact); nothing was changed.' % (NODEADM_RUN_UNIT, NODEADM_DIR))
        generated = self._generated(state)
        config_version = self._config_version(spec, state, generated)
        if config_version == 3:
            self._refuse_version2_settings(state)
        text, plan = nodeconfig(spec, config_version)
        current = state.file(NODEADM_DROPIN)
        changes = []
        if not current.exists or current.text != text:
            changes.append(FileChange(NODEADM_DROPIN, current, text, '0644', None, True))
        facts = {
            'dropin': NODEADM_DROPIN,
            'config_version': config_version,
            'hosts_dir': spec.hosts_dir,
            'generated': self._settings(generated),
            'applied_by': 'systemctl restart nodeadm-run.service: nodeadm-config and nodeadm-run run again, '
                          'write %s with the drop-in and restart containerd and kubelet' % CONFIG_FILE,
        }
        return Plan(changes, plan.warnings + self._overridden(state, spec), facts)

    def loaded_by(self, spec, state):
        # nodeadm-run is a oneshot that writes config.toml from the drop-in and restarts containerd:
        # containerd's start after both files' last change is what counts.
        return SERVICE_NAME, [NODEADM_DROPIN, CONFIG_FILE], None

    def revert(self, spec, state):
        # Either template's drop-in is ours: the node's containerd may have changed major since.
        ours = []
        for version in (2, 3):
            try:
                ours.append(nodeconfig(copy.copy(spec), version)[0])
            except SpegelError:  # version 3 for a containerd 1.x given in spec
                pass
        changes, warnings = remove_if_ours(state, NODEADM_DROPIN, ours, True)
        return Plan(changes, warnings, {'dropin': NODEADM_DROPIN,
                                        'applied_by': 'systemctl restart nodeadm-run.service'})

    def artefact(self, spec):
        return nodeadm(copy.copy(spec))

    @staticmethod
    def _generated(state):
        """nodeadm's config.toml as parsed data, or None when absent or unreadable (only read)."""
        config = state.file(CONFIG_FILE)
        if not config.exists:
            return None
        try:
            return tomllib.loads(config.text)
        except tomllib.TOMLDecodeError:
            return None

    @staticmethod
    def _config_version(spec, state, generated):
        """The layout of nodeadm's template on this node: 3 for containerd 2, 2 for 1.x."""
        containerd = spec.containerd or state.containerd_version()
        if containerd is not None:
            return 3 if containerd.major >= 2 else 2
        if generated is not None and generated.get('version') in (2, 3):
            return generated['version']
        raise SpegelError(
            '%s is missing or not TOML and the containerd version is unknown, so the drop-in\'s layout cannot be '
            'chosen (nodeadm refuses version 3 keys on containerd 1.x). Set containerd_version, or run again '
            'once nodeadm has written %s; nothing was changed.' % (CONFIG_FILE, CONFIG_FILE))

    @staticmethod
    def _refuse_version2_settings(state):
        """nodeadm uses its version 2 template (and migrates it) while the containerd TOML it merges has
        only version 2 tables; the drop-in's version 3 keys would switch it to the version 3 template,
        where those tables are ignored."""
        sources = {}
        mine = state.files.get(NODEADM_DROPIN)
        cache = state.files.get(CONFIG_CACHE)
        # The cache holds this drop-in's settings too: read it only while they are version 3.
        if cache is not None and cache.exists and not (mine is not None and mine.exists and V2_TABLES in mine.text):
            try:
                sources[CONFIG_CACHE + ' (user data and drop-ins)'] = \
                    json.loads(cache.text)['spec']['containerd']['config']
            except (ValueError, TypeError, KeyError):
                pass
        for path in state.globs.get(NODEADM_DIR + '/*', []):
            node_file = state.files.get(path)
            if path != NODEADM_DROPIN and node_file is not None and node_file.exists:
                try:
                    sources[path] = yaml.safe_load(node_file.text)['spec']['containerd']['config']
                except (yaml.YAMLError, TypeError, KeyError):
                    pass
        sources = {name: text for name, text in sources.items() if isinstance(text, str)}
        if any(table in text for text in sources.values() for table in V3_TABLES):
            return
        version2 = sorted(name for name, text in sources.items() if V2_TABLES in text)
        if version2:
            raise SpegelError(
                '%s: the containerd settings there are in version 2 tables (plugins."%s"), so nodeadm uses its '
                'version 2 template and migrates it. The version 3 keys of %s would switch it to the version 3 '
                'template, where those tables are ignored. Move those settings to the version 3 tables '
                '(plugins."io.containerd.cri.v1.images" and plugins."io.containerd.cri.v1.runtime") in the user '
                'data or drop-in, reboot or restart nodeadm-run.service, and run again; nothing was changed.'
                % (', '.join(version2), V2_TABLES, NODEADM_DROPIN))

    @staticmethod
    def _settings(generated):
        if generated is None:
            return {}
        layout = LAYOUTS.get(generated.get('version'), LAYOUTS[3])
        return {name: value for name, (value, _key) in _view(generated, layout).items() if name != 'legacy'}

    @staticmethod
    def _overridden(state, spec):
        """Warnings for drop-ins nodeadm merges after this one that set the same containerd keys."""
        warnings = []
        mine = NODEADM_DROPIN.rsplit('/', 1)[1]
        for path in state.globs.get(NODEADM_DIR + '/*', []):
            name = path.rsplit('/', 1)[1]
            if name <= mine or not name.lower().endswith(CONFIG_EXTENSIONS):
                continue
            node_file = state.files.get(path)
            text = node_file.text if node_file is not None else None
            try:
                toml = yaml.safe_load(text)['spec']['containerd']['config'] if text is not None else None
                settings = NodeadmKind._settings(tomllib.loads(toml)) if isinstance(toml, str) else {}
            except (yaml.YAMLError, tomllib.TOMLDecodeError, TypeError, KeyError):
                warnings.append('%s: nodeadm merges it after %s and it could not be read here; make sure it sets '
                                'no config_path or discard_unpacked_layers.' % (path, NODEADM_DROPIN))
                continue
            if settings:
                warnings.append('%s: nodeadm merges it after %s, so its %s win; remove them there (Spegel needs '
                                'config_path = %s and discard_unpacked_layers = false).'
                                % (path, NODEADM_DROPIN, ', '.join(sorted(settings)), spec.hosts_dir))
        return warnings
