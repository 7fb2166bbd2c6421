#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: containerd_hosts
short_description: Point containerd's registry hosts.toml files at Spegel on the node's own IP
version_added: 0.1.0
description:
  - Writes the C(hosts.toml) of one or more registries in containerd's registry hosts
    directory, in the format Spegel itself writes, so that containerd pulls through the
    Spegel mirror on the node's own IP first.
  - Keeps what the file already holds for that registry. Other C([host]) entries, the
    C(server) line, certificates, client keys and comments stay; the Spegel targets are
    placed first, because containerd tries hosts in file order. Spegel's own init container
    wipes existing entries (Spegel issues 413 and 679); this module does not.
  - An entry whose URL is already in the file as a table is updated in place (its position
    and comments stay; dotted entries, see below, are written afresh), so a second run changes
    nothing.
  - O(state=absent) removes only the entries this task describes (and, with O(prune_stale),
    the stale ones); a file the user had comes back byte for byte with its own mode, a file
    that held nothing else is removed.
  - containerd uses the first of C(<hosts_dir>/<host>_<port>_), C(<hosts_dir>/<host:port>)
    and C(<hosts_dir>/_default) that exists as a directory, so a registry's own directory
    hides C(_default) from it. When O(registries) holds V(_default), every other registry
    directory's C(hosts.toml) under O(hosts_dir) (found in the same read; Spegel's
    C(_backup/) excepted) gets the Spegel targets first too, keeping its C(server) line (or
    its lack of one), its hosts, certificates and comments; RV(files) reports it with
    RV(files.reason=shadowing). O(state=absent) takes them out again.
  - "Mirror URLs with an IPv6 address (V(http://[fd00::5]:30020)) are written for the node's
    containerd version, read in the same round trip (C(containerd --version)) or given as
    O(containerd_version). containerd 1.6 and 1.7 cannot read C([) or C(]) in a table header
    and then ignore the whole file, while containerd 2.x uses only the hosts that have a table
    header. So on 1.x such entries are dotted keys (C('http://[fd00::5]:30020'.capabilities = [...]),
    C('...'.header.Authorization = '...')): in the file's C([host]) table or among its root-level
    C(host.) keys where it has them, else in a C([host]) table of their own with a comment line
    above it; on 2.x, and for every other URL on every version, they are Spegel's
    C([host.'URL']) tables."
  - When the node's containerd major version changed since a file was written (a 1.x file on a
    2.x node, or the other way round), the entries are rewritten into the other form; a second
    run changes nothing.
  - Without a containerd on the node (an image bake) and without O(containerd_version), IPv6
    entries are written as tables, for containerd 2.x, with a warning.
  - A file is refused, named in the message and left as it is, when containerd would not try
    the hosts in the intended order or would ignore the file, as judged by how the node's
    containerd version reads it (unknown - as 2.x does, and as 1.x does where 1.x can read it).
    On 1.x that is a table header of the user's with C([) or C(]) in it, hosts written as inline
    tables (1.x tries those first, in no fixed order), or root-level C(host.) keys or a C([host])
    table that come before the place a new entry must take.
  - All registries of a node are handled in one call, node IP discovery included, with one
    read and at most one write round trip (and one more with O(probe)).
  - Changes to C(hosts.toml) need no containerd restart; RV(restart_required) is always false.
author:
  - peerpull.spegel maintainers (@peerpull)
requirements:
  - tomlkit >= 0.13 on the controller
extends_documentation_fragment:
  - peerpull.spegel._node_files
attributes:
  action:
    description: Runs on the controller, which computes the files; the node only reads and writes them.
    support: full
  check_mode:
    description: Reports what would change, with diffs, and writes nothing.
    support: full
  diff_mode:
    description: Shows the changes to each file.
    support: full
    details: One diff per file; credential header values (C(Authorization), C(X-Api-Key),
      C(Cookie)...) in any TOML form are shown as C('********').
  platform:
    description: Target operating systems.
    support: full
    platforms: posix
options:
  hosts_dir:
    description:
      - containerd's registry hosts directory, the C(config_path) of its CRI registry
        configuration.
    type: path
    default: /etc/containerd/certs.d
  registries:
    description:
      - Registries to write a C(hosts.toml) for, each into C(<hosts_dir>/<registry>/hosts.toml).
      - V(_default) applies to every registry that has no directory of its own (containerd
        1.6.17+ and 1.7+). A directory such as C(docker.io/) shadows C(_default/) for that
        registry, so with V(_default) the C(hosts.toml) of every such directory gets the
        Spegel targets too (see the description).
      - A registry directory without a C(hosts.toml) (Docker-style C(*.crt), C(*.cert),
        C(*.key) files only, or empty) shadows C(_default) just the same; containerd then
        pulls from the registry itself. This module reads files, not directory listings, so
        it cannot see such a directory; the P(peerpull.spegel.mirror#role) role's C(verify)
        entry point reports it. Writing a C(hosts.toml) there would make containerd ignore
        the certificate files, so move them into it (C(ca), C(client)) first.
      - A registry is written as in image names, C(host) or C(host:port) (V(docker.io),
        V(ghcr.io), V(registry.example:5000), V([fd00::9]:5000)). Names that are malformed
        or would leave O(hosts_dir) are refused before anything is read or written.
      - A new file for a named registry gets Spegel's C(server) line
        (V(https://registry-1.docker.io) for V(docker.io), else C(https://<registry>)). A
        file that exists keeps its own C(server) line, or its lack of one (containerd then
        falls back to the registry itself, as before).
    type: list
    elements: str
    default: [_default]
  mirrors:
    description:
      - The mirror URLs to put first, in this order, such as V(http://198.18.0.5:30020).
      - When omitted, built from O(node_ip) and O(ports) as C(http://NODE_IP:PORT), with IPv6
        addresses in brackets.
      - Only C(http) and C(https) URLs with a host, an optional port and an optional path.
      - A host that is an IP address must be one a connection can go to - no unspecified,
        broadcast or multicast address, no zone ID, and V(999.1.1.1) is no address at all;
        V([::ffff:198.18.0.5]) is written as V(198.18.0.5). Loopback is allowed here (a
        registry on the node itself).
    type: list
    elements: str
  node_ip:
    description:
      - The node's own IP, the address Spegel's registry listens on. Never a loopback
        address, which breaks under kube-proxy IPVS, nor a link-local, unspecified, broadcast
        or multicast one, nor one with a zone ID (V(fe80::1%eth0)). An IPv4-mapped IPv6
        address (V(::ffff:198.18.0.5)) is taken as the IPv4 address.
      - V(auto) (or an empty string) discovers it in the same read round trip, see
        M(peerpull.spegel.node_ip) for the rules. Roles pass C(spegel_node_ip) here.
      - Not used when O(mirrors) is given.
    type: str
    default: auto
  ports:
    description:
      - Ports of the mirror targets built from O(node_ip). Spegel's current chart serves on
        V(30020) only; released charts up to 0.7.x also on V(30021) (V([30020, 30021])).
      - Each a port number from 1 to 65535; a boolean is refused (Python counts V(true) as 1).
    type: list
    elements: int
    default: [30020]
  capabilities:
    description:
      - Capabilities of the mirror targets. Drop V(resolve) when Spegel runs with
        C(spegel.resolveTags=false).
    type: list
    elements: str
    choices: [pull, resolve, push]
    default: [pull, resolve]
  dial_timeout:
    description:
      - How long containerd waits for a connection to a mirror before it tries the next host
        (containerd 2.0.7+ and 2.1+; older versions ignore the key).
      - A positive duration as Go reads it (numbers with units C(ns), C(us), C(ms), C(s), C(m),
        C(h), such as V(200ms) or V(1m30s)), at most V(2562047h47m16.854775807s) (about 292
        years). containerd 2.x cannot read a whole C(hosts.toml) with anything else in it and
        then bypasses the mirrors, so anything else is refused.
      - An empty string leaves the key out.
    type: str
    default: 200ms
  server:
    description:
      - "C(server) line per registry, such as V({docker.io: https://registry-1.docker.io}).
        A registry listed here gets exactly this server, replacing the file's."
      - Registries not listed keep the file's C(server) line, or get Spegel's default when
        the file has none. V(_default) takes no server.
    type: dict
  authorization:
    description:
      - Value of an C(Authorization) header sent to the mirrors, written as
        C([host.'URL'.header]), for Spegel's basic auth (C(spegel.basicAuthSecretName)).
      - Either the header value (V(Basic dXNlcjpwYXNz)) or a dict with C(username) and
        C(password), which becomes C(Basic base64(username:password)). A number as
        C(username) or C(password) is taken as its digits; quote a password that starts with
        V(0), which YAML reads as another number.
        Anything else - a list, a number, a dict with other keys - is refused, without showing
        the value.
      - A secret. Never logged, never in results, shown redacted in diffs (also as the dotted
        key C('URL'.header.Authorization) on containerd 1.x).
      - A file gets mode C(0600) while it carries the header. A file that had another mode
        gets a comment line above the first Spegel entry that notes that mode
        (C(# peerpull.spegel) C(mode 0644 before the Authorization header ...)); when the
        header goes (this option unset, or O(state=absent)) the note goes too and the file
        gets that mode back. A file this module created with the header keeps C(0600) until
        it is removed.
    type: raw
  state:
    description:
      - V(present) writes the mirror targets; V(absent) removes them and nothing else.
    type: str
    choices: [present, absent]
    default: present
  backup:
    description: Keep a timestamped copy of each file before it changes or is removed.
    type: bool
    default: false
  containerd_version:
    description:
      - The containerd version the files are for, such as V(1.7.24) or V(2.1.9); only its major
        version counts.
      - Unset, it is read from C(containerd --version) on the node. Set it for an image bake
        whose containerd is not installed yet.
    type: str
  probe:
    description:
      - Also show the files to the node's own containerd and report in RV(probe) whether it would
        try the mirrors first, in order - C(ctr --debug content fetch-object --hosts-dir) (no daemon
        needed) in a private network namespace (C(unshare --net), root), so that nothing is
        contacted. See M(peerpull.spegel.node_files) O(peerpull.spegel.node_files#module:hosts_probe).
      - Judges the files as they are when the task ends (in check mode, as they were), in one
        more round trip. The P(peerpull.spegel.mirror#role) role's C(verify) entry point uses it.
    type: bool
    default: false
  node_kind:
    description:
      - The node's kind, as for M(peerpull.spegel.containerd_config). On a kind whose adapter
        configures the mirrors itself (k3s and RKE2 write C(registries.yaml)) nothing is read or
        written and the task is skipped; V(auto) and every other kind write the files as usual.
    type: str
    default: auto
  prune_stale:
    description:
      - Remove the mirror entries a former IP of this node left behind (an image baked on
        another machine, a node that came back with a new address), in O(state=present) and
        O(state=absent) alike.
      - Only entries that look exactly like the ones this module builds are removed -
        C(http://IP:PORT) with PORT one of O(ports), exactly the O(capabilities) given, and no
        key but C(dial_timeout) and C(header) - and only when IP is none of the node's own
        addresses (RV(node_ip.ips)). Entries with a host name, C(https), a path, another port,
        other capabilities, C(ca), C(client) or any other key are never touched.
      - Only when the targets are built from the node IP; with O(mirrors) nothing is pruned.
      - Turn it off when this node's C(hosts.toml) deliberately lists another node's Spegel
        with the same port and capabilities.
    type: bool
    default: true
notes:
  - Pair with the Spegel Helm value C(spegel.containerdMirrorAdd=false), otherwise Spegel's
    init container moves everything under O(hosts_dir) into C(_backup/).
  - containerd reads C(hosts.toml) only when its CRI registry C(config_path) points at
    O(hosts_dir); M(peerpull.spegel.containerd_config) sets that.
  - A file larger than 4 MiB is refused on the node, before its content is sent to the controller;
    the message names the file, its size and the limit.
  - A C(hosts.toml) that fails to parse is silently ignored by containerd, so every file is
    re-parsed and checked before it is written.
  - A file changed by someone else between the read and the write is not overwritten; the
    task fails and can be run again.
  - A C(server) line replaced through O(server) is not put back by O(state=absent); the
    module keeps no copy of the line it replaced (O(backup) does).
seealso:
  - module: peerpull.spegel.node_ip
  - module: peerpull.spegel.containerd_config
  - name: Spegel node configuration
    description: What Spegel expects of containerd.
    link: https://spegel.dev/docs/getting-started/
"""

EXAMPLES = r"""
- name: Send all registries through Spegel on this node (chart defaults)
  peerpull.spegel.containerd_hosts: {}

- name: Only Docker Hub and GHCR, with the released chart's second target
  peerpull.spegel.containerd_hosts:
    registries: [docker.io, ghcr.io]
    ports: [30020, 30021]

- name: Known node IP, tag resolving off in Spegel
  peerpull.spegel.containerd_hosts:
    node_ip: "{{ spegel_node_ip }}"
    capabilities: [pull]

- name: Spegel with basic auth
  peerpull.spegel.containerd_hosts:
    authorization:
      username: spegel
      password: "{{ vault_spegel_password }}"

- name: Image bake of a containerd 1.7 node with an IPv6 node IP (containerd not installed yet)
  peerpull.spegel.containerd_hosts:
    node_ip: fd00:5e6e::5
    containerd_version: 1.7.24

- name: Ask the node's containerd whether it tries Spegel first (changes nothing)
  peerpull.spegel.containerd_hosts:
    probe: true
  check_mode: true
  register: hosts_check

- name: Keep the targets a former IP of this node left behind (another node's Spegel on purpose)
  peerpull.spegel.containerd_hosts:
    prune_stale: false

- name: Take the Spegel targets out again, leaving the user's entries
  peerpull.spegel.containerd_hosts:
    registries: [docker.io, ghcr.io]
    ports: [30020, 30021]
    state: absent
"""

RETURN = r"""
files:
  description: Per registry, its C(hosts.toml) and whether it changed.
  returned: success
  type: dict
  sample:
    _default:
      path: /etc/containerd/certs.d/_default/hosts.toml
      changed: true
      reason: listed
    docker.io:
      path: /etc/containerd/certs.d/docker.io/hosts.toml
      changed: true
      reason: shadowing
      pruned: ["http://198.18.0.9:30020"]
  contains:
    path:
      description: The file.
      type: str
    changed:
      description: Whether the file was (or in check mode would be) written or removed.
      type: bool
    reason:
      description:
        - V(listed) for a registry of O(registries); V(shadowing) for an existing registry
          directory's C(hosts.toml) that would hide C(_default), keyed by the directory's name.
      type: str
    pruned:
      description: The stale entries removed, see O(prune_stale).
      type: list
      elements: str
      returned: when stale entries were found
    backup_file:
      description: The backup made, with O(backup=true).
      type: str
      returned: when a backup was made
mirrors:
  description: The mirror URLs written (or removed), in file order.
  returned: success
  type: list
  elements: str
  sample: ["http://198.18.0.5:30020"]
node_ip:
  description: The node IP the mirrors were built from and how it was found.
  returned: when O(mirrors) is not given
  type: dict
  contains:
    ip:
      description: The address used.
      type: str
      sample: 198.18.0.5
    ips:
      description: Every node address found, the one used first (both families on dual-stack nodes).
      type: list
      elements: str
      sample: [198.18.0.5, "fd00:5e6e::5"]
    source:
      description: Which rule decided.
      type: str
      sample: kubelet --node-ip in /var/lib/kubelet/kubeadm-flags.env
containerd_version:
  description: The containerd version the files were written for; null when it is unknown.
  returned: success
  type: str
  sample: 1.7.24
dirs_without_hosts_toml:
  description:
    - The registry directories of O(hosts_dir) that hold no C(hosts.toml) (Docker-style
      certificate files, or nothing), as found before this task changed anything. containerd
      takes a registry's own directory over C(_default) all the same, so that registry's pulls
      never reach the mirrors; move its certificates into a C(hosts.toml) (C(ca), C(client))
      or remove it.
    - Looked for, in the same round trip as the files, when O(registries) include C(_default);
      empty otherwise. The P(peerpull.spegel.mirror#role) role's C(verify) entry point reports them.
  returned: success
  type: list
  elements: str
  sample: ["/etc/containerd/certs.d/registry.example_5000_"]
probe:
  description: How the node's containerd reads the files, with O(probe=true).
  returned: when O(probe=true)
  type: dict
  contains:
    skipped:
      description: Why containerd was not asked (no C(ctr), no C(unshare), not root); null when it was.
      type: str
    ctr:
      description: The C(ctr) that was run.
      type: str
    problems:
      description:
        - One sentence, naming the file, per file containerd reports an error for (and then
          ignores) or would not try the mirrors first in, in order. Empty when all is well.
      type: list
      elements: str
    files:
      description: Per registry of RV(files), what containerd made of its file.
      type: dict
      contains:
        path:
          description: The file.
          type: str
        ref:
          description: The image reference resolved, by tag or (without V(resolve) in O(capabilities)) by digest.
          type: str
        hosts:
          description: The host URLs containerd would try, in order, the registry itself last.
          type: list
          elements: str
        problem:
          description: As in RV(probe.problems), or null.
          type: str
restart_required:
  description: Always false; containerd reads C(hosts.toml) on every pull.
  returned: always
  type: bool
  sample: false
skip_reason:
  description:
    - Why no C(hosts.toml) is written on this node kind (its adapter configures the mirrors its own
      way, such as K3s's C(registries.yaml)); the task is then reported skipped.
  returned: when O(node_kind) names such a kind
  type: str
  sample: "node_kind k3s: its adapter configures the mirrors itself (peerpull.spegel.node_config); no hosts.toml is written"
"""
