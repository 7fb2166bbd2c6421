#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: containerd_config
short_description: Make containerd's config.toml ready for Spegel
version_added: 0.1.0
description:
  - Sets the registry hosts directory (C(config_path)) to ONE directory and
    C(discard_unpacked_layers = false), in the keys of the layout the file declares
    (C(version) 1, 2, 3 or 4) for the containerd version on the node, keeping every
    comment and the layout of everything else.
  - "Layouts: version 1 (no version line) C(plugins.cri.registry) and
    C(plugins.cri.containerd); version 2 C(plugins.\"io.containerd.grpc.v1.cri\".registry) and
    C(.containerd); versions 3 and 4 C(plugins.\"io.containerd.cri.v1.images\".registry) and
    C(plugins.\"io.containerd.cri.v1.images\"). On containerd 2.x a version 2 file is kept as it
    is (containerd migrates it when it loads it)."
  - A missing or empty file, or a file without a version line that names no plugin (Docker's
    C(containerd.io) file), gets an explicit C(version) line that fits the containerd
    version (2 on 1.x, 3 on 2.0 to 2.2, 4 on 2.3 and later).
  - A colon-separated C(config_path) is replaced by one directory, because containerd 2.1
    and later pull through the transfer service, which ignores hosts.toml files under such
    a list. The replaced value is returned.
  - Legacy C(registry.mirrors) and C(registry.configs.<host>.tls) move into
    C(<hosts_dir>/<registry>/hosts.toml) files (written with the same staged, validated
    write as config.toml) and leave config.toml, because containerd drops the CRI plugin
    when they are set together with C(config_path). C(registry.configs.<host>.auth) stays in
    config.toml, where containerd still uses it next to C(config_path) (a static hosts.toml
    header could not do the registry's token exchange).
  - "C(imports) drop-ins are read and merged the way containerd does (1.x: a drop-in that
    names a plugin replaces that plugin's whole table; 2.x: tables are merged, 2.0 to 2.2
    migrating the merged result, 2.3 and later each file before it merges). Drop-ins that
    set what this module manages are returned in RV(overriding_imports). When a drop-in
    overrides a managed setting with a different value, the task fails naming the drop-in and
    key: this module never edits drop-ins (other tools own and regenerate them) and never
    fixes the main file with a drop-in (on containerd 1.x it would wipe the CRI table)."
  - The edit runs on the controller with C(tomlkit); the new text is re-parsed and must hold
    exactly the intended data. Where containerd is installed on the node, the new file is
    validated with C(containerd --config <new file> config dump) before it replaces the old
    one, and the effective settings are read from that dump. A dump that contradicts what
    this module sets (an import it does not follow, a containerd quirk) fails the task
    before anything is written.
  - Reports whether the running containerd predates the current config.toml or a drop-in
    (RV(restart_pending)), such as a change an earlier run wrote but never restarted for,
    or a hand edit. Both times come from the node's clock (see RV(containerd_service)).
  - On bad input (invalid TOML, an unreadable file, an unknown layout, a value of the wrong
    type) the task fails naming the file and the line or key, and the file is left byte for
    byte as it was.
author:
  - peerpull.spegel maintainers (@peerpull)
requirements:
  - tomlkit >= 0.13 on the controller
extends_documentation_fragment:
  - peerpull.spegel._node_files
  - peerpull.spegel._reuse_read
attributes:
  action:
    description: Runs on the controller, which computes the files; the node only reads, validates and writes them.
    support: full
  check_mode:
    description: Reports what would change, with diffs, and writes nothing.
    support: full
    details: Predicts every return value from the files; nothing is written, not even the copy
      of the original file.
  diff_mode:
    description: Shows the changes to each file.
    support: full
    details: Shows config.toml and the hosts.toml files; registry credentials, credential
      headers (C(Authorization), C(X-Api-Key), C(Cookie)...) in any TOML form and the
      C(user:password@) of URLs are masked.
  platform:
    description: Target operating systems.
    support: full
    platforms: posix
options:
  path:
    description: containerd's main config file, an absolute path.
    type: path
    default: /etc/containerd/config.toml
  hosts_dir:
    description:
      - The registry hosts directory, written as C(config_path). One absolute directory,
        never a colon-separated list.
    type: path
    default: /etc/containerd/certs.d
  containerd_version:
    description:
      - The containerd version the config is for, such as V(1.7.24) or V(2.1.9).
      - Unset, it is read from C(containerd --version) on the node. Needed when containerd
        is not installed yet and the file does not declare its layout.
    type: str
  use_local_image_pull:
    description:
      - Set C(use_local_image_pull) in the images plugin (config version 3 and 4, containerd
        2.x), making CRI pull without the transfer service.
      - Unset leaves the file as it is. Setting it on a version 1 or 2 file is an error.
    type: bool
  enable_cri:
    description:
      - When C(disabled_plugins) turns the CRI plugin off (V(cri), V(io.containerd.grpc.v1.cri),
        V(io.containerd.cri.v1.images) or V(io.containerd.cri.v1.runtime)), remove it from the
        list. When V(false), such a file is an error.
    type: bool
    default: false
  migrate_mirrors:
    description:
      - Move legacy C(registry.mirrors) and C(registry.configs.<host>.tls) into hosts.toml
        files. When V(false), a file that has them is an error.
      - The V(*) mirror moves to C(_default). What containerd could never use (see RV(dropped_mirrors))
        leaves with the mirrors table, with a warning; it never fails the task.
    type: bool
    default: true
  extra_settings:
    description:
      - Further settings a distribution needs, applied by the same engine. Keys this module
        manages (C(config_path), C(discard_unpacked_layers), mirrors, configs,
        C(use_local_image_pull), C(version), C(disabled_plugins)) cannot be given here.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description: The key as a list of segments from the top of the file.
        type: list
        elements: str
        required: true
      value:
        description: The value to set (any TOML value). Required unless O(extra_settings[].state=absent).
        type: raw
      state:
        description: V(present) sets the key, V(absent) removes it.
        type: str
        choices: [present, absent]
        default: present
  backup:
    description: Keep a timestamped copy of the previous config.toml next to it.
    type: bool
    default: false
  keep_original:
    description:
      - Before the first change this collection ever makes to the file, copy it to
        C(<path>.peerpull-orig) (unless that file exists), so an uninstall can restore it
        byte for byte.
      - When there is no file, the one this module creates is marked by C(<path>.peerpull-created)
        instead, so an uninstall can remove it (RV(created)).
      - The copy or the marker is written in the same staged write as the file.
    type: bool
    default: true
  validate:
    description:
      - Where containerd is installed on the node, validate the new file with
        C(containerd --config <new file> config dump) before it replaces the old one, and
        report the effective settings from that dump.
    type: bool
    default: true
  service_name:
    description:
      - The systemd unit that runs containerd, asked when it last started for
        RV(restart_pending).
    type: str
    default: containerd
  node_kind:
    description:
      - What kind of node this is. With V(auto) the node is told from the marks its
        distribution leaves (C(/usr/local/bin/k3s), C(/etc/rancher/rke2), nodeadm's
        C(/etc/eks/nodeadm.d), C(/etc/k0s/containerd.toml), ...), read in the same round trip
        as the config file. Where the marks show a kind that generates its own containerd config,
        the task fails, changing nothing, and names the kind, the mark found and the fix.
      - V(containerd) patches O(path) whatever the marks say (a warning names them). Any other
        registered kind is refused here, since those nodes are configured by
        M(peerpull.spegel.node_config).
    type: str
    default: auto
  cri_address:
    description:
      - A containerd socket to ask once, in the same round trip as the files, whether containerd
        answers with its CRI plugin loaded; the answer is RV(cri). The verify playbook's check.
        Unset, nothing is asked.
    type: path
  hosts_options:
    description:
      - Options of M(peerpull.spegel.containerd_hosts). Given, the task also does that module's
        work on the hosts.toml files, in this task's own round trips. It plans what that module
        would change with them from the files read with the config, and returns it as
        RV(hosts_plan); in check mode that is all. The playbook C(site) uses this to find, with
        one round trip per node, the nodes whose hosts.toml files must change.
      - Outside check mode the planned hosts.toml changes are written in the config's write round
        trip (each locked on the content read, as the config is), with no restart for them, and
        RV(hosts_plan.written) says so. Nothing of them is written when the config write fails.
      - They are left to M(peerpull.spegel.containerd_hosts) (RV(hosts_plan.written=false), with
        RV(hosts_plan.not_written) saying why) when this task's config change moves legacy mirrors
        into hosts.toml files (the plan is of the node as read, before that), and with
        C(state=absent) or C(probe=true).
      - Options that module would refuse, a hosts.toml file it could not plan, and a C(hosts_dir)
        other than O(hosts_dir) (containerd would never read the files) fail this task before
        anything changes.
    type: dict
notes:
  - containerd must be restarted for a config.toml change to take effect
    (RV(restart_required)); hosts.toml changes need no restart.
  - A file changed by someone else between the read and the write is not overwritten; the
    task fails and can be run again.
  - When O(path) is a symbolic link, the file behind it is edited and C(<path>.peerpull-orig)
    is a plain copy next to the link; the role's C(uninstall) copies it back through the link
    (O(ansible.builtin.copy#module:follow=true)), so the link stays a link.
  - Nested C(imports) inside drop-ins are not followed.
  - Files larger than 4 MiB (the file, its drop-ins, the C(hosts.toml) files it merges into) are refused
    on the node, before their content is sent to the controller; the message names the file, its size
    and the limit.
  - containerd 1.6 resolves relative C(imports) against its working directory, 1.7 and later
    against the config file's directory; this module resolves them as 1.7 does.
seealso:
  - module: peerpull.spegel.toml_file
  - module: peerpull.spegel.containerd_hosts
"""

EXAMPLES = r"""
- name: Make containerd ready for Spegel
  peerpull.spegel.containerd_config:
  register: containerd_config
  notify: Restart containerd

- name: Docker's containerd.io package disables CRI; turn it back on
  peerpull.spegel.containerd_config:
    enable_cri: true

- name: Prepare a config before containerd 2.1 is installed (image bake)
  peerpull.spegel.containerd_config:
    containerd_version: 2.1.9
    use_local_image_pull: true

- name: Check, in one round trip, what both containerd_config and containerd_hosts would change
  peerpull.spegel.containerd_config:
    hosts_options:
      registries: [_default]
      ports: [30020]
  check_mode: true
  register: planned
  # planned.hosts_plan.changed: whether containerd_hosts would change a hosts.toml

- name: Kind node, with the setting Kind needs
  peerpull.spegel.containerd_config:
    extra_settings:
      - key: [plugins, io.containerd.metadata.v1.bolt, content_sharing_policy]
        value: isolated
"""

RETURN = r"""
hosts_plan:
  description:
    - With O(hosts_options), what M(peerpull.spegel.containerd_hosts) would change with those
      options, as it reports it in check mode (RV(peerpull.spegel.containerd_hosts#module:files),
      RV(peerpull.spegel.containerd_hosts#module:mirrors), ...), without diff or probe.
    - Outside check mode, C(written) (whether the changed files were written in this task's
      write round trip), C(not_written) (why not, when they were left to
      M(peerpull.spegel.containerd_hosts)), and each written file's C(backup_file) with its
      C(backup) option; in diff mode the files' diffs are in this task's diff.
    - C(skipped) and C(skip_reason) when their C(node_kind) writes no hosts.toml.
  returned: when O(hosts_options) is given and the node was read
  type: dict
  sample:
    changed: true
    mirrors: ["http://198.18.0.5:30020"]
    files:
      _default:
        path: /etc/containerd/certs.d/_default/hosts.toml
        changed: true
        reason: listed
    written: true
  contains:
    written:
      description: Whether the changed hosts.toml files were written in this task's write round trip.
      returned: outside check mode, when they change and could be planned
      type: bool
    not_written:
      description: Why they were left to M(peerpull.spegel.containerd_hosts).
      returned: when RV(hosts_plan.written) is false
      type: str
detected_node_kinds:
  description: The node kinds whose marks were found on the node; V(containerd) when none was.
  returned: when the node was read
  type: list
  elements: str
  sample: [containerd]
path:
  description: The config file.
  returned: always
  type: str
  sample: /etc/containerd/config.toml
restart_required:
  description: Whether config.toml changed (or would change in check mode), so containerd must restart.
  returned: success
  type: bool
config_version:
  description: The config layout (C(version)) of the resulting file.
  returned: success
  type: int
  sample: 2
containerd_version:
  description: The containerd version the config was written for; null when unknown.
  returned: success
  type: str
  sample: 1.7.24
config_path:
  description: The effective C(config_path) (see RV(effective_from)).
  returned: success
  type: str
  sample: /etc/containerd/certs.d
discard_unpacked_layers:
  description: The effective C(discard_unpacked_layers) (see RV(effective_from)).
  returned: success
  type: bool
  sample: false
use_local_image_pull:
  description: The effective C(use_local_image_pull); only on containerd 2.x layouts.
  returned: when the layout has it
  type: bool
effective_from:
  description:
    - V(containerd config dump) when the effective settings come from containerd on the node,
      V(files) when they are predicted from the file and its drop-ins (no containerd, check
      mode, or O(validate=false)).
  returned: success
  type: str
replaced_config_path:
  description: The previous C(config_path) when it was another value, such as a colon-separated list.
  returned: success
  type: str
  sample: /etc/containerd/certs.d:/etc/docker/certs.d
dropped_mirrors:
  description:
    - Legacy C(registry.mirrors) entries, or parts of them, that containerd could never use and that
      leave config.toml with the mirrors without a hosts.toml file; each is also a warning.
    - A key that is no registry host (a CIDR such as V(10.96.0.0/12)), an endpoint that is no http(s) URL,
      a mirror without endpoints, and the V(user:password@) of an endpoint (legacy CRI never sent it; the
      endpoint itself moves).
  returned: success
  type: list
  elements: dict
  contains:
    key:
      description: The config.toml key, such as V(plugins."io.containerd.grpc.v1.cri".registry.mirrors."10.96.0.0/12").
      type: str
    reason:
      description: Why containerd could never use it.
      type: str
migrated_registries:
  description: Legacy mirrors and TLS settings moved into hosts.toml files.
  returned: success
  type: list
  elements: dict
  contains:
    registry:
      description: The hosts directory name (V(_default) for the V(*) mirror).
      type: str
    hosts_file:
      description: The hosts.toml file.
      type: str
    hosts:
      description: The host URLs, in the order containerd tries them.
      type: list
      elements: str
hosts_files:
  description: hosts.toml files written (or that would be written in check mode).
  returned: success
  type: list
  elements: str
overriding_imports:
  description: Drop-ins that set, or on containerd 1.x replace, what this module manages.
  returned: success
  type: list
  elements: dict
  contains:
    file:
      description: The drop-in.
      type: str
    key:
      description: The key or table it sets.
      type: str
    value:
      description: The value it sets, for single values.
      type: raw
    effect:
      description: Why it matters, when it is more than setting the key.
      type: str
enabled_cri:
  description: CRI plugin names removed from C(disabled_plugins).
  returned: success
  type: list
  elements: str
reused_read:
  description: Whether the change was planned from the read a check-mode run kept (O(reuse_read)).
  returned: success
  type: bool
backup_file:
  description: The backup of the previous config.toml.
  returned: success
  type: str
original_file:
  description: The copy of the file as it was before this collection first changed it; null when there is none.
  returned: success
  type: str
  sample: /etc/containerd/config.toml.peerpull-orig
created:
  description:
    - Whether this collection created the file (there was none before its first change),
      as the marker C(<path>.peerpull-created) records; in check mode, whether it would.
  returned: success
  type: bool
validated:
  description: Whether containerd on the node validated the new file.
  returned: success
  type: bool
restart_pending:
  description:
    - Whether the running containerd started before config.toml or one of its drop-ins last
      changed, as the node found them before this task (an earlier run that did not restart,
      or a hand edit), so it runs without them. Independent of RV(restart_required).
    - False when containerd is not active, or systemd cannot tell (see RV(containerd_service)).
  returned: success
  type: bool
containerd_service:
  description: The comparison behind RV(restart_pending).
  returned: success
  type: dict
  contains:
    name:
      description: The unit (O(service_name)).
      type: str
    active_state:
      description: systemd's C(ActiveState); null when systemd could not be asked.
      type: str
    started_at:
      description:
        - When containerd's main process started (ISO 8601, UTC), on the clock of the file
          times; null when unknown.
        - systemd's monotonic start time plus the node's current wall-minus-monotonic offset,
          so a clock step after the start (NTP at boot) does not fake a pending restart.
      type: str
    last_change_at:
      description: The latest modification of config.toml and its drop-ins (ISO 8601, UTC).
      type: str
    last_change_file:
      description: The file changed last.
      type: str
    up_to_date:
      description: Whether containerd is active and started after RV(containerd_service.last_change_at).
      type: bool
    restart_pending:
      description: As RV(restart_pending).
      type: bool
    detail:
      description: "The finding in words, such as V(restart pending: /etc/containerd/config.toml changed 41.2s after containerd started)."
      type: str
cri:
  description:
    - Whether containerd answers on the socket with its CRI plugin loaded, asked once, without
      retrying, in the same round trip as the files (C(ctr plugins ls)).
  returned: when O(cri_address) is set
  type: dict
  contains:
    ok:
      description: Whether it does.
      type: bool
    detail:
      description: "The finding in words, naming the socket, such as V(containerd does not answer on /run/containerd/containerd.sock: ...)."
      type: str
"""
