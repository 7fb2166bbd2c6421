#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: containerd_restart
short_description: Restart containerd, prove it serves CRI again, or put the previous configuration back
version_added: 0.1.0
description:
  - In one round trip, the node restarts the containerd service (C(systemctl restart)), then
    asks C(ctr --address ADDRESS plugins ls) every half second until the CRI plugin
    C(io.containerd.grpc.v1 cri) reports C(ok), for up to O(timeout) seconds. The same line
    proves CRI on containerd 1.x and 2.x.
  - When containerd comes back with CRI, the copy O(previous_config) is removed in that same
    round trip (it only served the rollback).
  - When it does not, the previous configuration goes back (the content of O(previous_config)
    over O(path), or no file at all when O(was_absent=true)), containerd is restarted and
    waited for again, and the task fails with a message that says what broke, what was put
    back and whether containerd runs with CRI again.
  - With O(revert=true) (the C(uninstall) of M(peerpull.spegel.containerd_config)'s changes)
    it first puts back what that module found before its first change (the original it saved
    next to O(path), or no file where it created one), restarts only when that changed
    O(path), and removes the saved original and the marker once containerd runs the original
    again. A failed restart keeps them and puts the collection's configuration back.
  - With O(services) (a node kind other than plain containerd, such as k3s, RKE2 or nodeadm, from
    M(peerpull.spegel.node_config)'s RV(peerpull.spegel.node_config#module:services) and
    RV(peerpull.spegel.node_config#module:cri_address)), it restarts those units in order, then
    asks O(address) the same way. Nothing is put back when CRI does not come back (the kind's
    adapter keeps no previous file), so the task fails naming the units, the socket and what
    C(ctr) said, and the adapter's files stay written. An empty list (k0s, which restarts its
    own containerd when a drop-in changes) restarts nothing and only waits for CRI on O(address);
    that proves the kind's containerd serves CRI, not that it already loaded the change.
  - This is the action the C(peerpull.spegel.containerd) role runs after a change; it follows
    the shape of M(ansible.builtin.reboot).
author:
  - peerpull.spegel maintainers (@peerpull)
extends_documentation_fragment:
  - peerpull.spegel._node_files
attributes:
  action:
    description: Runs on the controller, which decides; the node restarts, waits for CRI and reads and writes files.
    support: full
  check_mode:
    description: Reports what would happen and restarts nothing.
    support: full
    details: Reports C(changed=true) when containerd would be restarted or O(revert=true) would
      put a file back; nothing is written, and RV(restarted) and RV(cri_ready) stay unknown.
  diff_mode:
    description: Shows the file O(revert=true) puts back.
    support: partial
    details: A rollback after a failed restart is reported in RV(msg), not as a diff. Registry
      credentials in the file are masked.
  platform:
    description: Target operating systems.
    support: full
    platforms: posix
options:
  path:
    description: containerd's main configuration file, an absolute path.
    type: path
    default: /etc/containerd/config.toml
  service_name:
    description: The systemd unit that runs containerd.
    type: str
    default: containerd
  address:
    description: containerd's gRPC socket, asked with C(ctr plugins ls).
    type: path
    default: /run/containerd/containerd.sock
  timeout:
    description: Seconds to wait after each restart for containerd to answer with CRI; at least 1.
    type: int
    default: 60
  previous_config:
    description:
      - A copy of the configuration containerd ran with before O(path) changed, such as
        M(peerpull.spegel.containerd_config)'s RV(peerpull.spegel.containerd_config#module:backup_file).
      - Put back over O(path) when containerd does not come back; removed when it does.
      - Unset or empty when the change did not replace an existing file.
    type: path
  was_absent:
    description:
      - O(path) did not exist before the change, so when containerd does not come back,
        O(path) is removed. Not together with O(previous_config).
      - With neither, a restart that fails has nothing to put back (the restart loaded changes
        made before); containerd is restarted once more and the task fails.
    type: bool
    default: false
  revert:
    description:
      - First put back what M(peerpull.spegel.containerd_config) found before its first
        change (O(path) with the suffix C(.peerpull-orig) goes back over O(path); where O(path)
        is marked as created with C(.peerpull-created), it is removed), then restart only if
        that changed O(path). Does nothing where there is neither.
      - Refused, changing nothing, when O(path) was changed since beyond what
        M(peerpull.spegel.containerd_config) sets (its keys in any layout, C(version),
        C(disabled_plugins), and the keys of O(extra_settings)) - putting the original back would
        lose that change. The message names the keys (never their values); comments are not
        compared.
      - Not together with O(previous_config) or O(was_absent).
    type: bool
    default: false
  extra_settings:
    description:
      - With O(revert=true), the O(peerpull.spegel.containerd_config#module:extra_settings) the
        configuration was made with; their keys may differ from the original. Only their C(key)s
        are used.
    type: list
    elements: raw
    default: []
  restart:
    description:
      - V(false) restarts nothing and leaves the restart to the user; with O(revert=true) the
        files are put back and the saved original and marker removed all the same.
    type: bool
    default: true
  services:
    description:
      - The systemd units of a node kind to restart, in this order, before CRI is proven on
        O(address); for kinds other than plain containerd. Left unset, O(service_name) restarts, with the
        rollback of O(path).
      - Not together with O(previous_config), O(was_absent) or O(revert).
    type: list
    elements: str
seealso:
  - module: peerpull.spegel.containerd_config
  - module: ansible.builtin.reboot
"""

EXAMPLES = r"""
- name: Configure containerd for Spegel, keeping a backup for the rollback
  peerpull.spegel.containerd_config:
    backup: true
  register: config

- name: Restart containerd, or put the previous configuration back
  peerpull.spegel.containerd_restart:
    previous_config: "{{ config.backup_file | default(omit, true) }}"
    was_absent: "{{ config.restart_required and not config.backup_file }}"
    timeout: 60
  when: config.restart_required or config.restart_pending

- name: Restart a node kind's units and prove its containerd serves CRI again (no rollback)
  peerpull.spegel.containerd_restart:
    services: "{{ node.services }}"
    address: "{{ node.cri_address }}"
  when: node.restart_required

- name: Put back the configuration found before the first change, and restart for it
  peerpull.spegel.containerd_restart:
    revert: true
"""

RETURN = r"""
restarted:
  description: Whether containerd was restarted (systemd was asked to), at least once.
  returned: always
  type: bool
elapsed:
  description: Seconds from the first restart until CRI answered, or until the task gave up and rolled back.
  returned: always
  type: float
  sample: 1.4
cri_ready:
  description: Whether containerd serves CRI now; null when nothing was restarted.
  returned: always
  type: bool
rolled_back:
  description: Whether containerd did not come back, so the previous configuration went back and containerd was restarted again.
  returned: always
  type: bool
restored:
  description:
    - The file whose content now stands at O(path) because of this task (the saved original
      with O(revert=true), or O(previous_config) after a rollback); null for none.
  returned: always
  type: str
  sample: /etc/containerd/config.toml.peerpull-orig
removed:
  description: Whether O(path) was removed (O(revert=true) where the collection created it, or a rollback with O(was_absent=true)).
  returned: always
  type: bool
path:
  description: O(path).
  returned: always
  type: str
msg:
  description: What happened, in words; on failure what broke, what was put back and whether the node runs with CRI again.
  returned: always
  type: str
  sample: containerd restarted and serves CRI after 1.4s.
"""
