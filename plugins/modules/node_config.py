#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_config
short_description: Ready a node of any registered kind for Spegel, through that kind's adapter
version_added: 0.2.0
description:
  - Applies the adapter of one node kind (plain containerd, and the kinds registered next to it
    in the collection) over SSH. The adapter names the files it needs; they are read in one
    round trip, together with the marks every kind leaves, and the adapter returns the file
    changes it wants. All of them are then written in one staged, all-or-nothing round trip
    (M(peerpull.spegel.node_files)); nothing is written when nothing changes.
  - The settings are the distribution-neutral ones the roles' variables describe (registries,
    ports, mirror targets, capabilities, hosts directory, containerd settings); each adapter
    takes from them what its kind needs.
  - It does not restart anything. RV(restart_required) says whether a change needs RV(services)
    restarted; the C(peerpull.spegel.containerd) role restarts them.
  - For plain containerd, M(peerpull.spegel.containerd_config) does more (containerd's own dump
    of the new file judged before it replaces the old one, the effective settings reported);
    the roles use it there.
author:
  - peerpull.spegel maintainers (@peerpull)
requirements:
  - tomlkit >= 0.13 on the controller
extends_documentation_fragment:
  - peerpull.spegel._node_files
  - peerpull.spegel._reuse_read
attributes:
  action:
    description: Runs on the controller, which plans the files; the node only reads and writes them.
    support: full
  check_mode:
    description: Reports what would change, with diffs, and writes nothing.
    support: full
  diff_mode:
    description: Shows the changes to each file, secrets masked.
    support: full
  platform:
    description: Target operating systems.
    support: full
    platforms: posix
options:
  kind:
    description:
      - The node kind whose adapter to apply, one of the kinds registered for nodes reached over
        SSH (V(containerd), and those added next to it). An unknown kind is refused, naming the kinds.
    type: str
    required: true
  kind_options:
    description:
      - Options of the kind's own adapter, checked against the options it declares; an unknown
        or wrong option is refused, naming the adapter's options. For V(containerd) they are
        M(peerpull.spegel.containerd_config)'s O(peerpull.spegel.containerd_config#module:path),
        C(enable_cri), C(migrate_mirrors), C(extra_settings), C(backup), C(keep_original),
        C(validate) and C(service_name). For V(k3s) and V(rke2) they are C(role) (V(auto), the default,
        where the enabled unit tells, C(k3s)/C(k3s-agent) or C(rke2-server)/C(rke2-agent); V(server);
        V(agent)) and C(config_dir) (where C(config.yaml.d) and C(registries.yaml) are; default
        C(/etc/rancher/k3s) or C(/etc/rancher/rke2)).
    type: dict
    default: {}
  state:
    description:
      - V(present) applies the adapter. V(absent) removes exactly what the adapter adds, and
        leaves everything else byte for byte (the role's C(uninstall)). For V(k0s) and V(nodeadm),
        the drop-in, only while it holds what this collection writes for the same options (a
        changed one is left, with a warning). For V(k3s) and V(rke2), the C(config.yaml.d) drop-in
        (only while it is the collection's), and the C(mirrors) entries of C(registries.yaml) for
        the given O(registries) that are exactly what the adapter writes (the name alone, no
        endpoints or rewrites); an entry the user has filled in is kept, with a warning, and
        C(mirrors:) itself goes when no entry is left under it. For V(containerd) use
        M(peerpull.spegel.containerd_restart) with O(peerpull.spegel.containerd_restart#module:revert=true).
    type: str
    choices: [present, absent]
    default: present
  registries:
    description: Registries to mirror (the mirror role's C(mirror_registries)); unset means V(_default), every registry.
    type: list
    elements: str
  ports:
    description: Spegel's ports on the node (C(mirror_ports)); unset means V(30020).
    type: list
    elements: int
  urls:
    description:
      - Full mirror target URLs (C(mirror_urls)); unset means targets built from O(node_ip) and O(ports).
      - This option and O(capabilities), O(dial_timeout), O(authorization) and O(server) go into
        C(hosts.toml) files. Kinds whose C(hosts.toml) files M(peerpull.spegel.containerd_hosts)
        writes (containerd, k0s, nodeadm) refuse them here, naming the mirror role's variable.
    type: list
    elements: str
  capabilities:
    description: The mirror targets' capabilities (C(mirror_capabilities)); unset means V(pull) and V(resolve).
    type: list
    elements: str
  dial_timeout:
    description: How long containerd waits to connect to a mirror target (C(mirror_dial_timeout)).
    type: str
  authorization:
    description:
      - The C(Authorization) header containerd sends to Spegel, or a dict with C(username) and
        C(password) (C(mirror_authorization)). A secret; never logged or shown.
    type: raw
  hosts_dir:
    description: The registry hosts directory (C(containerd_hosts_dir)); unset leaves it to the adapter.
    type: path
  node_ip:
    description: The node IP the mirror targets use (C(spegel_node_ip)).
    type: str
  containerd_version:
    description: The node's containerd version, when the node cannot be asked.
    type: str
  use_local_image_pull:
    description: containerd 2.1+'s C(use_local_image_pull); unset leaves it as it is.
    type: bool
  server:
    description: The C(server) line per named registry (C(mirror_server)).
    type: dict
  verify:
    description:
      - Also report whether the node runs what the files hold (the verify playbook's checks, in
        check mode). RV(cri) is containerd asked once on RV(cri_address), in the same round trip
        as the reads; RV(loaded) is the start of the kind's systemd unit against the last change
        of the adapter's files, asked in one more round trip.
      - Only with O(state=present).
    type: bool
    default: false
notes:
  - Every write is locked on the content read; a file changed by someone else meanwhile is not
    overwritten, and the task fails, changing nothing.
  - Adding a node kind is one adapter module (C(plugins/plugin_utils/_kind_<name>.py)) registered
    with one line in C(plugins/plugin_utils/_kinds.py).
seealso:
  - module: peerpull.spegel.containerd_config
  - module: peerpull.spegel.node_files
"""

EXAMPLES = r"""
- name: Apply the plain containerd adapter, restarting nothing
  peerpull.spegel.node_config:
    kind: containerd
    hosts_dir: /etc/containerd/certs.d
    kind_options:
      validate: true
  register: node_config_result

- name: Restart what the change needs
  ansible.builtin.systemd_service:
    name: "{{ item }}"
    state: restarted
  loop: "{{ node_config_result.services }}"
  when: node_config_result.restart_required
"""

RETURN = r"""
kind:
  description: The node kind applied.
  returned: success
  type: str
  sample: containerd
detected_node_kinds:
  description: The node kinds whose marks are on the node; V(containerd) when none is.
  returned: success
  type: list
  elements: str
  sample: [containerd]
files:
  description: The files changed (or, in check mode, that would change).
  returned: success
  type: list
  elements: str
  sample: [/etc/containerd/config.toml, /etc/containerd/config.toml.peerpull-orig]
reused_read:
  description: Whether the change was planned from the read a check-mode run kept (O(reuse_read)).
  returned: success
  type: bool
restart_required:
  description: Whether a change takes effect only after RV(services) restart.
  returned: success
  type: bool
services:
  description: The systemd units the kind runs, in the order to restart them.
  returned: success
  type: list
  elements: str
  sample: [containerd]
cri_address:
  description:
    - The socket the kind's containerd serves CRI on, where M(peerpull.spegel.containerd_restart)
      proves it came back after RV(services) restarted.
  returned: success
  type: str
  sample: /run/k3s/containerd/containerd.sock
facts:
  description: What the adapter found and decided, in its own terms (no secrets).
  returned: success
  type: dict
cri:
  description:
    - Whether containerd answers on the socket with its CRI plugin loaded, asked once, without
      retrying, in the same round trip as the files (C(ctr plugins ls)).
  returned: when O(verify=true)
  type: dict
  contains:
    ok:
      description: Whether it does.
      type: bool
    detail:
      description: "The finding in words, naming the socket, such as V(containerd does not answer on /run/containerd/containerd.sock: ...)."
      type: str
loaded:
  description:
    - Whether the running containerd loaded the adapter's files as they are now, as
      M(peerpull.spegel.containerd_config)'s RV(peerpull.spegel.containerd_config#module:containerd_service).
    - The unit is the one whose start loads them (k3s, k3s-agent, rke2-server or rke2-agent; containerd
      for nodeadm, which restarts it after it writes config.toml from its drop-in).
  returned: when O(verify=true)
  type: dict
  contains:
    up_to_date:
      description:
        - Whether the unit is active and started after the files last changed.
        - Null where no unit tells (k0s restarts its containerd itself when a drop-in changes);
          RV(loaded.detail) says so.
      type: bool
    restart_pending:
      description: Whether the unit started before the files last changed.
      type: bool
    detail:
      description: The finding in words, naming the unit and the file changed last.
      type: str
    files:
      description: The adapter's files compared (whether or not they exist).
      type: list
      elements: str
"""
