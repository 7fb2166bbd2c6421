# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: node_artefact
short_description: Spegel's containerd configuration for nodes that are never reached over SSH
version_added: 0.1.0
description:
  - Renders what a distribution's own configuration channel needs so that its containerd works
    with Spegel, from the variables of the P(peerpull.spegel.mirror#role) and
    P(peerpull.spegel.containerd#role) roles. Nothing is read from or written to a node.
  - V(kind) - one C(containerdConfigPatches) entry (version 2, as the node image's base config,
    with C(config_path), C(discard_unpacked_layers = false) and
    C(content_sharing_policy = "isolated"), as Spegel's own end-to-end tests use it) and a
    Kind C(Cluster) config carrying it.
  - V(talos) - the CRI fragment C(/etc/cri/conf.d/20-customization.part) with
    C(discard_unpacked_layers = false), as a C(machine.files) patch and as a Talos 1.14
    C(CRICustomizationConfig) document; the hosts directory is Talos's C(/etc/cri/conf.d/hosts).
  - V(k0s) - a version 3 drop-in for C(/etc/k0s/containerd.d/) (k0s 1.36+, containerd 2), and
    the chart values for k0s's socket and content store.
  - V(cloud-init) - C(#cloud-config) user data that installs the image bake's boot step (the
    files of the P(peerpull.spegel.mirror#role) entry point C(boot) - a systemd oneshot that
    writes the hosts.toml files from the node's IP at every boot, before containerd) with
    C(write_files), writes the image's C(/etc/containerd/config.toml) as the containerd role
    changes it (O(containerd_config)), and enables the step and restarts containerd in
    C(runcmd).
  - V(bottlerocket) - C(settings.container-registry.mirrors) user data (C(*) for C(_default))
    pointing at Spegel on the node's IP; Bottlerocket renders it into hosts.toml files itself.
  - On Kind, Talos and k0s, Spegel's init container writes the hosts.toml files from each
    node's IP, so the hosts options become chart values (RV(_value.chart_values)).
  - An option the artefact cannot carry fails the task with a message that names it and the
    fix; an option it carries differently gives a warning in RV(_value.warnings).
  - Secrets are refused, never written - Kind's cluster config, Talos's machine config, k0s
    drop-ins and cloud-init user data are readable, and Bottlerocket writes no header. Use the
    chart's C(basicAuthSecretName) for Spegel basic auth on Kind, Talos and k0s, and the site
    playbook or an image bake elsewhere.
options:
  _input:
    description: The distribution.
    type: str
    required: true
    choices: [kind, talos, k0s, bottlerocket, cloud-init]
  registries:
    description: The registries to mirror (C(mirror_registries)); C(_default) is every registry.
    type: list
    elements: str
    default: [_default]
  ports:
    description:
      - Spegel's ports on the node (C(mirror_ports)). Kind, Talos and k0s take the first as the
        chart's C(service.registry.nodePort); Bottlerocket gets one endpoint per port.
    type: list
    elements: int
    default: [30020]
  urls:
    description:
      - Full mirror URLs (C(mirror_urls)), instead of O(node_ip) and O(ports). Bottlerocket
        only; on Kind, Talos and k0s Spegel builds the URLs from each node's IP.
    type: list
    elements: str
    default: []
  capabilities:
    description:
      - The mirror targets' capabilities (C(mirror_capabilities)); without C(resolve) the
        chart's C(spegel.resolveTags) is false. Bottlerocket always writes pull and resolve.
    type: list
    elements: str
    default: [pull, resolve]
  dial_timeout:
    description:
      - C(mirror_dial_timeout). Spegel writes C(200ms) itself on Kind, Talos and k0s, and
        Bottlerocket writes none; another value gives a warning.
    type: str
  authorization:
    description:
      - C(mirror_authorization). Refused for every distribution here (see above); leave it
        empty.
    type: raw
  hosts_dir:
    description:
      - The hosts directory, containerd's C(config_path) (C(mirror_hosts_dir)). Unset means the
        distribution's own - C(/etc/containerd/certs.d), or C(/etc/cri/conf.d/hosts) on Talos;
        Talos and Bottlerocket refuse any other.
    type: path
  node_ip:
    description:
      - The node's IP (C(spegel_node_ip)), needed by Bottlerocket unless O(urls) is set. Kind,
        Talos and k0s ignore it (Spegel takes C(status.hostIP)); cloud-init's boot step
        discovers it at every boot when it is unset. C(auto) or empty is unset.
    type: str
  containerd_version:
    description:
      - The node's containerd (C(containerd_version)). Kind defaults to the newest node
        image's, 2.3.4; k0s refuses containerd 1.x; on Bottlerocket a 1.x version refuses IPv6.
    type: str
  use_local_image_pull:
    description:
      - C(containerd_use_local_image_pull). Written into the Talos and k0s fragments when set
        (containerd 2.x) and into cloud-init's config.toml; refused for Kind (its base config is
        version 2) and Bottlerocket.
    type: bool
  server:
    description:
      - C(mirror_server), for cloud-init's boot step. Not used elsewhere - Spegel and
        Bottlerocket write the server line themselves.
    type: dict
  containerd_config:
    description:
      - cloud-init only, and required there - the text of the image's
        C(/etc/containerd/config.toml), which the user data replaces with the changed file (an
        empty string when the image has none; then O(containerd_version) decides the layout).
    type: str
author:
  - peerpull.spegel maintainers (@peerpull)
seealso:
  - module: peerpull.spegel.containerd_config
  - module: peerpull.spegel.containerd_hosts
"""

EXAMPLES = r"""
- name: The Kind containerdConfigPatches entry
  ansible.builtin.debug:
    msg: "{{ ('kind' | peerpull.spegel.node_artefact).files[0].content }}"

- name: Bottlerocket user data for one node, with the NodePort of older charts too
  ansible.builtin.copy:
    content: "{{ artefact.files[0].content }}"
    dest: "/tmp/{{ inventory_hostname }}-user-data.toml"
    mode: "0644"
  vars:
    artefact: "{{ 'bottlerocket' | peerpull.spegel.node_artefact(node_ip=spegel_node_ip, ports=[30020, 30021]) }}"
  delegate_to: localhost

# playbooks/artefacts.yml writes every file and the chart values into a directory.
"""

RETURN = r"""
_value:
  description: The artefact.
  type: dict
  contains:
    distribution:
      description: The distribution, in lower case.
      type: str
      sample: kind
    files:
      description: The files to hand to the distribution, in order.
      type: list
      elements: dict
      contains:
        name:
          description: A file name (no directory).
          type: str
          sample: containerd-config-patch.toml
        content:
          description: The file's text.
          type: str
          sample: |
            version = 2

            [plugins."io.containerd.grpc.v1.cri".registry]
            config_path = "/etc/containerd/certs.d"
        mode:
          description: The mode to write it with.
          type: str
          sample: "0644"
        description:
          description: What the file is for.
          type: str
          sample: one containerdConfigPatches entry (TOML merge patch)
    chart_values:
      description: Values for Spegel's Helm chart that go with the files.
      type: dict
      sample: {spegel: {containerdRegistryConfigPath: /etc/containerd/certs.d, mirroredRegistries: [], resolveTags: true},
               service: {registry: {nodePort: 30020}}}
    warnings:
      description: Options the artefact carries differently from the roles, one sentence each.
      type: list
      elements: str
      sample: ["dial_timeout: Spegel writes dial_timeout = '200ms' itself; 1s is not used."]
    notes:
      description: What the distribution does with the files.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import node_artefact as render
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import TomlEditError


def node_artefact(distribution, **options):
    try:
        return render(distribution, **options)
    except TomlEditError as exc:
        # The messages name options, never a secret's value.
        raise AnsibleFilterError('peerpull.spegel.node_artefact(%s): %s' % (distribution, exc)) from None
    except TypeError as exc:
        raise AnsibleFilterError('peerpull.spegel.node_artefact: %s' % exc) from None


class FilterModule:

    def filters(self):
        return {'node_artefact': node_artefact}
