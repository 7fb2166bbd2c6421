# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Artefacts for nodes that are never reached over SSH: what a distribution's own
configuration channel needs so that its containerd works with Spegel.

One function per distribution, from the mirror and containerd roles' variables (for the
node kinds k0s, nodeadm, k3s and rke2 their adapter's artefact(), see node_artefact). Every
containerd key is written by ConfigPlan (the collection's only writer of containerd keys);
the facts below were checked against each project's source:

- Kind: `containerdConfigPatches` are TOML merge patches that kind applies to the node's
  /etc/containerd/config.toml (pkg/internal/patch/toml.go); the node image's base is version 2
  with discard_unpacked_layers = true, and a patch whose `version` differs from the base's is
  skipped. Spegel's own tests use version 2 with config_path, discard_unpacked_layers = false
  and content_sharing_policy = "isolated".
- Talos: /etc/cri/conf.d/*.part files (00-base.part sets discard_unpacked_layers = true) and
  the generated 01-registries.part (config_path = /etc/cri/conf.d/hosts) are deep-merged by
  name (internal/pkg/toml); 20-customization.part comes from `machine.files` (deprecated), or
  since Talos 1.14 from a `CRICustomizationConfig` document (name `customization` reserved).
- k0s 1.36+: containerd 2 imports /etc/k0s/containerd.d/*.toml itself while
  /etc/k0s/containerd.toml keeps `# k0s_managed=true`; a drop-in must be version 3 (or have
  none) and must not name plugins."io.containerd.grpc.v1.cri".
- EKS AL2023 (nodeadm): `spec.containerd.config` of a NodeConfig is TOML that nodeadm merges
  onto its own template (internal/containerd/config.go, util.Merge: tables deep, values
  replaced, `false` included); an `io.containerd.cri.v1.images` key selects the version 3
  template, which containerd 1.x nodes refuse. User data carries it as a MIME part of
  Content-Type application/node.eks.aws; /etc/eks/nodeadm.d/*.yaml drop-ins merge after user
  data and win (AMI v20251023+).
- cloud-init: `#cloud-config` user data installs the image bake's boot step (the files of
  the mirror role's entry point `boot`, from the same role variables) with write_files, and
  the containerd role's change to the image's config.toml; runcmd enables the step and
  restarts containerd once, on the first boot.
- user data script: the same files from one code path, written by a #!/bin/sh script from
  here-documents. Without a TOML parser on the node it cannot patch an unknown config.toml, so
  it carries the image's file changed for each containerd version class the edits depend on,
  picks the one for the node's `containerd --version`, and writes only onto the image's file
  (sha256) or the changed one, after every check passed.
- Bottlerocket: thar-be-registries renders `settings.container-registry.mirrors` into
  /etc/containerd/certs.d/<registry>/hosts.toml (`*` to _default): every endpoint with
  capabilities pull and resolve, no dial_timeout, no header, endpoints sorted by URL.

On Kind, Talos and k0s, Spegel's own init container writes the hosts.toml files (chart
`spegel.containerdMirrorAdd`), from the node's status.hostIP and the chart's ports, so the
mirror role's hosts options map onto chart values there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import tomllib
from pathlib import Path

import yaml
from jinja2 import Environment, StrictUndefined

from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_names as hosts_names
from ansible_collections.peerpull.spegel.plugins.plugin_utils import _hosts_render as hosts_render
from ansible_collections.peerpull.spegel.plugins.plugin_utils._boot_hosts import BIN_DIRS, check_settings
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    ContainerdVersion, HOSTS_DIR, parse_containerd_version,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_plan import ConfigPlan
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_ip import UNSET
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import require_absolute

# containerd of the newest Kind node image (kind images/base/Dockerfile CONTAINERD_VERSION).
KIND_CONTAINERD = '2.3.4'
TALOS_HOSTS_DIR = '/etc/cri/conf.d/hosts'
TALOS_PART = '/etc/cri/conf.d/20-customization.part'
K0S_DROPIN = '/etc/k0s/containerd.d/spegel.toml'
K0S_SOCKET = '/run/k0s/containerd.sock'
K0S_CONTENT = '/var/lib/k0s/containerd/io.containerd.content.v1.content'
BOTTLEROCKET_HOSTS_DIR = '/etc/containerd/certs.d'
NODEADM_DROPIN = '/etc/eks/nodeadm.d/spegel.yaml'
NODECONFIG_MEDIA_TYPE = 'application/node.eks.aws'
NODECONFIG_HEADER = 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n'
MIME_BOUNDARY = '//'
# What Spegel's init container writes into every host entry (pkg/oci/containerd/mirror.go).
SPEGEL_DIAL_TIMEOUT = '200ms'
BOTTLEROCKET_CAPABILITIES = ['pull', 'resolve']
# The collection's root: the boot step's files and its role variables come from there.
COLLECTION = Path(__file__).resolve().parents[2]
CONTAINERD_CONFIG = '/etc/containerd/config.toml'
# Spegel's e2e tests keep every namespace's content apart; harmless, and what Spegel tests.
CONTENT_SHARING = {'key': ['plugins', 'io.containerd.metadata.v1.bolt', 'content_sharing_policy'],
                   'value': 'isolated'}


class ArtefactError(SpegelError):
    """An option the distribution's artefact cannot carry: the message names it and the fix."""


class Options:
    """The roles' variables, checked once (list options already lists: the filter reads AWX
    strings with role_list)."""

    def __init__(self, registries=None, ports=None, urls=None, capabilities=None, dial_timeout=None,
                 authorization=None, hosts_dir=None, node_ip=None, containerd_version=None,
                 use_local_image_pull=None, server=None, containerd_config=None):
        self.registries = [hosts_names.validate_registry(r) for r in registries or []] or [hosts_names.DEFAULT_REGISTRY]
        self.ports = [hosts_names.port_number(p, 'mirror_ports') for p in ports or []] or [30020]
        self.urls = [hosts_names.validate_host_url(u) for u in urls or []]
        self.capabilities = [str(c) for c in capabilities or []] or ['pull', 'resolve']
        self.dial_timeout = str(dial_timeout) if dial_timeout not in (None, '') else None
        # Unset takes the mirror role's default; an empty string means none.
        self.role_dial_timeout = SPEGEL_DIAL_TIMEOUT if dial_timeout is None else (self.dial_timeout or '')
        # Checked like a hosts.toml entry's fields, with the same messages.
        hosts_render.normalise_host({'url': 'http://spegel.invalid', 'capabilities': self.capabilities,
                                     'dial_timeout': self.dial_timeout})
        # Checked for its form only: no artefact takes it (the messages never show it).
        self.secret = hosts_names.authorization_header(authorization, 'mirror_authorization') is not None
        self.hosts_dir = None if hosts_dir in (None, '') else require_absolute(
            hosts_dir, 'mirror_hosts_dir', HOSTS_DIR)
        self.node_ip = None if node_ip in UNSET else str(node_ip).strip()
        self.containerd = parse_containerd_version(containerd_version, 'containerd_version') \
            if containerd_version not in (None, '') else None
        self.use_local_image_pull = None if use_local_image_pull in (None, '') else bool(use_local_image_pull)
        self.server = dict(server or {})
        self.containerd_config = None if containerd_config is None else str(containerd_config)


# --- the parts every distribution shares ------------------------------------------------------

def _config_fragment(options, source, version, containerd, extra_settings=()):
    """containerd keys for a patch or drop-in merged over a base that discards unpacked layers:
    discard_unpacked_layers = false spelled out, config_path, use_local_image_pull when set."""
    plan = ConfigPlan('version = %d\n' % version, source, containerd=containerd)
    plan.apply(hosts_dir=options.hosts_dir, use_local_image_pull=options.use_local_image_pull,
               extra_settings=extra_settings, over_base=True)
    return plan


def _spegel_writes_hosts(options, distribution, values):
    """Chart values for the hosts.toml files Spegel's init container writes; refuses what it
    cannot write."""
    if options.secret:
        raise ArtefactError(
            'authorization: the %s artefact is readable configuration (%s), and on %s Spegel writes the '
            'hosts.toml files itself. Put the credentials in a Kubernetes Secret and set the chart value '
            'basicAuthSecretName instead; leave mirror_authorization empty here. Nothing was rendered.'
            % (distribution, _READABLE[distribution], distribution))
    if options.urls:
        raise ArtefactError(
            'urls: on %s Spegel\'s init container writes the mirror targets itself, from each node\'s '
            'status.hostIP and the chart value service.registry.nodePort. Leave mirror_urls empty and set '
            'ports; nothing was rendered.' % distribution)
    if 'push' in options.capabilities:
        raise ArtefactError('capabilities: Spegel serves pull and resolve only; remove push. Nothing was rendered.')
    warnings = []
    if options.node_ip is not None:
        warnings.append('node_ip %s is not used: Spegel takes each node\'s IP from status.hostIP.' % options.node_ip)
    if len(options.ports) > 1:
        warnings.append('ports: Spegel writes one mirror target; the chart gets the first port, %d.' % options.ports[0])
    if options.dial_timeout not in (None, SPEGEL_DIAL_TIMEOUT):
        warnings.append("dial_timeout: Spegel writes dial_timeout = '%s' itself; %s is not used."
                        % (SPEGEL_DIAL_TIMEOUT, options.dial_timeout))
    if options.server:
        warnings.append('server: Spegel writes the server line itself; the server option is not used.')
    values = dict(values)
    values['spegel'] = dict(values.get('spegel', {}), containerdRegistryConfigPath=options.hosts_dir,
                            mirroredRegistries=_chart_registries(options.registries),
                            resolveTags='resolve' in options.capabilities)
    values['service'] = {'registry': {'nodePort': options.ports[0]}}
    return values, warnings


_READABLE = {
    'kind': 'the cluster config and the node\'s /etc/containerd/config.toml',
    'talos': 'the machine config, readable through the Talos API',
    'k0s': 'a drop-in under /etc/k0s/containerd.d, mode 0644',
    'nodeadm': 'EC2 user data, which anything on the node that reaches the instance metadata service can read',
}


def _chart_registries(registries):
    """spegel.mirroredRegistries: URLs of the named registries; empty (all) for _default."""
    if hosts_names.DEFAULT_REGISTRY in registries:
        return []
    return ['https://%s' % registry for registry in registries]


def _artefact(distribution, files, chart_values, warnings, notes):
    return {'distribution': distribution, 'files': files, 'chart_values': chart_values,
            'warnings': warnings, 'notes': notes}


def _file(name, content, description, mode='0644'):
    return {'name': name, 'content': content, 'mode': mode, 'description': description}


def _yaml_block(text, indent):
    """A YAML literal block scalar of text (which ends with a newline)."""
    pad = ' ' * indent
    return '|\n' + ''.join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


# --- per distribution ---------------------------------------------------------------------

def kind(options):
    """The containerdConfigPatches entry, and a Cluster config that carries it."""
    if options.use_local_image_pull is not None:
        raise ArtefactError('use_local_image_pull: the Kind node image\'s base config is version 2, which has no '
                            'such key; leave containerd_use_local_image_pull unset for Kind. Nothing was rendered.')
    options.hosts_dir = options.hosts_dir or HOSTS_DIR
    containerd = options.containerd or parse_containerd_version(KIND_CONTAINERD)
    # The node image's base config is version 2 on every containerd it ships; a patch of
    # another version would be skipped by kind.
    plan = _config_fragment(options, 'Kind containerdConfigPatches', 2, containerd, [CONTENT_SHARING])
    patch = plan.render()
    values, warnings = _spegel_writes_hosts(options, 'kind', {})
    cluster = ('# kind create cluster --config this-file; merge containerdConfigPatches into your own Cluster\n'
               'apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\ncontainerdConfigPatches:\n  - %s'
               % _yaml_block(patch, 4))
    files = [_file('containerd-config-patch.toml', patch, 'one containerdConfigPatches entry (TOML merge patch)'),
             _file('kind-cluster.yaml', cluster, 'a Kind Cluster config carrying the patch')]
    notes = ['kind applies the patch to /etc/containerd/config.toml of every node (containerd %s) at '
             'cluster creation.' % (containerd,)]
    return _artefact('kind', files, values, warnings + plan.warnings, notes)


def talos(options):
    """The 20-customization.part (machine.files patch, and Talos 1.14's CRICustomizationConfig)."""
    if options.hosts_dir not in (None, TALOS_HOSTS_DIR):
        raise ArtefactError('hosts_dir: Talos sets config_path = %s itself and removes what it did not write '
                            'elsewhere; leave hosts_dir unset (or %s) for Talos. Nothing was rendered.'
                            % (TALOS_HOSTS_DIR, TALOS_HOSTS_DIR))
    options.hosts_dir = TALOS_HOSTS_DIR
    plan = _config_fragment(options, TALOS_PART, 3, options.containerd)
    # Like Talos's own parts, no version line: Talos merges it into its version 3 base.
    plan.editor.remove(['version'])
    part = plan.render().lstrip('\n')
    values, warnings = _spegel_writes_hosts(options, 'talos', {})
    machine_files = ('# talosctl patch machineconfig --patch @this-file (Talos before 1.14; deprecated since)\n'
                     'machine:\n  files:\n    - path: %s\n      op: create\n      permissions: 0o644\n'
                     '      content: %s' % (TALOS_PART, _yaml_block(part, 8)))
    customization = ('# Talos 1.14+: a machine config document; CRI restarts without a reboot\n'
                     'apiVersion: v1alpha1\nkind: CRICustomizationConfig\nname: spegel\ncontent: %s'
                     % _yaml_block(part, 2))
    files = [_file('20-customization.part', part, 'the CRI config fragment'),
             _file('talos-machine-files-patch.yaml', machine_files, 'machine config patch: machine.files'),
             _file('talos-cri-customization.yaml', customization, 'Talos 1.14+ CRICustomizationConfig document')]
    notes = ['Spegel\'s namespace needs the label pod-security.kubernetes.io/enforce=privileged on Talos.',
             'Talos removes directories under %s that it did not generate when its registry config '
             'changes; Spegel writes them again when its pods restart.' % TALOS_HOSTS_DIR]
    return _artefact('talos', files, values, warnings + plan.warnings, notes)


def k0s_dropin(options):
    """The version 3 drop-in for /etc/k0s/containerd.d/ (k0s 1.36+, containerd 2): its text and
    the ConfigPlan that wrote it. Sets options.hosts_dir to the directory it names."""
    if options.containerd is not None and options.containerd.major < 2:
        raise ArtefactError('containerd_version %s: the k0s drop-in is version 3, for k0s 1.36+ (containerd 2); '
                            'k0s before 1.36 merges drop-ins itself. Upgrade k0s, or leave containerd_version '
                            'unset. Nothing was rendered.' % (options.containerd,))
    options.hosts_dir = options.hosts_dir or HOSTS_DIR
    plan = _config_fragment(options, K0S_DROPIN, 3, options.containerd)
    return plan.render(), plan


def k0s(options):
    """The version 3 drop-in for /etc/k0s/containerd.d/ (k0s 1.36+, containerd 2)."""
    dropin, plan = k0s_dropin(options)
    values, warnings = _spegel_writes_hosts(
        options, 'k0s', {'spegel': {'containerdSock': K0S_SOCKET, 'containerdContentPath': K0S_CONTENT}})
    files = [_file('spegel.toml', dropin, 'drop-in for %s' % K0S_DROPIN)]
    notes = ['k0s reloads containerd when the drop-in appears, as long as /etc/k0s/containerd.toml keeps its '
             'first line # k0s_managed=true.']
    return _artefact('k0s', files, values, warnings + plan.warnings, notes)


def nodeconfig(options, config_version):
    """A NodeConfig whose spec.containerd.config holds the containerd keys, in the layout of the
    template nodeadm picks (3 for containerd 2, 2 for 1.x): its text and the ConfigPlan that
    wrote the TOML. Sets options.hosts_dir to the directory it names."""
    options.hosts_dir = options.hosts_dir or HOSTS_DIR
    plan = _config_fragment(options, NODEADM_DROPIN, config_version, options.containerd)
    toml = plan.render()
    text = nodeconfig_text(toml)
    if nodeconfig_toml(text) != toml:
        raise ArtefactError('internal error: the NodeConfig did not read back as intended.')
    return text, plan


def nodeconfig_text(toml):
    """The NodeConfig document with only spec.containerd.config, set to toml."""
    return NODECONFIG_HEADER + 'spec:\n  containerd:\n    config: ' + _yaml_block(toml, 6)


def nodeconfig_toml(text):
    """spec.containerd.config of a NodeConfig that holds nothing else; None for any other text."""
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict) or set(data) != {'apiVersion', 'kind', 'spec'} or \
            (data['apiVersion'], data['kind']) != ('node.eks.aws/v1alpha1', 'NodeConfig'):
        return None
    toml = data['spec'].get('containerd', {}).get('config') if isinstance(data['spec'], dict) else None
    if data['spec'] != {'containerd': {'config': toml}} or not isinstance(toml, str):
        return None
    return toml


def nodeadm(options):
    """EC2 user data for EKS AL2023: a MIME multi-part document with the NodeConfig part."""
    containerd = options.containerd
    document, plan = nodeconfig(options, 2 if containerd is not None and containerd.major < 2 else 3)
    values, warnings = _spegel_writes_hosts(options, 'nodeadm', {})
    user_data = ('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="%s"\n\n--%s\nContent-Type: %s\n\n'
                 '%s\n--%s--\n' % (MIME_BOUNDARY, MIME_BOUNDARY, NODECONFIG_MEDIA_TYPE, document, MIME_BOUNDARY))
    files = [_file('user-data.mime', user_data, 'EC2 user data: MIME multi-part with the NodeConfig part'),
             _file('spegel.yaml', document, 'the NodeConfig alone (a drop-in for %s)' % NODEADM_DROPIN)]
    notes = ['Add the %s part to the node group\'s own user data (the one with spec.cluster): nodeadm merges '
             'every NodeConfig part, its TOML onto the template it writes to /etc/containerd/config.toml.'
             % NODECONFIG_MEDIA_TYPE,
             'A version 3 config selects nodeadm\'s containerd 2 template; on an AMI with containerd 1.x set '
             'containerd_version (1.7) for the version 2 form, or nodeadm refuses the config.']
    return _artefact('nodeadm', files, values, warnings + plan.warnings, notes)


def bottlerocket(options):
    """settings.container-registry.mirrors: one entry per registry, the node's Spegel targets."""
    if options.secret:
        raise ArtefactError(
            'authorization: Bottlerocket writes no header into hosts.toml (its credentials are for the '
            'registries, not for mirrors), so Spegel basic auth cannot be configured there. Leave '
            'mirror_authorization empty for Bottlerocket; nothing was rendered.')
    if options.hosts_dir not in (None, BOTTLEROCKET_HOSTS_DIR):
        raise ArtefactError('hosts_dir: Bottlerocket writes its hosts.toml files under %s only; leave hosts_dir '
                            'unset for Bottlerocket. Nothing was rendered.' % BOTTLEROCKET_HOSTS_DIR)
    if options.use_local_image_pull is not None:
        raise ArtefactError('use_local_image_pull: Bottlerocket has no setting for it; leave it unset. '
                            'Nothing was rendered.')
    urls = options.urls
    if not urls:
        if options.node_ip is None:
            raise ArtefactError(
                'node_ip: Bottlerocket settings are static, so the mirror targets need this node\'s IP now. '
                'Set spegel_node_ip for the host (or mirror_urls), or set the settings at boot from a bootstrap '
                'container as Spegel documents; nothing was rendered.')
        urls = [hosts_names.mirror_url(options.node_ip, port) for port in options.ports]
    if any(hosts_render.dotted_form(url, options.containerd and options.containerd.major) for url in urls):
        raise ArtefactError('node_ip: containerd %s cannot read the table header Bottlerocket writes for an IPv6 '
                            'mirror; use an IPv4 node IP. Nothing was rendered.' % (options.containerd,))
    warnings = []
    if options.capabilities != BOTTLEROCKET_CAPABILITIES:
        warnings.append('capabilities: Bottlerocket writes pull and resolve for every endpoint; %s is not used.'
                        % ', '.join(options.capabilities))
    if options.dial_timeout is not None:
        warnings.append('dial_timeout: Bottlerocket writes none; containerd waits its default connect timeout '
                        'for an endpoint that does not answer.')
    if options.server:
        warnings.append('server: Bottlerocket writes the server line itself; the server option is not used.')
    if urls != sorted(urls):
        warnings.append('Bottlerocket writes the endpoints sorted by URL, so containerd tries %s in that order.'
                        % ', '.join(sorted(urls)))
    for url in urls:
        hosts_render.normalise_host({'url': url, 'capabilities': BOTTLEROCKET_CAPABILITIES})
    mirrors = [{'registry': '*' if r == hosts_names.DEFAULT_REGISTRY else r, 'endpoint': urls}
               for r in options.registries]
    text = ''.join('[[settings.container-registry.mirrors]]\nregistry = %s\nendpoint = [%s]\n\n'
                   % (json.dumps(m['registry']), ', '.join(json.dumps(u) for u in m['endpoint']))
                   for m in mirrors).rstrip('\n') + '\n'
    if tomllib.loads(text) != {'settings': {'container-registry': {'mirrors': mirrors}}}:
        raise ArtefactError('internal error: the Bottlerocket settings did not read back as intended.')
    values = {'spegel': {'containerdMirrorAdd': False, 'containerdRegistryConfigPath': BOTTLEROCKET_HOSTS_DIR,
                         'mirroredRegistries': _chart_registries(options.registries),
                         'resolveTags': 'resolve' in options.capabilities}}
    files = [_file('user-data.toml', text, 'Bottlerocket settings (user data, or apiclient apply)')]
    notes = ['Bottlerocket owns /etc/containerd/certs.d and replaces it whole when the settings change, so '
             'Spegel must not write there (containerdMirrorAdd: false).']
    return _artefact('bottlerocket', files, values, warnings, notes)


def _boot_step_vars():
    """The boot step's layout (roles/mirror/vars/main.yml) and default Python (defaults)."""
    role = COLLECTION / 'roles' / 'mirror'
    variables = yaml.safe_load((role / 'vars' / 'main.yml').read_text())
    variables['mirror_boot_python'] = yaml.safe_load((role / 'defaults' / 'main.yml').read_text())['mirror_boot_python']
    return variables


def _boot_settings(options):
    """The boot step's settings file, as the mirror role's entry point boot writes it."""
    return {
        'hosts_dir': options.hosts_dir, 'registries': options.registries, 'ports': options.ports,
        'urls': options.urls, 'capabilities': options.capabilities, 'dial_timeout': options.role_dial_timeout,
        'server': hosts_names.validate_servers(options.server, options.registries),
        'authorization': '', 'node_ip': options.node_ip or '',
        'containerd_version': str(options.containerd) if options.containerd else '',
    }


def _require_user_data(options, distribution):
    """Refusals shared by the user data artefacts: no secret, and the image's config.toml given."""
    if options.secret:
        raise ArtefactError(
            'authorization: %s can be read back from the instance metadata service by anything on the node '
            'that reaches it, and stays in /var/lib/cloud. Configure basic auth over SSH (the site playbook '
            'writes hosts.toml with mode 0600) or bake it into the image; leave mirror_authorization empty '
            'here. Nothing was rendered.' % _USER_DATA[distribution])
    if options.containerd_config is None:
        raise ArtefactError(
            'containerd_config: the user data replaces the image\'s %s with the changed file, so give that '
            'file\'s text (artefacts_containerd_config in playbooks/artefacts.yml: a copy of it on the '
            'controller, or none when the image has no config.toml). Nothing was rendered.' % CONTAINERD_CONFIG)
    options.hosts_dir = options.hosts_dir or HOSTS_DIR


_USER_DATA = {'cloud-init': 'cloud-init user data', 'user-data-script': 'a user data script'}


def _changed_config(options, containerd):
    """The image's config.toml as the containerd role changes it, for that containerd."""
    plan = ConfigPlan(options.containerd_config, CONTAINERD_CONFIG, containerd=containerd)
    plan.apply(hosts_dir=options.hosts_dir, use_local_image_pull=options.use_local_image_pull)
    if plan.migrated:
        # The role moves them into hosts.toml files; user data has no such step.
        raise ArtefactError(
            '%s: the image\'s file holds legacy registry mirrors or configs.<host>.tls (%s), which containerd '
            'ignores once config_path is set. Move them into hosts.toml files in the image (or run the site '
            'playbook over SSH, which does), and give the file without them. Nothing was rendered.'
            % (CONTAINERD_CONFIG, ', '.join(item['registry'] for item in plan.migrated)))
    return plan


def _boot_step_files(options):
    """[(path, bytes)] of the image bake's boot step, as the mirror role's entry point boot
    installs it: the renderer's package, its settings and its unit (all root:root 0644)."""
    settings = check_settings(_boot_settings(options))
    boot = _boot_step_vars()
    package = posixpath.join(boot['mirror_boot_lib'], boot['mirror_boot_package'])
    unit = Environment(undefined=StrictUndefined, keep_trailing_newline=True).from_string(
        (COLLECTION / 'roles' / 'mirror' / 'templates' / 'peerpull-spegel-hosts.service.j2').read_text()
    ).render(dict(boot, ansible_managed='Written from peerpull.spegel user data'))
    written = [(posixpath.join(package, source), (COLLECTION / 'plugins' / source).read_bytes())
               for source in boot['mirror_boot_sources']]
    # As the bake writes it (to_nice_json).
    written += [(boot['mirror_boot_settings'], (json.dumps(settings, indent=4, sort_keys=True) + '\n').encode()),
                (boot['mirror_boot_unit_file'], unit.encode())]
    return boot, written


def _user_data_chart_values(options):
    return {'spegel': {'containerdMirrorAdd': False, 'containerdRegistryConfigPath': options.hosts_dir,
                       'mirroredRegistries': _chart_registries(options.registries),
                       'resolveTags': 'resolve' in options.capabilities}}


def cloud_init(options):
    """#cloud-config user data: the boot step, its settings and unit, and the changed config.toml."""
    _require_user_data(options, 'cloud-init')
    plan = _changed_config(options, options.containerd)
    boot, written = _boot_step_files(options)
    written.append((CONTAINERD_CONFIG, plan.render().encode()))
    document = {
        # Bytes as they are (base64), root:root 0644 as the bake installs them.
        'write_files': [{'path': path, 'encoding': 'b64', 'content': base64.b64encode(content).decode(),
                         'owner': 'root:root', 'permissions': '0644'} for path, content in written],
        # write_files runs while containerd may already start: load the new config.toml now;
        # later boots run the enabled step before containerd.
        'runcmd': [['systemctl', 'daemon-reload'],
                   ['systemctl', 'enable', '--now', boot['mirror_boot_unit']],
                   ['systemctl', 'try-restart', 'containerd.service']],
    }
    text = '#cloud-config\n' + yaml.safe_dump(document, sort_keys=False, width=1000)
    files = [_file('user-data.yaml', text, 'cloud-init user data (#cloud-config)')]
    notes = ['The boot step needs %s on the image; it finds the node IP at every boot with the roles\' rules '
             'unless spegel_node_ip is set.' % boot['mirror_boot_python'],
             'Merge the write_files and runcmd entries into your own user data (cloud-init takes one '
             '#cloud-config document, or a MIME multi-part).']
    return _artefact('cloud-init', files, _user_data_chart_values(options), plan.warnings, notes)


# The containerd versions the config.toml edits depend on (ContainerdVersion's properties):
# (label, sh case pattern of `containerd --version`'s third word without its v, representative).
CONTAINERD_CLASSES = (
    ('1.x', '1.*', ContainerdVersion(1, 7, 0)),
    ('2.0-2.2', '2.[012]|2.[012].*', ContainerdVersion(2, 0, 0)),
    ('2.3.0-2.3.4', '2.3.[0-4]|2.3.[0-4][!0-9]*', ContainerdVersion(2, 3, 0)),
    ('2.3.5+', '2.*', ContainerdVersion(2, 3, 5)),
)
SCRIPT_TAG = 'peerpull-spegel user data'


def _containerd_class(version):
    return next(label for label, _pattern, first in reversed(CONTAINERD_CLASSES)
                if (version.major, version.minor, version.patch) >= tuple(first) or label == '1.x')


def _sh_quote(text):
    return "'%s'" % text.replace("'", "'\"'\"'")


def _sh_put(path, content, mode='0644'):
    """sh lines that write content (bytes of UTF-8 text) to path through put(): a here-document
    when it ends with a newline, else printf of a quoted string."""
    text = content.decode('utf-8')
    if not text.endswith('\n'):
        return 'printf %%s %s | put %s %s\n' % (_sh_quote(text), _sh_quote(path), mode)
    lines = set(text.splitlines())
    delimiter = next(d for d in ('PEERPULL_SPEGEL_EOF_%d' % n for n in range(1000)) if d not in lines)
    return "put %s %s <<'%s'\n%s%s\n" % (_sh_quote(path), mode, delimiter, text, delimiter)


def _sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def user_data_script(options):
    """A #!/bin/sh user data script: the boot step's files, and the image's config.toml changed
    for the containerd it finds on the node (each containerd class rendered here)."""
    _require_user_data(options, 'user-data-script')
    if options.containerd is not None:
        classes = [(_containerd_class(options.containerd), options.containerd)]
    else:
        classes = [(label, first) for label, _pattern, first in CONTAINERD_CLASSES]
    variants, refusals, warnings = {}, {}, []
    for label, containerd in classes:
        try:
            plan = _changed_config(options, containerd)
            text = plan.render()
        except ArtefactError:
            raise
        except SpegelError as exc:
            refusals[label] = str(exc)
            continue
        variants.setdefault(text, []).append(label)
        warnings += [w for w in plan.warnings if w not in warnings]
    if not variants:
        raise ArtefactError('%s Nothing was rendered.' % next(iter(refusals.values())))
    boot, written = _boot_step_files(options)
    script = _render_script(options, boot, written, variants, refusals)
    files = [_file('user-data.sh', script, 'user data script (#!/bin/sh, run once as root)', mode='0755')]
    notes = ['The script runs once as root (cloud-init\'s scripts-user, or any "user data script"); it needs '
             'systemd, sha256sum and %s, writes nothing unless %s is the image\'s file (or already the changed '
             'one) and the node\'s containerd is one it was rendered for (%s), and then restarts containerd once.'
             % (boot['mirror_boot_python'], CONTAINERD_CONFIG,
                ', '.join(label for labels in variants.values() for label in labels)),
             'Later boots run the boot step before containerd; it finds the node IP with the roles\' rules '
             'unless spegel_node_ip is set.']
    return _artefact('user-data-script', files, _user_data_chart_values(options), warnings, notes)


def _render_script(options, boot, written, variants, refusals):
    image = options.containerd_config
    originals = ' '.join(sorted({_sha256(image)} | ({'absent'} if image == '' else set())))
    given = str(options.containerd) if options.containerd else ''
    out = [_SCRIPT_HEAD % {
        'tag': SCRIPT_TAG, 'config': CONTAINERD_CONFIG, 'originals': originals, 'given': given,
        'bin_dirs': ' '.join(BIN_DIRS), 'python': boot['mirror_boot_python'], 'unit': boot['mirror_boot_unit'],
        'image': 'no config.toml' if image == '' else 'a config.toml of sha256 %s' % _sha256(image)}]
    # Which config.toml for which containerd: one case arm per class, refusals included.
    out.append('case $version in\n')
    for label, pattern, _first in CONTAINERD_CLASSES:
        if label in refusals:
            out.append('    %s)\n        fail %s ;;\n' % (pattern, _sh_quote(
                'containerd $version (%s): %s' % (label, refusals[label]))))
            continue
        index = next((n for n, labels in enumerate(variants.values()) if label in labels), None)
        if index is None:
            out.append('    %s)\n        fail "containerd $version (%s): this script was rendered for containerd '
                       '%s only; render it again without containerd_version, or for this version." ;;\n'
                       % (pattern, label, options.containerd))
            continue
        out.append('    %s)\n        variant=%d changed=%s ;;\n' % (pattern, index, _sha256(list(variants)[index])))
    out.append('    *)\n        fail "containerd $version: not a containerd 1.x or 2.x this script knows; '
               'nothing was changed." ;;\nesac\n\n')
    out.append(_SCRIPT_CHECK)
    # The files, written only now that every check passed.
    out.append('\n# The boot step of an image bake (peerpull.spegel.mirror, entry point boot).\n')
    for directory in sorted({posixpath.dirname(path) for path, _content in written + [(CONTAINERD_CONFIG, b'')]}):
        out.append('mkdir -p %s\n' % _sh_quote(directory))
    out += [_sh_put(path, content) for path, content in written]
    out.append('\n# %s as the containerd role changes it, for the containerd found above.\n'
               'if [ "$config" = replace ]; then\n    case $variant in\n' % CONTAINERD_CONFIG)
    for index, text in enumerate(variants):
        out.append('    %d)\n' % index + _sh_put(CONTAINERD_CONFIG, text.encode()) + '        ;;\n')
    out.append('    esac\nfi\n')
    out.append(_SCRIPT_TAIL)
    return ''.join(out)


_SCRIPT_HEAD = r"""#!/bin/sh
# %(tag)s: readies this node's containerd for Spegel, once, as root
# (cloud-init runs it at the first boot). Rendered by peerpull.spegel.node_artefact
# (user-data-script) for an image with %(image)s.
#
# It installs the boot step of an image bake (a systemd oneshot that writes the registry
# hosts.toml files from this node's IP at every boot, before containerd), replaces
# %(config)s with the image's file as the containerd role changes it, runs the boot step
# and restarts containerd. It changes nothing unless every check passes first: root,
# systemd, %(python)s, a containerd it was rendered for, and %(config)s the
# image's file (or the changed one: running it again changes nothing).
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022

CONFIG=%(config)s
ORIGINALS='%(originals)s'
GIVEN_VERSION='%(given)s'
UNIT=%(unit)s
changes=''

say() {
    printf '%(tag)s: %%s\n' "$*" >&2
}

fail() {
    say "$*"
    exit 1
}

# put FILE MODE: standard input into FILE (a temporary file beside it, then a rename), only
# when it differs.
put() {
    tmp="$1.peerpull-new.$$"
    cat > "$tmp"
    chmod "$2" "$tmp"
    if cmp -s "$tmp" "$1" 2>/dev/null; then
        rm -f "$tmp"
    else
        mv -f "$tmp" "$1"
        changes="$changes $1"
    fi
}

[ "$(id -u)" = 0 ] || fail "run it as root (cloud-init runs user data scripts as root); nothing was changed."
[ -d /run/systemd/system ] || fail "systemd is not running; the boot step is a systemd unit. Nothing was changed."
[ -x %(python)s ] || fail "the boot step runs %(python)s, which this node lacks; install python3. Nothing was changed."
command -v sha256sum >/dev/null 2>&1 || fail "sha256sum is missing (coreutils); nothing was changed."

# The node's containerd, found as the boot step finds it.
version=''
for dir in %(bin_dirs)s; do
    if [ -x "$dir/containerd" ]; then
        version=$("$dir/containerd" --version 2>/dev/null | awk '{ print $3 }') || version=''
        break
    fi
done
version=${version#v}
if [ -z "$version" ]; then
    [ -n "$GIVEN_VERSION" ] || fail "no containerd found in %(bin_dirs)s, so the layout of $CONFIG" \
        "is unknown; install containerd first, or render the script with containerd_version. Nothing was changed."
    version=$GIVEN_VERSION
fi

"""

_SCRIPT_CHECK = r"""# The node's config.toml must be the image's (or already the changed one).
if [ -e "$CONFIG" ]; then
    current=$(sha256sum < "$CONFIG" | awk '{ print $1 }')
else
    current=absent
fi
if [ "$current" = "$changed" ]; then
    config=keep
else
    config=''
    for original in $ORIGINALS; do
        if [ "$current" = "$original" ]; then
            config=replace
        fi
    done
    [ -n "$config" ] || fail "$CONFIG (sha256 $current) is not the file this script was rendered for;" \
        "render it again from this node's file (artefacts_containerd_config). Nothing was changed."
fi
"""

_SCRIPT_TAIL = r"""
systemctl daemon-reload
systemctl enable "$UNIT"
# Write the hosts.toml files now, from this node's IP; later boots run it before containerd.
boot_step=0
systemctl restart "$UNIT" || boot_step=$?
if [ "$config" = replace ]; then
    systemctl try-restart containerd.service
fi
say "containerd $version; changed:${changes:- nothing}"
[ "$boot_step" -eq 0 ] || fail "the boot step failed: journalctl -u $UNIT says why."
"""


# The distributions no node kind stands for. The node kinds' artefacts (k0s, nodeadm, k3s, rke2)
# are their adapters' artefact(), reached through _kinds only: one way to each name.
RENDERERS = {'kind': kind, 'talos': talos, 'bottlerocket': bottlerocket, 'cloud-init': cloud_init,
             'user-data-script': user_data_script}


def _kinds():
    # Imported when called: _kinds imports every adapter, and some adapters import this module.
    from ansible_collections.peerpull.spegel.plugins.plugin_utils import _kinds as kinds
    return kinds


def distributions():
    """Every name node_artefact takes (the filter's choices): the renderers' and the node kinds'."""
    return sorted(set(RENDERERS) | set(_kinds().with_artefact()))


def node_artefact(distribution, kind_options=None, **options):
    """{distribution, files: [{name, content, mode, description}], chart_values, warnings, notes}.
    kind_options: the node kind's adapter options (node_config's kind_options), such as k3s's role."""
    name = str(distribution or '').strip().lower()
    kinds = _kinds()
    if name not in distributions():
        raise ArtefactError('distribution %r has no artefact; use one of %s. Nothing was rendered.'
                            % (distribution, ', '.join(distributions())))
    if kind_options is not None and not isinstance(kind_options, dict):
        raise ArtefactError('kind_options must be a mapping such as {role: server}, not a %s. Nothing was rendered.'
                            % type(kind_options).__name__)
    if name in RENDERERS:
        if kind_options:
            with_options = [kind for kind in kinds.with_artefact() if kinds.KINDS[kind].OPTIONS]
            raise ArtefactError('kind_options: the %s artefact takes none (only %s do); leave it unset. Nothing was '
                                'rendered.' % (name, ', '.join(with_options)))
        return RENDERERS[name](Options(**options))
    adapter = kinds.configured(kinds.KINDS[name], kind_options, 'Nothing was rendered.')
    return adapter.artefact(Options(**options))
