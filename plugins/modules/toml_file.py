#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: toml_file
short_description: Set or remove one key of a TOML file, keeping its comments and layout
version_added: 0.1.0
description:
  - Sets a key of a TOML file to any TOML value (string, integer, float, boolean, array,
    table) or removes a key or a whole table.
  - Keys are addressed by a B(list of segments), so keys that contain dots, the norm in
    containerd's config (C(io.containerd.grpc.v1.cri)), need no escaping.
  - Every comment, blank line, key order and quoting style of untouched content is kept;
    CRLF line endings stay CRLF.
  - The edit runs on the controller with the Python library C(tomlkit); the node needs
    only the Python that Ansible itself needs. The edited text is re-parsed with an
    independent parser and must hold exactly the intended data before it is written.
  - The file is replaced atomically; the previous content can be kept as a backup.
  - Mode, ownership, C(chattr) attributes, SELinux context and O(unsafe_writes) are
    M(ansible.builtin.copy)'s, applied on the node by ansible-core's own file machinery.
author:
  - peerpull.spegel maintainers (@peerpull)
requirements:
  - tomlkit >= 0.13 on the controller
extends_documentation_fragment:
  - peerpull.spegel._node_files
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Secret-looking values (credential headers such as C(Authorization) or C(X-Api-Key),
      C(password), C(auth), C(identitytoken), and the C(user:password@) of URLs) are shown as C('********').
  platform:
    support: full
    platforms: posix
options:
  path:
    description: The TOML file to edit, an absolute path.
    type: path
    required: true
    aliases: [dest]
  key:
    description:
      - The key as a list of segments, from the top of the document.
      - "For example V([plugins, io.containerd.grpc.v1.cri, registry, config_path])."
    type: list
    elements: str
    required: true
  value:
    description:
      - The value to set. Its YAML type decides the TOML type; a dictionary becomes a table.
      - Required when O(state=present).
    type: raw
  state:
    description: Whether the key should be set (V(present)) or removed (V(absent)).
    type: str
    choices: [present, absent]
    default: present
  create:
    description:
      - Create the file (and its parent directories) when it does not exist.
      - When V(false), a missing file is an error for O(state=present) and nothing to do
        for O(state=absent).
    type: bool
    default: false
  backup:
    description: Keep a timestamped copy of the previous file next to it.
    type: bool
    default: false
  validate:
    description:
      - Command run against the new content before it replaces the file; C(%s) stands for
        the path of a temporary file in the same directory. A non-zero exit leaves the file
        untouched.
      - "For containerd: V(containerd --config %s config dump)."
      - A command without C(%s) is refused before anything is read or written.
    type: str
  mode:
    description:
      - Octal permissions of the file, read as M(ansible.builtin.copy) reads them - a string
        is octal (V('0644'), V('644')); an integer is the mode itself, so the unquoted YAML
        V(0644) (the integer 420) is C(0644), while the unquoted V(644) is the decimal 644
        (C(01204)). Quote modes.
      - Symbolic modes (V(u=rw,g=r,o=r)) are refused.
      - Unset keeps the mode of an existing file, or V('0644') for a new one.
    type: raw
notes:
  - Arrays of tables (C([[...]])) cannot be addressed inside; they can be set or removed whole.
  - A file larger than 4 MiB is refused on the node, before its content is sent to the controller;
    the message names the file, its size and the limit.
  - A file changed by someone else between the read and the write is not overwritten; the
    task fails and can be run again.
  - O(attributes) are compared as C(chattr) applies them, so V(+i) or V(-A) report a change only
    when the file lacks or has that letter (ansible-core compares C(lsattr)'s letters as text, and
    C(ext4)'s V(e) makes V(+i) a change on every run there). Prefer V(+) and V(-), as V(=) asks for
    exactly those letters, and some, such as C(ext4)'s V(e), cannot be cleared. A letter C(chattr)
    does not take fails the task naming the file and C(chattr)'s error, with the file as it was.
  - An immutable file (V(+i)) can be made mutable with O(attributes=-i) when its content does not
    change; a change of content to a file that is still immutable fails naming the file and the fix.
  - The SELinux options take effect only on nodes where SELinux is enabled and Python's C(selinux)
    bindings are installed; elsewhere they are ignored, as ansible-core ignores them. This
    collection's tests run on hosts without SELinux.
  - O(unsafe_writes=false) leaves it to the node's E(ANSIBLE_UNSAFE_WRITES).
seealso:
  - module: peerpull.spegel.containerd_config
  - module: community.general.ini_file
"""

EXAMPLES = r"""
- name: Point containerd at the registry hosts directory
  peerpull.spegel.toml_file:
    path: /etc/containerd/config.toml
    key: [plugins, io.containerd.grpc.v1.cri, registry, config_path]
    value: /etc/containerd/certs.d
    backup: true
    validate: containerd --config %s config dump

- name: Keep unpacked layers so Spegel can serve them
  peerpull.spegel.toml_file:
    path: /etc/containerd/config.toml
    key: [plugins, io.containerd.grpc.v1.cri, containerd, discard_unpacked_layers]
    value: false

- name: Set a whole table
  peerpull.spegel.toml_file:
    path: /etc/example/settings.toml
    key: [server]
    value:
      listen: 0.0.0.0:8080
      workers: 4
      tls: {enabled: false}
    create: true
    mode: '0640'

- name: Set a key in a bind-mounted file, which no rename can replace
  peerpull.spegel.toml_file:
    path: /etc/example/settings.toml
    key: [server, workers]
    value: 8
    unsafe_writes: true

- name: Make the file immutable once it is right (a later change of its content fails until -i)
  peerpull.spegel.toml_file:
    path: /etc/example/settings.toml
    key: [server, workers]
    value: 8
    attributes: +i

- name: Remove the legacy mirrors table
  peerpull.spegel.toml_file:
    path: /etc/containerd/config.toml
    key: [plugins, io.containerd.grpc.v1.cri, registry, mirrors]
    state: absent
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
  sample: /etc/containerd/config.toml
key:
  description: The key, written as TOML writes it.
  returned: always
  type: str
  sample: plugins."io.containerd.grpc.v1.cri".registry.config_path
backup_file:
  description: The backup of the previous file.
  returned: when O(backup=true) and the content changed (a change of mode, owner or attributes alone keeps no copy)
  type: str
  sample: /etc/containerd/config.toml.12345.2026-11-21@22:00:00~
"""
